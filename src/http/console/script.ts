/**
 * The console's script, served as it is (no build step). It talks only to the REST API beside it
 * with the key the user pasted (kept in this tab's sessionStorage). Uploads go through presigned
 * URLs (multipart above SINGLE_PUT_MAX) with XMLHttpRequest, the one browser API that reports
 * upload progress. Previews fetch the bytes through a signed URL into a Blob of a type chosen
 * here (image, audio, video, PDF) or show text with textContent: an artifact never runs as HTML
 * on this origin.
 */
export const SCRIPT = String.raw`const $ = (id) => document.getElementById(id);
const base = new URL(".", import.meta.url).href.replace(/\/$/, "");
const KEY_ITEM = "chuk-artifacts-key";
const SESSIONS_ITEM = "chuk-artifacts-sessions";
const SINGLE_PUT_MAX = 16 * 1024 * 1024;
const PART_BYTES = 8 * 1024 * 1024;
const PAGE_SIZE = 25;
const PREVIEW_MAX = 25 * 1024 * 1024;
const TEXT_PREVIEW_BYTES = 256 * 1024;

const state = {
  key: sessionStorage.getItem(KEY_ITEM),
  me: null,
  sessionId: null,
  scope: "session", // the tab: "session", "user" (Mine) or "sandbox" (Shared)
  items: [],
  sort: { field: "storedAt", dir: "desc" },
  filter: "",
  /** Results of the filter box's search (null while it is empty). */
  found: null,
  searchTimer: null,
  page: 0,
  selected: null,
  previewUrl: null,
};

// ---- small helpers -------------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function humanBytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return (u === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + units[u];
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
function relativeTime(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const steps = [[60, "second"], [3600, "minute"], [86400, "hour"], [604800, "day"], [2629800, "week"], [31557600, "month"], [Infinity, "year"]];
  const sizes = { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800, month: 2629800, year: 31557600 };
  for (const [limit, unit] of steps) {
    if (Math.abs(seconds) < limit) return relative.format(Math.round(seconds / sizes[unit]), unit);
  }
  return "";
}
function absoluteTime(iso) {
  return new Date(iso).toLocaleString();
}
function timeCell(iso, fallback) {
  if (!iso) return el("span", { class: "muted", text: fallback });
  return el("time", { dateTime: iso, title: absoluteTime(iso), text: relativeTime(iso) });
}

function nameOf(m) {
  return m.filename || m.artifactId;
}

function say(text) {
  $("status").textContent = text;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { $("status").textContent = ""; }, 4000);
}

function showError(err) {
  $("alert-text").textContent = err instanceof Error ? err.message : String(err);
  $("alert").hidden = false;
}
function clearError() {
  $("alert").hidden = true;
}
function guarded(fn) {
  return (...args) => Promise.resolve().then(() => fn(...args)).catch(showError);
}

// ---- the REST API --------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(code ? code + ": " + message : message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  let res;
  try {
    res = await fetch(base + "/v1" + path, {
      method,
      headers: { authorization: "Bearer " + state.key, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(0, "NETWORK", "the server cannot be reached");
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = data && data.error;
    throw new ApiError(res.status, e ? e.code : "HTTP_" + res.status, e ? e.message : res.statusText);
  }
  return data;
}

const sessionQuery = () => "sessionId=" + encodeURIComponent(state.sessionId);
const listQuery = () => (state.scope === "session" ? sessionQuery() : "scope=" + state.scope);

// ---- connecting and sessions ---------------------------------------------------------------

async function connect() {
  const me = await api("GET", "/whoami");
  sessionStorage.setItem(KEY_ITEM, state.key);
  state.me = me;
  $("user").textContent = me.userId + (me.admin ? " (admin)" : "");
  $("login").hidden = true;
  $("who").hidden = false;
  $("main").hidden = false;
  $("session-form").hidden = !me.admin;
  $("session-label").hidden = me.admin;
  clearError();
  await openSession(me.sessionId);
}

function rememberedSessions() {
  try { return JSON.parse(localStorage.getItem(SESSIONS_ITEM) || "[]"); } catch { return []; }
}
function rememberSession(id) {
  const list = [id, ...rememberedSessions().filter((s) => s !== id)].slice(0, 20);
  localStorage.setItem(SESSIONS_ITEM, JSON.stringify(list));
  $("session-list").replaceChildren(...list.map((s) => el("option", { value: s })));
}

async function openSession(sessionId) {
  state.sessionId = sessionId;
  $("session").textContent = sessionId;
  $("session-input").value = sessionId;
  await selectScope("session"); // a session opened is shown on its own tab
  if (state.me.admin) rememberSession(sessionId);
}

// ---- the scope tabs: this session, my own files (every session), files shared with everyone ---

const SCOPE_NOTES = {
  session: "Files of this session",
  user: "Your own files, kept across sessions",
  sandbox: "Shared with every user",
};
const EMPTY_TEXT = {
  session: "No files in this session yet: drop some above.",
  user: "No files of your own yet: drop some above to keep them across sessions.",
  sandbox: "Nothing is shared yet.",
};

// Shared files are written only with an admin key: the others get no buttons that would be refused.
const readOnly = () => state.scope === "sandbox" && !state.me.admin;

async function selectScope(scope) {
  state.scope = scope;
  for (const tab of document.querySelectorAll("[role=tab]")) tab.setAttribute("aria-selected", String(tab.dataset.scope === scope));
  $("scope-note").textContent = SCOPE_NOTES[scope] + (scope === "sandbox" && !state.me.admin ? " (read only: an admin key shares files)" : "");
  // Only an admin writes shared files.
  $("drop").hidden = readOnly();
  state.page = 0;
  state.found = null;
  closeDetail();
  await refresh();
  if (state.filter.trim()) await runSearch();
}

// ---- the list ------------------------------------------------------------------------------

async function refresh() {
  const scope = state.scope;
  const items = [];
  let cursor = null;
  do {
    const page = await api("GET", "/artifacts?limit=500&" + listQuery() + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    items.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  if (state.scope !== scope) return; // another tab was chosen meanwhile: its own refresh shows it
  state.items = items;
  await runSearch();
  await showUsage();
}

const MIME_TYPES = ["application", "audio", "font", "image", "message", "model", "multipart", "text", "video"];

/**
 * The filter box as a search of the session: image/* or application/pdf is a type, team=red a meta
 * value, a word with * or ? a filename glob (reports/*.pdf), other words are looked for in names,
 * summaries and meta.
 */
function searchQuery(filter) {
  const params = new URLSearchParams({ sessionId: state.sessionId, limit: "1000" });
  const meta = {};
  const words = [];
  for (const token of filter.trim().split(/\s+/).filter(Boolean)) {
    const slash = token.indexOf("/");
    if (slash > 0 && MIME_TYPES.includes(token.slice(0, slash).toLowerCase())) params.set("mime", token);
    else if (/^[^=*?]+=.+$/.test(token)) {
      const [key, ...rest] = token.split("=");
      const value = rest.join("=");
      try { meta[key] = JSON.parse(value); } catch { meta[key] = value; }
    } else if (/[*?]/.test(token)) params.set("filename", token);
    else words.push(token);
  }
  if (Object.keys(meta).length) params.set("meta", JSON.stringify(meta));
  if (words.length) params.set("text", words.join(" "));
  return params;
}

async function runSearch() {
  const filter = state.filter.trim();
  if (!filter) {
    state.found = null;
    render();
    return;
  }
  if (state.scope !== "session") {
    // The search covers the session's files; the Mine and Shared tabs filter their own list by name.
    const needle = filter.toLowerCase();
    state.found = state.items.filter((m) => (m.filename || m.artifactId).toLowerCase().includes(needle));
    render();
    return;
  }
  const params = searchQuery(filter);
  const found = [];
  let cursor = null;
  do {
    if (cursor) params.set("cursor", cursor);
    const page = await api("GET", "/search?" + params);
    found.push(...page.items);
    cursor = page.cursor;
  } while (cursor && found.length < 10000);
  if (state.filter.trim() !== filter) return; // typed on meanwhile: a newer search follows
  state.found = found;
  render();
}

async function showUsage() {
  const u = await api("GET", "/usage");
  const part = (n, max, unit) => (max === undefined ? unit(n) : unit(n) + " of " + unit(max));
  const files = (n) => n + (n === 1 ? " file" : " files");
  const limit = u.limit || {};
  $("usage").textContent = "Using " + part(u.usage.bytes, limit.bytes, humanBytes) + ", " + part(u.usage.artifacts, limit.artifacts, files);
  const full = (limit.bytes !== undefined && u.usage.bytes >= limit.bytes) || (limit.artifacts !== undefined && u.usage.artifacts >= limit.artifacts);
  $("usage").classList.toggle("full", full);
  $("usage").hidden = false;
}

function sorted(items) {
  const { field, dir } = state.sort;
  const sign = dir === "asc" ? 1 : -1;
  const value = (m) => (field === "filename" ? nameOf(m).toLowerCase() : m[field]);
  return items.slice().sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1; // "never" and unknowns last either way
    if (y === null || y === undefined) return -1;
    return x < y ? -sign : sign;
  });
}

function visibleItems() {
  return sorted(state.found === null ? state.items : state.found);
}

function render() {
  const all = visibleItems();
  const pages = Math.max(1, Math.ceil(all.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  const shown = all.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
  $("rows").replaceChildren(...shown.map(row));
  for (const th of document.querySelectorAll("th[aria-sort]")) {
    const field = th.querySelector("button").dataset.sort;
    th.setAttribute("aria-sort", field === state.sort.field ? (state.sort.dir === "asc" ? "ascending" : "descending") : "none");
  }
  const total = state.items.length;
  $("count").textContent = state.found !== null
    ? all.length + " of " + total + " files match"
    : total + (total === 1 ? " file" : " files") + ", " + humanBytes(state.items.reduce((n, m) => n + m.bytes, 0));
  $("empty").hidden = all.length > 0;
  $("empty").textContent = total === 0 ? EMPTY_TEXT[state.scope] : "No file matches the search.";
  $("pager").hidden = pages <= 1;
  $("page-info").textContent = "Page " + (state.page + 1) + " of " + pages;
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}

function row(m) {
  return el("tr", { "data-id": m.artifactId },
    el("td", { class: "name" },
      el("button", { type: "button", class: "link", text: nameOf(m), title: "Show details of " + nameOf(m), onclick: guarded(() => openDetail(m.artifactId)) }),
      m.summary ? el("span", { class: "sub", text: m.summary }) : null),
    el("td", { class: "num size", title: m.bytes + " bytes", text: humanBytes(m.bytes) }),
    el("td", { class: "muted type", text: m.mime }),
    el("td", { class: "stored" }, timeCell(m.storedAt, "")),
    el("td", { class: "expires" }, timeCell(m.expiresAt, "never")),
    el("td", { class: "actions" },
      el("button", { type: "button", text: "Download", "aria-label": "Download " + nameOf(m), onclick: guarded(() => download(m)) }),
      readOnly() ? null : el("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete " + nameOf(m), onclick: guarded(() => confirmDelete(m)) })));
}

// ---- uploads -------------------------------------------------------------------------------

let queue = Promise.resolve();

function enqueue(files) {
  for (const file of files) {
    const view = uploadView(file);
    $("uploads").prepend(view.item);
    queue = queue.then(() => upload(file, view).catch((err) => view.fail(err)));
  }
  queue = queue.then(() => refresh()).catch(showError);
}

function uploadView(file) {
  const fill = el("span");
  const bar = el("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", "aria-label": "Uploading " + file.name }, fill);
  const stateText = el("span", { class: "state", text: "waiting" });
  const item = el("li", { "data-name": file.name }, el("span", { class: "name", title: file.name, text: file.name + " · " + humanBytes(file.size) }), bar, stateText);
  return {
    item,
    progress(loaded) {
      const pct = file.size === 0 ? 100 : Math.min(100, Math.floor((loaded / file.size) * 100));
      bar.setAttribute("aria-valuenow", String(pct));
      bar.setAttribute("aria-valuetext", pct + "%");
      fill.style.width = pct + "%";
      stateText.textContent = pct + "%";
    },
    done() {
      this.progress(file.size);
      item.className = "done";
      stateText.textContent = "done";
      $("clear-uploads").hidden = false;
    },
    fail(err) {
      item.className = "failed";
      $("clear-uploads").hidden = false;
      stateText.textContent = "failed";
      showError(new Error(file.name + ": " + (err instanceof Error ? err.message : String(err))));
    },
  };
}

function put(url, headers, body, onProgress) {
  return send("PUT", url, headers, body, onProgress);
}

function send(method, url, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr);
      let message = "HTTP " + xhr.status;
      try { const e = JSON.parse(xhr.responseText).error; if (e) message = e.code + ": " + e.message; } catch {}
      reject(new Error(message));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload was interrupted")));
    xhr.send(body);
  });
}

async function upload(file, view) {
  view.progress(0);
  const mimeType = file.type || "application/octet-stream";
  if (state.scope !== "session") {
    // Mine and Shared: one streamed upload to the REST API, which takes the scope.
    const query = "scope=" + state.scope + "&filename=" + encodeURIComponent(file.name) + "&mime=" + encodeURIComponent(mimeType);
    await send("POST", base + "/v1/artifacts?" + query, { authorization: "Bearer " + state.key, "content-type": mimeType }, file, (n) => view.progress(n));
    return view.done();
  }
  const target = { sessionId: state.sessionId, filename: file.name, mimeType };
  let artifactId;
  if (file.size <= SINGLE_PUT_MAX) {
    const slot = await api("POST", "/uploads", { ...target, maxBytes: file.size });
    await put(slot.url, slot.headers, file, (n) => view.progress(n));
    artifactId = slot.artifactId;
  } else {
    artifactId = await uploadInParts(file, target, view);
  }
  await api("POST", "/uploads/" + artifactId + "/register", {});
  view.done();
}

// Large files: one signed URL per part, PUT in order, then joined on the server (or by S3).
async function uploadInParts(file, target, view) {
  const mp = await api("POST", "/multipart", target);
  const partBytes = Math.max(PART_BYTES, mp.minPartBytes || 0);
  const parts = [];
  try {
    let sent = 0;
    for (let partNumber = 1; sent < file.size; partNumber++) {
      const chunk = file.slice(sent, sent + partBytes);
      const { url } = await api("POST", "/multipart/" + mp.artifactId + "/parts", { uploadId: mp.uploadId, partNumber });
      const before = sent;
      const xhr = await put(url, {}, chunk, (n) => view.progress(before + n));
      parts.push({ partNumber, etag: xhr.getResponseHeader("etag") });
      sent += chunk.size;
    }
    await api("POST", "/multipart/" + mp.artifactId + "/complete", { uploadId: mp.uploadId, parts });
  } catch (err) {
    await api("POST", "/multipart/" + mp.artifactId + "/abort", { uploadId: mp.uploadId }).catch(() => {});
    throw err;
  }
  return mp.artifactId;
}

// ---- one file: details, preview, sharing, editing, deleting ---------------------------------

async function presign(m, expires) {
  return api("POST", "/artifacts/" + m.artifactId + "/presign", { expires });
}

async function download(m) {
  const { url } = await presign(m, 300);
  const a = el("a", { href: url, download: nameOf(m).split("/").pop(), rel: "noopener" });
  a.click();
}

async function openDetail(id) {
  const m = await api("GET", "/artifacts/" + id + "/metadata");
  state.selected = m;
  fillDetail(m);
  $("link-row").hidden = true;
  $("versions").replaceChildren();
  $("edit").closest("section").hidden = readOnly();
  $("detail").hidden = false;
  $("detail").focus();
  await Promise.all([preview(m), showVersions(m)]);
}

// ---- versions: every write of bytes is one; an earlier one can be downloaded or restored ----

async function showVersions(m) {
  const { versions } = await api("GET", "/artifacts/" + m.artifactId + "/versions");
  if (state.selected !== m) return;
  $("versions").replaceChildren(...versions.map((v) => {
    const current = v.version === m.version;
    const label = "version " + v.version;
    return el("li", { "data-version": String(v.version) },
      el("span", { class: "v", text: "v" + v.version }),
      el("span", { class: "muted", title: v.bytes + " bytes", text: humanBytes(v.bytes) }),
      timeCell(v.storedAt, ""),
      current ? el("span", { class: "current", text: "current" }) : null,
      current ? null : el("span", { class: "actions" },
        el("button", { type: "button", text: "Download", "aria-label": "Download " + label, onclick: guarded(() => downloadVersion(m, v.version)) }),
        readOnly() ? null : el("button", { type: "button", text: "Restore", "aria-label": "Restore " + label, onclick: guarded(() => restoreVersion(m, v.version)) })));
  }));
}

// An earlier version has no signed link: fetched with the key, handed over as a file.
async function downloadVersion(m, version) {
  const res = await fetch(base + "/v1/artifacts/" + m.artifactId + "?version=" + version, { headers: { authorization: "Bearer " + state.key } });
  if (!res.ok) throw new Error("download failed: HTTP " + res.status);
  const url = URL.createObjectURL(await res.blob());
  const name = nameOf(m).split("/").pop();
  el("a", { href: url, download: name.replace(/(\.[^.]*)?$/, ".v" + version + "$1"), rel: "noopener" }).click();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function restoreVersion(m, version) {
  const updated = await api("POST", "/artifacts/" + m.artifactId + "/versions/" + version + "/restore");
  state.selected = updated;
  fillDetail(updated);
  state.items = state.items.map((x) => (x.artifactId === updated.artifactId ? updated : x));
  render();
  say("Restored version " + version + " of " + nameOf(updated) + " as version " + updated.version);
  await Promise.all([preview(updated), showVersions(updated)]);
}

function fillDetail(m) {
  $("detail-title").textContent = nameOf(m);
  $("edit-filename").value = m.filename || "";
  $("edit-summary").value = m.summary || "";
  $("edit-mime").value = m.mime;
  $("edit-ttl").value = m.ttl === null ? "never" : String(m.ttl);
  $("edit-meta").value = JSON.stringify(m.meta || {}, null, 2);
  const facts = [
    ["Size", humanBytes(m.bytes) + " (" + m.bytes.toLocaleString() + " bytes)"],
    ["Stored", absoluteTime(m.storedAt) + " · " + relativeTime(m.storedAt)],
    ["Updated", absoluteTime(m.updatedAt) + " · " + relativeTime(m.updatedAt)],
    ["Expires", m.expiresAt ? absoluteTime(m.expiresAt) + " · " + relativeTime(m.expiresAt) : "never"],
    ["sha256", m.sha256],
    ["Artifact id", m.artifactId],
    ["Version", String(m.version)],
    ["Scope", { session: "session", user: "mine (" + m.userId + ")", sandbox: "shared" }[m.scope] || m.scope],
    ["Session", m.sessionId],
    ["Key", m.key],
  ];
  $("facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { class: k === "sha256" || k === "Key" || k === "Artifact id" ? "mono" : "", text: v })]));
}

function closeDetail() {
  $("detail").hidden = true;
  $("preview").replaceChildren();
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = null;
  state.selected = null;
}

function previewKind(m) {
  const mime = m.mime.split(";")[0].trim().toLowerCase();
  if (/^image\/(png|jpeg|gif|webp|avif|bmp|svg\+xml)$/.test(mime)) return "image";
  if (mime.startsWith("audio/")) return "audio";
  if (mime.startsWith("video/")) return "video";
  if (mime === "application/pdf") return "pdf";
  if (mime.startsWith("text/") || /[/+](json|xml|yaml|x-yaml|javascript|csv|x-sh|toml)$/.test(mime)) return "text";
  return null;
}

async function preview(m) {
  const box = $("preview");
  const kind = previewKind(m);
  if (!kind) return box.replaceChildren(el("p", { text: "No preview for " + m.mime + "." }));
  if (kind !== "text" && m.bytes > PREVIEW_MAX) return box.replaceChildren(el("p", { text: "Too large to preview here (" + humanBytes(m.bytes) + "): download it instead." }));
  box.replaceChildren(el("p", { text: "Loading preview…" }));
  const { url } = await presign(m, 300);
  const res = await fetch(url, kind === "text" ? { headers: { range: "bytes=0-" + (TEXT_PREVIEW_BYTES - 1) } } : {});
  if (!res.ok) throw new Error("preview failed: HTTP " + res.status);
  if (state.selected !== m) return; // another file was opened meanwhile
  if (kind === "text") {
    let text = await res.text();
    const partial = m.bytes > TEXT_PREVIEW_BYTES;
    if (!partial && /json/.test(m.mime)) {
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch {}
    }
    return box.replaceChildren(el("pre", { text: text + (partial ? "\n… (first " + humanBytes(TEXT_PREVIEW_BYTES) + " of " + humanBytes(m.bytes) + ")" : "") }));
  }
  // The Blob gets the type chosen above, never the stored one: nothing here can become a page.
  const types = { image: m.mime.split(";")[0], audio: m.mime.split(";")[0], video: m.mime.split(";")[0], pdf: "application/pdf" };
  const blob = new Blob([await res.arrayBuffer()], { type: types[kind] });
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(blob);
  const src = state.previewUrl;
  const media = {
    image: () => el("img", { src, alt: "Preview of " + nameOf(m) }),
    audio: () => el("audio", { src, controls: true }),
    video: () => el("video", { src, controls: true }),
    pdf: () => el("iframe", { src, title: "Preview of " + nameOf(m) }),
  };
  box.replaceChildren(media[kind]());
}

async function copyLink() {
  const m = state.selected;
  const expires = Number($("link-expires").value);
  const { url, expiresAt } = await presign(m, expires);
  $("link-url").value = url;
  $("link-expiry").textContent = "valid until " + absoluteTime(expiresAt);
  $("link-row").hidden = false;
  try {
    await navigator.clipboard.writeText(url);
    say("Signed link copied");
  } catch {
    $("link-url").select();
    say("Signed link ready: copy it from the box");
  }
}

async function save() {
  const m = state.selected;
  let meta;
  try { meta = JSON.parse($("edit-meta").value || "{}"); } catch { throw new Error("Meta must be valid JSON"); }
  if (meta === null || typeof meta !== "object" || Array.isArray(meta)) throw new Error("Meta must be a JSON object");
  const ttlText = $("edit-ttl").value.trim();
  if (ttlText !== "never" && !/^[1-9][0-9]*$/.test(ttlText)) throw new Error('Expiry must be whole seconds or "never"');
  const changes = {
    filename: $("edit-filename").value || null,
    summary: $("edit-summary").value,
    mime: $("edit-mime").value.trim(),
    meta,
    merge: false,
  };
  const ttl = ttlText === "never" ? null : Number(ttlText);
  if (ttl !== m.ttl) changes.ttl = ttl;
  const updated = await api("PATCH", "/artifacts/" + m.artifactId, changes);
  state.selected = updated;
  fillDetail(updated);
  state.items = state.items.map((x) => (x.artifactId === updated.artifactId ? updated : x));
  render();
  say("Saved " + nameOf(updated));
}

function ask(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const answer = (e) => {
      const button = e.target.closest("button[data-answer]");
      if (button) dialog.close(button.dataset.answer);
    };
    dialog.addEventListener("click", answer);
    dialog.addEventListener("close", () => {
      dialog.removeEventListener("click", answer);
      resolve(dialog.returnValue === "delete");
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function confirmDelete(m) {
  if (!(await ask("Delete " + nameOf(m) + " (" + humanBytes(m.bytes) + ")? This cannot be undone."))) return;
  await api("DELETE", "/artifacts/" + m.artifactId);
  if (state.selected && state.selected.artifactId === m.artifactId) closeDetail();
  state.items = state.items.filter((x) => x.artifactId !== m.artifactId);
  if (state.found) state.found = state.found.filter((x) => x.artifactId !== m.artifactId);
  render();
  await showUsage();
  say("Deleted " + nameOf(m));
}

// ---- wiring --------------------------------------------------------------------------------

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.key = $("key").value.trim();
  connect().catch(showError);
});
$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_ITEM);
  location.reload();
});
$("alert-close").addEventListener("click", clearError);
$("session-form").addEventListener("submit", (e) => {
  e.preventDefault();
  guarded(openSession)($("session-input").value.trim());
});
$("file").addEventListener("change", () => {
  enqueue([...$("file").files]);
  $("file").value = "";
});
// The whole window takes drops, so a file dropped beside the zone is not opened as a page.
let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; $("drop").classList.add("over"); });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; $("drop").classList.remove("over"); } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  $("drop").classList.remove("over");
  if ($("main").hidden) return;
  const files = [...(e.dataTransfer ? e.dataTransfer.files : [])];
  if (files.length) enqueue(files);
});
$("clear-uploads").addEventListener("click", () => {
  for (const item of document.querySelectorAll("#uploads li.done, #uploads li.failed")) item.remove();
  $("clear-uploads").hidden = true;
});
$("filter").addEventListener("input", () => {
  state.filter = $("filter").value;
  state.page = 0;
  clearTimeout(state.searchTimer);
  state.searchTimer = setTimeout(guarded(runSearch), 150);
});
$("refresh").addEventListener("click", guarded(refresh));
for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", guarded(() => selectScope(tab.dataset.scope)));
for (const button of document.querySelectorAll("th button[data-sort]")) {
  button.addEventListener("click", () => {
    const field = button.dataset.sort;
    const dir = state.sort.field === field ? (state.sort.dir === "asc" ? "desc" : "asc") : field === "storedAt" || field === "bytes" ? "desc" : "asc";
    state.sort = { field, dir };
    render();
  });
}
$("prev").addEventListener("click", () => { state.page--; render(); });
$("next").addEventListener("click", () => { state.page++; render(); });
$("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("detail").hidden && !$("confirm").open) closeDetail();
});
$("copy-link").addEventListener("click", guarded(copyLink));
$("download").addEventListener("click", guarded(() => download(state.selected)));
$("edit").addEventListener("submit", (e) => {
  e.preventDefault();
  guarded(save)();
});
$("delete").addEventListener("click", guarded(() => confirmDelete(state.selected)));
$("session-list").replaceChildren(...rememberedSessions().map((s) => el("option", { value: s })));

if (state.key) {
  connect().catch(() => {
    sessionStorage.removeItem(KEY_ITEM);
    state.key = null;
  });
}
`;
