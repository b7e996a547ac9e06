import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  backends,
  bearer,
  type JsonBody,
  KEYS,
  type RunningServer,
  startServer,
} from "./http-harness.js";

/** GET /v1/usage and /v1/search, and quota refusals over HTTP, on a real `chuk-artifacts serve`. */

describe.each(backends())("usage, quotas and search over REST on $name", (backend: Backend) => {
  let server: RunningServer;
  let setup: Awaited<ReturnType<Backend["setup"]>>;

  beforeAll(async () => {
    setup = await backend.setup();
    server = await startServer({
      args: [...setup.args, "--quota-user-bytes", "100", "--quota-session-artifacts", "3"],
      env: setup.env,
    });
  });
  afterAll(async () => {
    await server?.stop();
    await setup?.dispose();
  });

  const get = async (path: string, key: string) => {
    const res = await fetch(`${server.url}/v1${path}`, { headers: bearer(key) });
    return { status: res.status, body: (await res.json()) as JsonBody };
  };
  const upload = async (key: string, body: string, query: string, type = "text/plain") => {
    const res = await fetch(`${server.url}/v1/artifacts${query}`, {
      method: "POST",
      headers: bearer(key, { "content-type": type }),
      body,
    });
    return { status: res.status, body: (await res.json()) as JsonBody };
  };

  it("refuses a write past the quota with 413 QUOTA_EXCEEDED and reports usage", async () => {
    expect((await upload(KEYS.alice, "x".repeat(60), "?filename=reports/q1.txt")).status).toBe(201);
    const refused = await upload(KEYS.alice, "y".repeat(50), "?filename=reports/q2.txt");
    expect(refused.status).toBe(413);
    expect(refused.body.error.code).toBe("QUOTA_EXCEEDED");
    const usage = await get("/usage", KEYS.alice);
    expect(usage.status).toBe(200);
    expect(usage.body).toEqual({
      scope: "user",
      id: "alice",
      usage: { bytes: 60, artifacts: 1 },
      limit: { bytes: 100 },
    });
    const session = await get("/usage?sessionId=user_alice", KEYS.alice);
    expect(session.body).toMatchObject({
      scope: "session",
      usage: { bytes: 60, artifacts: 1 },
      limit: { artifacts: 3 },
    });
    // Someone else's session: the same 404 as a missing one; another user's usage: admins only.
    expect((await get("/usage?sessionId=user_alice", KEYS.bob)).status).toBe(404);
    expect((await get("/usage?userId=alice", KEYS.bob)).status).toBe(403);
    expect((await get("/usage?userId=alice", KEYS.admin)).body.usage).toEqual({ bytes: 60, artifacts: 1 });
  });

  it("searches the caller's artifacts by mime, filename glob, meta and text", async () => {
    const meta = encodeURIComponent(JSON.stringify({ team: "red" }));
    expect(
      (await upload(KEYS.alice, "{}", `?filename=data/a.json&meta=${meta}`, "application/json")).status,
    ).toBe(201);
    expect((await upload(KEYS.bob, "bob's", "?filename=reports/bob.txt")).status).toBe(201);
    const reports = await get(`/search?filename=${encodeURIComponent("reports/*")}`, KEYS.alice);
    expect(reports.status).toBe(200);
    expect(reports.body.items.map((m: JsonBody) => m.filename)).toEqual(["reports/q1.txt"]);
    const json = await get(`/search?mime=${encodeURIComponent("application/*")}&meta=${meta}`, KEYS.alice);
    expect(json.body.items.map((m: JsonBody) => m.filename)).toEqual(["data/a.json"]);
    const all = await get("/search?limit=1", KEYS.alice);
    expect(all.body.items).toHaveLength(1);
    const rest = await get(`/search?limit=1&cursor=${all.body.cursor}`, KEYS.alice);
    expect(rest.body.items).toHaveLength(1);
    expect(rest.body.cursor).toBeNull();
    expect((await get("/search?sessionId=user_alice", KEYS.bob)).status).toBe(404);
    expect((await get("/search?meta=notjson", KEYS.alice)).status).toBe(400);
  });

  it("searches the caller's own-scope artifacts and the shared ones with ?scope=", async () => {
    expect((await upload(KEYS.alice, "own", "?scope=user&filename=own/profile.txt")).status).toBe(201);
    expect((await upload(KEYS.admin, "all", "?scope=sandbox&filename=own/handbook.txt")).status).toBe(201);
    const names = async (query: string, key: string) => {
      const res = await get(`/search${query}`, key);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.items.map((m: JsonBody) => m.filename);
    };
    expect(await names("?scope=user", KEYS.alice)).toEqual(["own/profile.txt"]);
    expect(await names("?text=profile", KEYS.alice)).toEqual(["own/profile.txt"]);
    expect(await names("?scope=sandbox&text=own", KEYS.bob)).toEqual(["own/handbook.txt"]);
    expect(await names("?scope=user", KEYS.bob)).toEqual([]);
    expect(await names("?text=profile", KEYS.bob)).toEqual([]);
    expect((await get("/search?scope=user&userId=alice", KEYS.bob)).status).toBe(403);
    expect(await names("?scope=user&userId=alice", KEYS.admin)).toEqual(["own/profile.txt"]);
    expect((await get("/search?scope=sandbox&sessionId=user_bob", KEYS.bob)).status).toBe(400);
    expect((await get("/search?scope=everything", KEYS.bob)).status).toBe(400);
  });
});
