import { Hono } from "hono";

/**
 * The web console: one page and one script, talking to the REST API with a key the user pastes.
 * The key stays in this tab (sessionStorage). A strict CSP allows only this origin's script, and
 * artifacts are never rendered inside the page: downloads go through signed URLs.
 */

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chuk-artifacts</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
  table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
  .muted { color: #666; } .error { color: #b00; } [hidden] { display: none; }
</style>
</head>
<body>
<h1>chuk-artifacts</h1>
<form id="login">
  <label>API key <input id="key" type="password" autocomplete="off" size="50" required></label>
  <button>Connect</button>
</form>
<section id="main" hidden>
  <p>Signed in as <b id="user"></b> · session <code id="session"></code> · <a href="#" id="logout">forget key</a></p>
  <form id="upload"><input id="file" type="file" required> <button>Upload</button></form>
  <table><thead><tr><th>File</th><th>Bytes</th><th>Type</th><th>Stored</th><th></th></tr></thead>
  <tbody id="rows"></tbody></table>
  <button id="more" hidden>More</button>
</section>
<p id="status" class="muted" role="status"></p>
<script type="module" src="{{SCRIPT}}"></script>
</body>
</html>
`;

const SCRIPT = `const $ = (id) => document.getElementById(id);
// The API lives beside this script, wherever the handler is mounted.
const base = new URL(".", import.meta.url).href.replace(/\\/$/, "");
let key = sessionStorage.getItem("chuk-artifacts-key");
let cursor = null;

function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "muted";
}

async function api(method, path, body) {
  const res = await fetch(base + "/v1" + path, {
    method,
    headers: { authorization: "Bearer " + key, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (res.status === 204) return null;
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ? data.error.code + ": " + data.error.message : res.statusText);
  return data;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function button(label, action) {
  const b = document.createElement("button");
  b.textContent = label;
  b.addEventListener("click", () => action().catch((e) => say(e.message, true)));
  return b;
}

function row(m) {
  const tr = document.createElement("tr");
  tr.dataset.id = m.artifactId;
  tr.append(cell(m.filename || m.artifactId), cell(String(m.bytes)), cell(m.mime), cell(new Date(m.storedAt).toLocaleString()));
  const actions = document.createElement("td");
  actions.append(
    button("Download", async () => {
      const { url } = await api("POST", "/artifacts/" + m.artifactId + "/presign", { expires: 300 });
      const a = document.createElement("a");
      a.href = url;
      a.download = (m.filename || m.artifactId).split("/").pop();
      a.rel = "noopener";
      a.click();
    }),
    button("Delete", async () => {
      await api("DELETE", "/artifacts/" + m.artifactId);
      tr.remove();
      say("Deleted " + (m.filename || m.artifactId));
    }),
  );
  tr.append(actions);
  return tr;
}

async function list(reset) {
  if (reset) { $("rows").replaceChildren(); cursor = null; }
  const page = await api("GET", "/artifacts?limit=50" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
  for (const m of page.items) $("rows").append(row(m));
  cursor = page.cursor;
  $("more").hidden = !cursor;
  say(page.items.length || !reset ? "" : "No artifacts yet: upload one.");
}

async function connect() {
  const me = await api("GET", "/whoami");
  sessionStorage.setItem("chuk-artifacts-key", key);
  $("user").textContent = me.userId + (me.admin ? " (admin)" : "");
  $("session").textContent = me.sessionId;
  $("login").hidden = true;
  $("main").hidden = false;
  await list(true);
}

// Upload through a presigned URL: reserve, PUT the bytes, register.
async function upload(file) {
  say("Uploading " + file.name + " …");
  const mimeType = file.type || "application/octet-stream";
  const slot = await api("POST", "/uploads", { filename: file.name, mimeType, maxBytes: file.size });
  const put = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: file });
  if (!put.ok) throw new Error("upload failed: HTTP " + put.status);
  await api("POST", "/uploads/" + slot.artifactId + "/register", { summary: "uploaded from the console" });
  await list(true);
  say("Uploaded " + file.name);
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  key = $("key").value.trim();
  connect().catch((err) => say(err.message, true));
});
$("logout").addEventListener("click", (e) => {
  e.preventDefault();
  sessionStorage.removeItem("chuk-artifacts-key");
  location.reload();
});
$("upload").addEventListener("submit", (e) => {
  e.preventDefault();
  const file = $("file").files[0];
  if (file) upload(file).then(() => { $("file").value = ""; }, (err) => say(err.message, true));
});
$("more").addEventListener("click", () => list(false).catch((err) => say(err.message, true)));
if (key) connect().catch(() => { sessionStorage.removeItem("chuk-artifacts-key"); key = null; });
`;

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src *; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export function consoleRoutes(): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    // Absolute, so the page works at "/" and under a mount prefix ("/artifacts") alike.
    const page = PAGE.replace("{{SCRIPT}}", `${c.req.path.replace(/\/$/, "")}/console.js`);
    return c.body(page, 200, { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8" });
  });
  app.get("/console.js", (c) =>
    c.body(SCRIPT, 200, { ...SECURITY_HEADERS, "content-type": "text/javascript; charset=utf-8" }),
  );
  return app;
}
