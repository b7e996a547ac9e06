import { afterEach, describe, expect, it } from "vitest";
import { ArtifactStore, createHttpHandler } from "../src/index.js";
import { uniqueSandbox } from "./fixtures.js";

/**
 * REST over versions, conditional writes, checkpoints and scopes: ETag on reads, If-Match on
 * PUT/PATCH/DELETE (412), ?version= on downloads, the versions and checkpoint routes, ?scope=.
 */
const ALICE = "alice-key-0123456789abcdef";
const BOB = "bob-key-0123456789abcdef00";
const ADMIN = "admin-key-0123456789abcdef";

describe("REST: versions, If-Match, checkpoints, scopes", () => {
  let store: ArtifactStore | null = null;
  afterEach(async () => {
    await store?.close();
    store = null;
  });

  const open = () => {
    store = new ArtifactStore({ sandboxId: uniqueSandbox("rest-v"), defaultTtl: null });
    const app = createHttpHandler(store, {
      apiKeys: [
        { key: ALICE, userId: "alice" },
        { key: BOB, userId: "bob" },
        { key: ADMIN, userId: "ops", admin: true },
      ],
    });
    const call = (path: string, key: string, init: RequestInit = {}) =>
      app.request(`/v1${path}`, {
        ...init,
        headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) },
      });
    return { app, call };
  };

  it("gives ETags, refuses a stale If-Match with 412, and serves earlier versions", async () => {
    const { call } = open();
    const up = await call("/artifacts?filename=r.txt", ALICE, { method: "POST", body: "one" });
    expect(up.status).toBe(201);
    const first = (await up.json()) as { artifactId: string; etag: string; version: number };
    expect(first.version).toBe(1);
    const id = first.artifactId;
    const meta = await call(`/artifacts/${id}/metadata`, ALICE);
    expect(meta.headers.get("etag")).toBe(`"${first.etag}"`);
    const get = await call(`/artifacts/${id}`, ALICE);
    expect(get.headers.get("etag")).toBe(`"${first.etag}"`);
    expect(await get.text()).toBe("one");

    const put = await call(`/artifacts/${id}`, ALICE, {
      method: "PUT",
      body: "two",
      headers: { "if-match": `"${first.etag}"` },
    });
    expect(put.status).toBe(200);
    const second = (await put.json()) as { etag: string; version: number };
    expect(second.version).toBe(2);
    expect(put.headers.get("etag")).toBe(`"${second.etag}"`);

    const stale = await call(`/artifacts/${id}`, ALICE, {
      method: "PUT",
      body: "stale",
      headers: { "if-match": `"${first.etag}"` },
    });
    expect(stale.status).toBe(412);
    expect(((await stale.json()) as { error: { code: string } }).error.code).toBe("PRECONDITION_FAILED");
    const patch = await call(`/artifacts/${id}`, ALICE, {
      method: "PATCH",
      body: JSON.stringify({ summary: "x" }),
      headers: { "content-type": "application/json", "if-match": first.etag },
    });
    expect(patch.status).toBe(412);
    const del = await call(`/artifacts/${id}`, ALICE, {
      method: "DELETE",
      headers: { "if-match": `"${first.etag}"` },
    });
    expect(del.status).toBe(412);
    expect(await (await call(`/artifacts/${id}`, ALICE)).text()).toBe("two");

    const old = await call(`/artifacts/${id}?version=1`, ALICE);
    expect(old.status).toBe(200);
    expect(await old.text()).toBe("one");
    expect(
      ((await (await call(`/artifacts/${id}/metadata?version=1`, ALICE)).json()) as { version: number })
        .version,
    ).toBe(1);
    expect((await call(`/artifacts/${id}?version=7`, ALICE)).status).toBe(404);
    const versions = (await (await call(`/artifacts/${id}/versions`, ALICE)).json()) as {
      versions: { version: number }[];
    };
    expect(versions.versions.map((v) => v.version)).toEqual([2, 1]);
    expect((await call(`/artifacts/${id}/versions`, BOB)).status).toBe(403);
    expect((await call(`/artifacts/${id}?version=1`, BOB)).status).toBe(403);

    const restored = await call(`/artifacts/${id}/versions/1/restore`, ALICE, { method: "POST" });
    expect(restored.status).toBe(200);
    expect(((await restored.json()) as { version: number }).version).toBe(3);
    expect(await (await call(`/artifacts/${id}`, ALICE)).text()).toBe("one");
  });

  it("creates, lists and restores checkpoints of the caller's session only", async () => {
    const { call } = open();
    const up = await call("/artifacts?sessionId=work", ALICE, { method: "POST", body: "a1" });
    const { artifactId } = (await up.json()) as { artifactId: string };
    const created = await call("/sessions/work/checkpoints", ALICE, {
      method: "POST",
      body: JSON.stringify({ name: "start" }),
      headers: { "content-type": "application/json" },
    });
    expect(created.status).toBe(201);
    const cp = (await created.json()) as { checkpointId: string; artifacts: unknown[] };
    expect(cp.artifacts).toHaveLength(1);
    await call(`/artifacts/${artifactId}`, ALICE, { method: "PUT", body: "a2" });
    const later = await call("/artifacts?sessionId=work", ALICE, { method: "POST", body: "extra" });
    const extra = ((await later.json()) as { artifactId: string }).artifactId;
    const list = (await (await call("/sessions/work/checkpoints", ALICE)).json()) as { items: unknown[] };
    expect(list.items).toHaveLength(1);
    expect((await call("/sessions/work/checkpoints", BOB)).status).toBe(404);
    expect(
      (await call(`/sessions/work/checkpoints/${cp.checkpointId}/restore`, BOB, { method: "POST" })).status,
    ).toBe(404);
    const restored = await call(`/sessions/work/checkpoints/${cp.checkpointId}/restore`, ALICE, {
      method: "POST",
    });
    expect(restored.status).toBe(200);
    expect(await restored.json()).toMatchObject({ restored: [artifactId], deleted: [extra] });
    expect(await (await call(`/artifacts/${artifactId}`, ALICE)).text()).toBe("a1");
  });

  it("uploads and lists by scope: the caller's own, and shared ones only an admin writes", async () => {
    const { call } = open();
    const mine = await call("/artifacts?scope=user", ALICE, { method: "POST", body: "profile" });
    expect(mine.status).toBe(201);
    const m = (await mine.json()) as { artifactId: string; scope: string; key: string };
    expect(m.scope).toBe("user");
    expect(m.key).toContain("/_u-alice/");
    const own = (await (await call("/artifacts?scope=user", ALICE)).json()) as {
      items: { artifactId: string }[];
    };
    expect(own.items.map((a) => a.artifactId)).toEqual([m.artifactId]);
    expect(
      ((await (await call("/artifacts?scope=user", BOB)).json()) as { items: unknown[] }).items,
    ).toHaveLength(0);
    expect((await call(`/artifacts/${m.artifactId}`, BOB)).status).toBe(403);

    expect((await call("/artifacts?scope=sandbox", BOB, { method: "POST", body: "nope" })).status).toBe(403);
    const shared = await call("/artifacts?scope=sandbox", ADMIN, { method: "POST", body: "template" });
    expect(shared.status).toBe(201);
    const s = (await shared.json()) as { artifactId: string };
    expect(await (await call(`/artifacts/${s.artifactId}`, BOB)).text()).toBe("template");
    expect((await call(`/artifacts/${s.artifactId}`, BOB, { method: "PUT", body: "mine" })).status).toBe(403);
    const listed = (await (await call("/artifacts?scope=sandbox", BOB)).json()) as {
      items: { artifactId: string }[];
    };
    expect(listed.items.map((a) => a.artifactId)).toEqual([s.artifactId]);
  });
});
