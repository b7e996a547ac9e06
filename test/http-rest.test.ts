import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import {
  type Backend,
  backends,
  bearer,
  type JsonBody,
  json,
  KEY_ENV,
  KEYS,
  type RunningServer,
  startServer,
} from "./http-harness.js";

/** The REST API of a real `chuk-artifacts serve`, driven with fetch. */

const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");

async function upload(server: RunningServer, key: string, body: string, query = "", type = "text/plain") {
  const res = await fetch(`${server.url}/v1/artifacts${query}`, {
    method: "POST",
    headers: bearer(key, { "content-type": type }),
    body,
  });
  return { status: res.status, body: (await res.json()) as JsonBody };
}

describe.each(backends())("REST API on $name", (backend: Backend) => {
  let server: RunningServer;
  let dispose: () => Promise<void>;
  let setup: Awaited<ReturnType<Backend["setup"]>>;

  beforeAll(async () => {
    setup = await backend.setup();
    dispose = setup.dispose;
    server = await startServer({ args: setup.args, env: setup.env });
  });
  afterAll(async () => {
    await server?.stop();
    await dispose?.();
  });

  const api = (path: string) => `${server.url}/v1${path}`;

  it("uploads a raw body with query fields, then reads metadata and bytes", async () => {
    const meta = encodeURIComponent(JSON.stringify({ project: "x" }));
    const up = await upload(
      server,
      KEYS.alice,
      "raw body",
      `?filename=docs/a.txt&summary=raw&meta=${meta}&ttl=600`,
    );
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({
      filename: "docs/a.txt",
      summary: "raw",
      meta: { project: "x" },
      mime: "text/plain",
      bytes: 8,
      sha256: sha256("raw body"),
      sessionId: "user_alice",
      ttl: 600,
    });
    const id = up.body.artifactId;
    const meta2 = await json(api(`/artifacts/${id}/metadata`), "GET", KEYS.alice);
    expect(meta2.body).toEqual(up.body);
    const bytes = await fetch(api(`/artifacts/${id}`), { headers: bearer(KEYS.alice) });
    expect(bytes.headers.get("etag")).toBe(`"${up.body.etag}"`);
    expect(await bytes.text()).toBe("raw body");
    const ranged = await fetch(api(`/artifacts/${id}`), {
      headers: bearer(KEYS.alice, { range: "bytes=4-" }),
    });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe("body");
    const beyond = await fetch(api(`/artifacts/${id}`), {
      headers: bearer(KEYS.alice, { range: "bytes=8-" }),
    });
    expect(beyond.status).toBe(416);
    expect((await beyond.json()).error.code).toBe("RANGE_NOT_SATISFIABLE");
  });

  it("uploads multipart/form-data, streaming the file part", async () => {
    const form = new FormData();
    form.append("summary", "from a form");
    form.append("meta", JSON.stringify({ k: 1 }));
    form.append("file", new Blob(["form bytes\r\n--not-a-boundary"], { type: "text/csv" }), "table.csv");
    const res = await fetch(api("/artifacts"), { method: "POST", headers: bearer(KEYS.alice), body: form });
    const body = (await res.json()) as JsonBody;
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({
      filename: "table.csv",
      mime: "text/csv",
      summary: "from a form",
      meta: { k: 1 },
    });
    const back = await fetch(api(`/artifacts/${body.artifactId}`), { headers: bearer(KEYS.alice) });
    expect(await back.text()).toBe("form bytes\r\n--not-a-boundary");
  });

  it("updates metadata, refuses system fields, replaces content", async () => {
    const { body } = await upload(server, KEYS.alice, "v1", "?filename=v.txt");
    const id = body.artifactId;
    const patched = await json(api(`/artifacts/${id}`), "PATCH", KEYS.alice, {
      summary: "new",
      meta: { a: 1 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ summary: "new", meta: { a: 1 }, sha256: sha256("v1") });
    for (const field of ["sha256", "key", "sessionId", "userId", "bytes", "artifactId"]) {
      const refused = await json(api(`/artifacts/${id}`), "PATCH", KEYS.alice, { [field]: "x" });
      expect(refused.status, field).toBe(400);
      expect(refused.body.error.code).toBe("VALIDATION_ERROR");
    }
    const huge = await json(api(`/artifacts/${id}`), "PATCH", KEYS.alice, {
      meta: { blob: "m".repeat(70_000) },
    });
    expect(huge.status).toBe(400); // metadata is bounded (64 KiB of JSON)
    const replaced = await fetch(api(`/artifacts/${id}`), {
      method: "PUT",
      headers: bearer(KEYS.alice, { "content-type": "text/plain" }),
      body: "version two",
    });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ bytes: 11, sha256: sha256("version two"), summary: "new" });
  });

  it("copies and moves within the session, never across", async () => {
    const { body } = await upload(server, KEYS.alice, "copy me", "?filename=orig.txt");
    const id = body.artifactId;
    const copy = await json(api(`/artifacts/${id}/copy`), "POST", KEYS.alice, { newFilename: "copy.txt" });
    expect(copy.status).toBe(201);
    expect(copy.body).toMatchObject({
      filename: "copy.txt",
      sha256: sha256("copy me"),
      sessionId: "user_alice",
    });
    expect(copy.body.artifactId).not.toBe(id);
    const across = await json(api(`/artifacts/${id}/copy`), "POST", KEYS.alice, {
      targetSessionId: "user_bob",
    });
    expect(across.status).toBe(403);
    const moved = await json(api(`/artifacts/${id}/move`), "POST", KEYS.alice, { newFilename: "moved.txt" });
    expect(moved.status).toBe(200);
    expect((await json(api(`/artifacts/${id}/metadata`), "GET", KEYS.alice)).body.filename).toBe("moved.txt");
  });

  it("deletes (204, then 404)", async () => {
    const { body } = await upload(server, KEYS.alice, "bye");
    const url = api(`/artifacts/${body.artifactId}`);
    expect((await fetch(url, { method: "DELETE", headers: bearer(KEYS.alice) })).status).toBe(204);
    expect((await fetch(url, { headers: bearer(KEYS.alice) })).status).toBe(404);
    const again = await fetch(url, { method: "DELETE", headers: bearer(KEYS.alice) });
    expect(again.status).toBe(404);
    expect((await again.json()).error.code).toBe("ARTIFACT_NOT_FOUND");
  });

  it("lists a session page by page with a cursor", async () => {
    const session = `list-${uniqueSandbox()}`;
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      ids.add((await upload(server, KEYS.alice, `item ${i}`, `?sessionId=${session}`)).body.artifactId);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page = await json(api(`/sessions/${session}/artifacts${query}`), "GET", KEYS.alice);
      expect(page.status).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((m: { artifactId: string }) => m.artifactId));
      cursor = page.body.cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(new Set(seen)).toEqual(ids);
    expect((await json(api(`/artifacts?sessionId=${session}&limit=0`), "GET", KEYS.alice)).status).toBe(400);
  });

  it("keeps users to their own sessions; an admin reaches all", async () => {
    const { body } = await upload(server, KEYS.alice, "alice only");
    const id = body.artifactId;
    for (const [method, path] of [
      ["GET", `/artifacts/${id}`],
      ["GET", `/artifacts/${id}/metadata`],
      ["DELETE", `/artifacts/${id}`],
      ["POST", `/artifacts/${id}/presign`],
    ] as const) {
      const res = await fetch(api(path), { method, headers: bearer(KEYS.bob) });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect((await res.json()).error.code).toBe("ACCESS_DENIED");
    }
    // Another user's session answers as if it did not exist (http-hardening.test.ts).
    const aliceList = await json(api("/sessions/user_alice/artifacts"), "GET", KEYS.bob);
    expect(aliceList.status).toBe(404);
    expect(aliceList.body.error.code).toBe("SESSION_NOT_FOUND");
    const intoAlice = await upload(server, KEYS.bob, "bob's", "?sessionId=user_alice");
    expect(intoAlice.status).toBe(404);
    const bobSession = await upload(server, KEYS.bob, "bob's", `?sessionId=bob-private-${uniqueSandbox()}`);
    expect(bobSession.status).toBe(201);
    const aliceIntoBob = await upload(server, KEYS.alice, "x", `?sessionId=${bobSession.body.sessionId}`);
    expect(aliceIntoBob.status).toBe(404);
    // Alice's artifact survived Bob's attempts; the admin sees it and her session.
    expect(await (await fetch(api(`/artifacts/${id}`), { headers: bearer(KEYS.admin) })).text()).toBe(
      "alice only",
    );
    const listed = await json(api("/sessions/user_alice/artifacts"), "GET", KEYS.admin);
    expect(listed.body.items.map((m: { artifactId: string }) => m.artifactId)).toContain(id);
  });

  it("presigns a download URL that works without a key", async () => {
    const { body } = await upload(server, KEYS.alice, "shared");
    const res = await json(api(`/artifacts/${body.artifactId}/presign`), "POST", KEYS.alice, { expires: 60 });
    expect(res.status).toBe(200);
    expect(await (await fetch(res.body.url)).text()).toBe("shared");
  });

  it.runIf(backend.name === "filesystem")(
    "never serves a complete body whose bytes no longer match their sha256",
    async () => {
      const text = "checked on every full read ".repeat(10_000); // several read chunks
      const { body } = await upload(server, KEYS.alice, text);
      const root = setup.args[setup.args.indexOf("--fs-root") + 1]!;
      // A body this size is one file at its grid key: the bytes, then the record and a footer.
      const file = join(root, "grid", body.sandboxId, body.sessionId, body.artifactId);
      const stored = await readFile(file);
      stored.write("CHECKED", 0); // same size, other bytes, the record left as it was
      await writeFile(file, stored);
      const url = (await json(api(`/artifacts/${body.artifactId}/presign`), "POST", KEYS.alice, {})).body.url;
      for (const target of [api(`/artifacts/${body.artifactId}`), url]) {
        const res = await fetch(target, { headers: bearer(KEYS.alice) });
        const outcome = await res.text().then(
          (got) => (res.status >= 500 ? "refused" : got),
          () => "aborted",
        );
        expect(["refused", "aborted"], target).toContain(outcome);
      }
      // A range is served as stored (only whole reads can be checked).
      const part = await fetch(api(`/artifacts/${body.artifactId}`), {
        headers: bearer(KEYS.alice, { range: "bytes=0-6" }),
      });
      expect(await part.text()).toBe("CHECKED");
    },
  );

  it("answers /healthz and /readyz", async () => {
    expect((await json(`${server.url}/healthz`, "GET", null)).body).toEqual({ status: "ok" });
    const ready = await json(`${server.url}/readyz`, "GET", null);
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe("ready");
  });
});

describe("REST API: authentication, malformed input and limits", () => {
  let server: RunningServer;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "chuk-http-"));
    server = await startServer({
      args: ["--provider", "filesystem", "--fs-root", dir, "--max-upload-bytes", "1000"],
      env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("rest") },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const api = (path: string) => `${server.url}/v1${path}`;

  it("refuses a missing, malformed or unknown key with 401", async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: "Bearer not-a-configured-key-000000" },
      { authorization: `Basic ${KEYS.alice}` },
      { authorization: `Bearer ${KEYS.alice}x` },
    ]) {
      const res = await fetch(api("/artifacts"), { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect((await res.json()).error.code).toBe("UNAUTHORIZED");
    }
    expect((await json(api("/whoami"), "GET", KEYS.bob)).body).toMatchObject({ userId: "bob", admin: false });
    expect((await json(api("/whoami"), "GET", KEYS.admin)).body).toMatchObject({
      userId: "admin",
      admin: true,
    });
  });

  it("refuses malformed JSON, a non-object body and unknown fields with 400", async () => {
    for (const body of ["{not json", "[1,2]", '"text"', JSON.stringify({ filename: "a", surprise: 1 })]) {
      const res = await json(api("/uploads"), "POST", KEYS.alice, body);
      expect(res.status, body).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_ERROR");
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.js:\d+/); // no stack trace
    }
  });

  it("refuses a JSON body over 1 MiB with 413", async () => {
    const res = await json(api("/uploads"), "POST", KEYS.alice, { filename: "x".repeat(1_100_000) });
    expect(res.status).toBe(413);
  });

  it("refuses an upload over --max-upload-bytes with 413 and stores nothing", async () => {
    const before = await json(api("/artifacts"), "GET", KEYS.alice);
    const big = await upload(server, KEYS.alice, "z".repeat(1001));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("PAYLOAD_TOO_LARGE");
    // Without a Content-Length the limit is enforced while streaming.
    const chunked = await fetch(api("/artifacts"), {
      method: "POST",
      headers: bearer(KEYS.alice),
      body: new Blob(["y".repeat(2000)]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const after = await json(api("/artifacts"), "GET", KEYS.alice);
    expect(after.body.items.length).toBe(before.body.items.length);
    expect((await upload(server, KEYS.alice, "z".repeat(1000))).status).toBe(201);
  });

  it("maps unknown routes and artifacts to JSON 404s and bad ids to 400", async () => {
    const route = await json(`${server.url}/nope`, "GET", null);
    expect(route.status).toBe(404);
    expect(route.body.error.code).toBe("NOT_FOUND");
    const missing = await json(
      api("/artifacts/0123456789abcdef0123456789abcdef/metadata"),
      "GET",
      KEYS.alice,
    );
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("ARTIFACT_NOT_FOUND");
    for (const bad of ["%2e%2e%2fx", "%252e%252e%252fx", "..%2f..%2fetc", "a%00b"]) {
      const res = await json(api(`/artifacts/${bad}/metadata`), "GET", KEYS.alice);
      expect(res.status, bad).toBe(400);
      const session = await json(api(`/sessions/${bad}/artifacts`), "GET", KEYS.alice);
      expect(session.status, bad).toBe(400);
      const upload = await json(api(`/artifacts?sessionId=${bad}`), "POST", KEYS.alice, "x");
      expect(upload.status, bad).toBe(400);
    }
  });

  it("guards /mcp with the same bearer auth", async () => {
    const res = await fetch(`${server.url}/mcp`, { method: "POST" });
    expect(res.status).toBe(401);
    const authed = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: bearer(KEYS.alice, {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      }),
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    expect(authed.status).toBe(200);
    // Plain JSON, or one SSE message event (the SDK streams 2025-era answers).
    const text = await authed.text();
    const answer = text.startsWith("{") ? text : /^data: (.*)$/m.exec(text)?.[1];
    expect(JSON.parse(answer ?? "null")).toMatchObject({ jsonrpc: "2.0", id: 1, result: {} });
  });

  it("reports 503 from /readyz when storage is gone", async () => {
    const dead = await mkdtemp(join(tmpdir(), "chuk-http-"));
    const other = await startServer({ args: ["--provider", "filesystem", "--fs-root", dead], env: KEY_ENV });
    try {
      expect((await json(`${other.url}/readyz`, "GET", null)).status).toBe(200);
      await rm(dead, { recursive: true, force: true });
      const res = await json(`${other.url}/readyz`, "GET", null);
      expect(res.status).toBe(503);
      expect(res.body.storage.status).toBe("error");
    } finally {
      await other.stop();
    }
  });
});

describe("REST API: failed authentication is rate limited per client", () => {
  it("answers 429 to bad keys after 10 failures a minute, never to a valid key", async () => {
    const server = await startServer({ args: ["--provider", "memory"], env: KEY_ENV });
    try {
      for (let i = 0; i < 10; i++) {
        const res = await fetch(`${server.url}/v1/whoami`, {
          headers: bearer(`wrong-key-${i}-000000000000`),
        });
        expect(res.status).toBe(401);
      }
      const limited = await fetch(`${server.url}/v1/whoami`, { headers: bearer("wrong-key-x-000000000000") });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await fetch(`${server.url}/v1/whoami`, { headers: bearer(KEYS.alice) })).status).toBe(200);
      // Signed URLs and health checks are not behind the limiter.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
