import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  backends,
  bearer,
  type JsonBody,
  json,
  KEYS,
  type RunningServer,
  startServer,
} from "./http-harness.js";
import { objectKeys, rawClient } from "./s3-helpers.js";

/**
 * `scope` on every REST way in, through a real `serve`: multipart/form-data uploads, presigned
 * uploads (the scope is part of the key the URL signs, so the URL cannot be bent to another
 * scope) and multipart uploads. "user" is the caller's own; "sandbox" only for admin keys: anyone
 * else gets 403 and nothing is stored or reserved (checked in the storage itself on the filesystem
 * and S3).
 */

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

describe.each(backends())("scoped uploads over REST on $name", (backend: Backend) => {
  let server: RunningServer;
  let setup: Awaited<ReturnType<Backend["setup"]>>;

  beforeAll(async () => {
    setup = await backend.setup();
    server = await startServer({ args: setup.args, env: setup.env });
  });
  afterAll(async () => {
    await server?.stop();
    await setup?.dispose();
  });

  const api = (path: string) => `${server.url}/v1${path}`;
  const sandbox = () => setup.env.ARTIFACT_SANDBOX_ID!;

  /** Every object stored under a scope owner's prefix, read from the storage itself (null on memory). */
  async function storedUnder(owner: string): Promise<string[] | null> {
    const prefix = `grid/${sandbox()}/${owner}/`;
    if (backend.name === "filesystem") {
      const root = setup.args[setup.args.indexOf("--fs-root") + 1]!;
      try {
        return (await readdir(join(root, prefix), { recursive: true })).map(String);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
        throw err;
      }
    }
    if (backend.name.startsWith("s3")) return objectKeys(rawClient(), prefix);
    return null;
  }

  async function sharedIds(): Promise<string[]> {
    const listed = await json(api("/artifacts?scope=sandbox&limit=1000"), "GET", KEYS.admin);
    expect(listed.status).toBe(200);
    return listed.body.items.map((m: { artifactId: string }) => m.artifactId);
  }

  async function form(key: string, fields: Record<string, string>, body: string, query = "") {
    const data = new FormData();
    for (const [name, value] of Object.entries(fields)) data.append(name, value);
    data.append("file", new Blob([body], { type: "text/plain" }), "f.txt");
    // A refused upload is answered before its body is read, and the server then drops the
    // connection: never hand it back to the pool for the next request.
    const res = await fetch(api(`/artifacts${query}`), {
      method: "POST",
      headers: bearer(key, { connection: "close" }),
      body: data,
    });
    return { status: res.status, body: (await res.json()) as JsonBody };
  }

  async function download(id: string, key = KEYS.alice): Promise<string> {
    const res = await fetch(api(`/artifacts/${id}`), { headers: bearer(key) });
    expect(res.status).toBe(200);
    return res.text();
  }

  async function reserve(key: string, body: Record<string, unknown>) {
    return json(api("/uploads"), "POST", key, { mimeType: "text/plain", ...body });
  }

  async function put(upload: JsonBody, data: string, url: string = upload.url) {
    const res = await fetch(url, {
      method: "PUT",
      headers: { ...upload.headers, connection: "close" }, // a refused PUT's body is never read
      body: data,
    });
    await res.arrayBuffer();
    return res.status;
  }

  it("takes scope as a form field (or in the query) of a multipart/form-data upload", async () => {
    const mine = await form(KEYS.alice, { scope: "user", filename: "profile.txt" }, "alice's profile");
    expect(mine.status, JSON.stringify(mine.body)).toBe(201);
    expect(mine.body).toMatchObject({ scope: "user", userId: "alice", filename: "profile.txt" });
    expect(mine.body.key).toContain("/_u-alice/");
    expect(await download(mine.body.artifactId)).toBe("alice's profile");
    expect(
      (await fetch(api(`/artifacts/${mine.body.artifactId}`), { headers: bearer(KEYS.bob) })).status,
    ).toBe(403);

    const viaQuery = await form(KEYS.alice, {}, "by query", "?scope=user");
    expect(viaQuery.status).toBe(201);
    expect(viaQuery.body.scope).toBe("user");
    const session = await form(KEYS.alice, { scope: "session" }, "in my session");
    expect(session.body).toMatchObject({ scope: "session", sessionId: "user_alice" });

    const before = await storedUnder("_shared");
    const refused = await form(KEYS.bob, { scope: "sandbox" }, "bob's attempt");
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("ACCESS_DENIED");
    expect(await storedUnder("_shared")).toEqual(before);

    const shared = await form(KEYS.admin, { scope: "sandbox", filename: "template.md" }, "# template");
    expect(shared.status).toBe(201);
    expect(shared.body).toMatchObject({ scope: "sandbox", sessionId: "_shared" });
    expect(await download(shared.body.artifactId, KEYS.bob)).toBe("# template");
    expect(await sharedIds()).toContain(shared.body.artifactId);

    // A scope other than "session" names no session; an unknown scope is refused.
    const both = await form(KEYS.alice, { sessionId: "user_alice", scope: "user" }, "x");
    expect(both.status).toBe(400);
    expect((await form(KEYS.alice, { scope: "world" }, "x")).status).toBe(400);
    const raw = await fetch(api("/artifacts?scope=user&sessionId=user_alice"), {
      method: "POST",
      headers: bearer(KEYS.alice, { connection: "close" }),
      body: "x",
    });
    expect(raw.status).toBe(400);
  });

  it("fixes the scope of a presigned upload when the URL is signed", async () => {
    const upload = await reserve(KEYS.alice, { scope: "user", filename: "cv.txt" });
    expect(upload.status, JSON.stringify(upload.body)).toBe(201);
    expect(upload.body.key).toContain("/_u-alice/");
    expect(await put(upload.body, "alice's cv")).toBe(200);
    const reg = await json(api(`/uploads/${upload.body.artifactId}/register`), "POST", KEYS.alice, {});
    expect(reg.status, JSON.stringify(reg.body)).toBe(201);
    expect(reg.body).toMatchObject({ scope: "user", userId: "alice", sha256: sha256("alice's cv") });
    expect(await download(upload.body.artifactId)).toBe("alice's cv");
    const own = await json(api("/artifacts?scope=user"), "GET", KEYS.alice);
    expect(own.body.items.map((m: { artifactId: string }) => m.artifactId)).toContain(upload.body.artifactId);

    // A non-admin asking for the shared scope: 403, and no slot is reserved.
    const before = await storedUnder("_shared");
    const refused = await reserve(KEYS.bob, { scope: "sandbox" });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("ACCESS_DENIED");
    expect(await storedUnder("_shared")).toEqual(before);
    const usage = await json(api("/usage"), "GET", KEYS.bob);
    expect(usage.body.usage).toEqual({ bytes: 0, artifacts: 0 });

    // An admin's shared upload: another user can neither register it nor change it, but reads it.
    const shared = await reserve(KEYS.admin, { scope: "sandbox", filename: "org.txt" });
    expect(shared.status).toBe(201);
    expect(shared.body.key).toContain("/_shared/");
    expect(await put(shared.body, "org-wide")).toBe(200);
    const hijack = await json(api(`/uploads/${shared.body.artifactId}/register`), "POST", KEYS.bob, {});
    expect(hijack.status).toBe(403);
    const done = await json(api(`/uploads/${shared.body.artifactId}/register`), "POST", KEYS.admin, {});
    expect(done.status).toBe(201);
    expect(done.body).toMatchObject({ scope: "sandbox", sha256: sha256("org-wide") });
    expect(await download(shared.body.artifactId, KEYS.bob)).toBe("org-wide");

    // The register step takes no scope: it was fixed when the URL was signed.
    const late = await reserve(KEYS.alice, {});
    const changed = await json(api(`/uploads/${late.body.artifactId}/register`), "POST", KEYS.alice, {
      scope: "sandbox",
    });
    expect(changed.status).toBe(400);
  });

  it("refuses a signed upload URL bent to another scope, and stores nothing there", async () => {
    const upload = await reserve(KEYS.alice, { scope: "user" });
    expect(upload.status).toBe(201);
    const url: string = upload.body.url;
    expect(url).toContain("/_u-alice/");
    const before = { shared: await storedUnder("_shared"), bob: await storedUnder("_u-bob") };
    for (const owner of ["_shared", "_u-bob", "user_alice"]) {
      expect(await put(upload.body, "bent", url.replace("/_u-alice/", `/${owner}/`)), owner).toBe(403);
    }
    expect(await storedUnder("_shared")).toEqual(before.shared);
    expect(await storedUnder("_u-bob")).toEqual(before.bob);

    // A scope parameter added to the URL is no part of the grant: refused (S3's signature covers
    // the whole query) or ignored (ours signs the key); either way the upload stays alice's own.
    const appended = await put(upload.body, "appended", `${url}&scope=sandbox`);
    expect([200, 403]).toContain(appended);
    if (appended !== 200) expect(await put(upload.body, "appended")).toBe(200);
    const reg = await json(api(`/uploads/${upload.body.artifactId}/register`), "POST", KEYS.alice, {});
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ scope: "user", sessionId: "_u-alice", sha256: sha256("appended") });
    expect(await storedUnder("_shared")).toEqual(before.shared);
    expect(await sharedIds()).not.toContain(upload.body.artifactId);
  });

  it("takes scope on multipart uploads", async () => {
    async function multipart(key: string, scope: string, data: string) {
      const start = await json(api("/multipart"), "POST", key, { scope, filename: "big.bin" });
      expect(start.status, JSON.stringify(start.body)).toBe(201);
      const { artifactId, uploadId } = start.body;
      const part = await json(api(`/multipart/${artifactId}/parts`), "POST", key, {
        uploadId,
        partNumber: 1,
      });
      expect(part.status).toBe(200);
      const res = await fetch(part.body.url, { method: "PUT", body: new Blob([data]) });
      expect(res.status).toBe(200);
      const etag = res.headers.get("etag")!;
      await res.arrayBuffer();
      const complete = await json(api(`/multipart/${artifactId}/complete`), "POST", key, {
        uploadId,
        parts: [{ partNumber: 1, etag }],
      });
      expect(complete.status, JSON.stringify(complete.body)).toBe(200);
      return json(api(`/uploads/${artifactId}/register`), "POST", key, {});
    }

    const mine = await multipart(KEYS.alice, "user", "alice in parts");
    expect(mine.status).toBe(201);
    expect(mine.body).toMatchObject({ scope: "user", userId: "alice", sha256: sha256("alice in parts") });
    expect(await download(mine.body.artifactId)).toBe("alice in parts");

    const before = await storedUnder("_shared");
    const refused = await json(api("/multipart"), "POST", KEYS.bob, { scope: "sandbox" });
    expect(refused.status).toBe(403);
    expect(await storedUnder("_shared")).toEqual(before);

    const shared = await multipart(KEYS.admin, "sandbox", "shared in parts");
    expect(shared.status).toBe(201);
    expect(shared.body).toMatchObject({ scope: "sandbox", sha256: sha256("shared in parts") });
    expect(await download(shared.body.artifactId, KEYS.bob)).toBe("shared in parts");
  });
});
