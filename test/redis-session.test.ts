import { createServer, type Server } from "node:net";
import { inspect } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ProviderError } from "../src/errors.js";
import type { SessionRecord } from "../src/sessions/provider.js";
import {
  indexKey,
  RedisSessionProvider,
  recordKey,
  SESSION_GRACE_MS,
  sessionKey,
} from "../src/sessions/redis.js";
import { uniqueSandbox } from "./fixtures.js";
import { makeRecord, makeSession } from "./helpers/records.js";
import { startPrivateRedis } from "./helpers/redis-server.js";

/** The redis session provider against the real redis-server of the test run. */

const redisUrl = inject("services").redisUrl;
const HOUR = 3_600_000;

/** Alice's session, expiring in an hour (the TTL checks below count on it). */
function session(
  sandboxId: string,
  sessionId: string,
  overrides: Partial<SessionRecord> = {},
): SessionRecord {
  return makeSession(sandboxId, sessionId, {
    userId: "alice",
    expiresAt: new Date(Date.now() + HOUR).toISOString(),
    ...overrides,
  });
}

function expectNoSecret(err: unknown, secret: string): void {
  expect(err).toBeInstanceOf(ProviderError);
  const error = err as ProviderError;
  expect(error.message).not.toContain(secret);
  expect(inspect(error, { depth: 20, showHidden: true })).not.toContain(secret);
  expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(secret);
}

async function openFailure(url: string, options = {}): Promise<{ err: unknown; ms: number }> {
  const started = Date.now();
  try {
    const provider = await RedisSessionProvider.open(url, options);
    await provider.close();
  } catch (err) {
    return { err, ms: Date.now() - started };
  }
  throw new Error(`open(${url}) unexpectedly succeeded`);
}

describe.skipIf(!redisUrl)("redis session provider", () => {
  let a: RedisSessionProvider;
  let b: RedisSessionProvider;
  let raw: Redis;

  beforeAll(async () => {
    a = await RedisSessionProvider.open(redisUrl!);
    b = await RedisSessionProvider.open(redisUrl!);
    raw = new Redis(redisUrl!);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    raw?.disconnect();
  });

  it("is shared, describes itself without secrets and passes its health check", async () => {
    expect(a.shared).toBe(true);
    expect(a.describe()).toMatchObject({ url: redisUrl, cluster: false, status: "ready" });
    const health = await a.health();
    expect(health.ok).toBe(true);
    expect(health.detail).toContain("probe key round trip");
  });

  it("sets real TTLs in Redis: a session lives until expiresAt plus the grace period", async () => {
    const sb = uniqueSandbox("ttl");
    expect(await a.create(session(sb, "s1"))).toBe(true);
    const ttl = await raw.pttl(sessionKey(sb, "s1"));
    expect(ttl).toBeGreaterThan(HOUR + SESSION_GRACE_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(HOUR + SESSION_GRACE_MS);
    // The sandbox index outlives its longest session, and no longer.
    const indexTtl = await raw.pttl(indexKey(sb));
    expect(indexTtl).toBeGreaterThanOrEqual(ttl - 1000);

    // Extending moves the TTL; an already expired session stays for the grace period.
    await a.update(session(sb, "s1", { expiresAt: new Date(Date.now() + 48 * HOUR).toISOString() }));
    expect(await raw.pttl(sessionKey(sb, "s1"))).toBeGreaterThan(48 * HOUR + SESSION_GRACE_MS - 60_000);
    expect(await raw.pttl(indexKey(sb))).toBeGreaterThan(48 * HOUR + SESSION_GRACE_MS - 60_000);
    await a.create(session(sb, "old", { expiresAt: new Date(Date.now() - 30 * 86_400_000).toISOString() }));
    const oldTtl = await raw.pttl(sessionKey(sb, "old"));
    expect(oldTtl).toBeGreaterThan(SESSION_GRACE_MS - 60_000);
    expect((await a.get(sb, "old"))?.expiresAt).toBeDefined();

    // Cache entries carry the TTL they were given; none at all for a TTL that has run out.
    const record = makeRecord({ sandboxId: sb, sessionId: "s1" });
    await a.cacheSet(record, 60);
    const cacheTtl = await raw.pttl(recordKey(sb, record.artifactId));
    expect(cacheTtl).toBeGreaterThan(59_000);
    expect(cacheTtl).toBeLessThanOrEqual(60_000);
    await a.cacheSet(record, 0);
    expect(await raw.exists(recordKey(sb, record.artifactId))).toBe(0);
  });

  it("two providers (two connections) see each other's sessions and cache entries", async () => {
    const sb = uniqueSandbox("two");
    const s = session(sb, "shared-1", { meta: { n: 1, nested: { ok: true } } });
    expect(await a.create(s)).toBe(true);
    expect(await b.get(sb, "shared-1")).toEqual(s);
    expect(await b.create(s)).toBe(false);

    const extended = { ...s, expiresAt: new Date(Date.now() + 5 * HOUR).toISOString() };
    await b.update(extended);
    expect(await a.get(sb, "shared-1")).toEqual(extended);

    const record = makeRecord({ sandboxId: sb, sessionId: "shared-1" });
    await a.cacheSet(record, 300);
    expect(await b.cacheGet(sb, record.artifactId)).toEqual(record);
    await b.cacheDelete(sb, record.artifactId);
    expect(await a.cacheGet(sb, record.artifactId)).toBeNull();

    expect(await b.delete(sb, "shared-1")).toBe(true);
    expect(await a.get(sb, "shared-1")).toBeNull();
    expect(await a.delete(sb, "shared-1")).toBe(false);
    expect((await a.list(sb, { limit: 10 })).sessions).toEqual([]);
  });

  it("keeps sandboxes apart", async () => {
    const one = uniqueSandbox("iso");
    const two = uniqueSandbox("iso");
    await a.create(session(one, "same-id", { userId: "alice" }));
    expect(await a.get(two, "same-id")).toBeNull();
    expect(await a.create(session(two, "same-id", { userId: "bob" }))).toBe(true);
    expect((await b.get(one, "same-id"))?.userId).toBe("alice");
    expect((await b.list(two, { limit: 10 })).sessions.map((x) => x.userId)).toEqual(["bob"]);
    const record = makeRecord({ sandboxId: one, sessionId: "same-id" });
    await a.cacheSet(record, 60);
    expect(await a.cacheGet(two, record.artifactId)).toBeNull();
  });

  it("lets exactly one of many concurrent create() calls for one id win", async () => {
    const sb = uniqueSandbox("race");
    for (let round = 0; round < 5; round++) {
      const id = `contended-${round}`;
      const attempts = Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).create(session(sb, id, { userId: `user-${i}` })),
      );
      const results = await Promise.all(attempts);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      expect((await a.get(sb, id))?.userId).toBe(`user-${winner}`);
    }
  });

  it("reads many cache entries in one MGET (one round trip), in order, misses as null", async () => {
    const sb = uniqueSandbox("mget");
    const records = Array.from({ length: 200 }, () => makeRecord({ sandboxId: sb, sessionId: "s" }));
    await a.cacheSetMany(records, 300);
    const ids = [...records.map((r) => r.artifactId), "missing-1", "missing-2"].reverse();

    const monitor = await raw.duplicate().monitor();
    const seen: string[][] = [];
    monitor.on("monitor", (_time: string, args: string[]) => {
      if (args.some((x) => x.includes(`{${sb}/`))) seen.push(args);
    });
    try {
      const got = await b.cacheGetMany(sb, ids);
      expect(got.slice(0, 2)).toEqual([null, null]);
      expect(got.slice(2)).toEqual([...records].reverse());
      // MONITOR reports asynchronously: wait for the command to show up, then for any stragglers.
      for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      monitor.disconnect();
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]!.toLowerCase()).toBe("mget");
    expect(seen[0]).toHaveLength(1 + ids.length);
    expect(await b.cacheGetMany(sb, [])).toEqual([]);
  });

  it("writes many cache entries in one pipelined round trip per sandbox", async () => {
    const one = uniqueSandbox("pipe");
    const two = uniqueSandbox("pipe");
    const records = [
      ...Array.from({ length: 50 }, () => makeRecord({ sandboxId: one, sessionId: "s" })),
      ...Array.from({ length: 50 }, () => makeRecord({ sandboxId: two, sessionId: "s" })),
    ];
    const before = await commandCalls(raw, "set");
    await a.cacheSetMany(records, 120);
    expect(await commandCalls(raw, "set")).toBeGreaterThanOrEqual(before + 100);
    expect(
      await b.cacheGetMany(
        one,
        records.slice(0, 50).map((r) => r.artifactId),
      ),
    ).toEqual(records.slice(0, 50));
    expect(
      await b.cacheGetMany(
        two,
        records.slice(50).map((r) => r.artifactId),
      ),
    ).toEqual(records.slice(50));
  });

  it("treats a malformed or misfiled cached record or session as absent", async () => {
    const sb = uniqueSandbox("bad");
    const record = makeRecord({ sandboxId: sb, sessionId: "s" });
    await raw.set(recordKey(sb, record.artifactId), "{not json", "EX", 60);
    expect(await a.cacheGet(sb, record.artifactId)).toBeNull();
    await raw.set(recordKey(sb, record.artifactId), JSON.stringify({ ...record, bytes: -1 }), "EX", 60);
    expect(await a.cacheGetMany(sb, [record.artifactId])).toEqual([null]);
    // A record filed under another artifact's key is not that artifact.
    await raw.set(recordKey(sb, "other"), JSON.stringify(record), "EX", 60);
    expect(await a.cacheGet(sb, "other")).toBeNull();
    // A record whose key points at another session's bytes is never served.
    const elsewhere = { ...record, key: record.key.replace("/s/", "/victim/") };
    await raw.set(recordKey(sb, record.artifactId), JSON.stringify(elsewhere), "EX", 60);
    expect(await a.cacheGet(sb, record.artifactId)).toBeNull();
    await raw.set(recordKey(sb, record.artifactId), JSON.stringify(record), "EX", 60);
    expect(await a.cacheGet(sb, record.artifactId)).toEqual(record);

    await raw.set(sessionKey(sb, "broken"), JSON.stringify({ sessionId: "broken" }), "EX", 60);
    expect(await a.get(sb, "broken")).toBeNull();
    await raw.set(sessionKey(sb, "elsewhere"), JSON.stringify(session(sb, "not-elsewhere")), "EX", 60);
    expect(await a.get(sb, "elsewhere")).toBeNull();
  });

  it("keeps sessions of the previous key layout (one hash tag per sandbox) readable until they expire", async () => {
    const sb = uniqueSandbox("legacy");
    const old = session(sb, "before-upgrade", { userId: "alice" });
    // As the previous layout wrote it: the session under the sandbox's tag, and its index entry.
    await raw.set(`chuk:{${sb}}:session:before-upgrade`, JSON.stringify(old), "PX", HOUR);
    await raw.zadd(indexKey(sb), 0, "before-upgrade");
    await a.create(session(sb, "after-upgrade"));

    expect(await b.get(sb, "before-upgrade")).toEqual(old);
    expect((await b.list(sb, { limit: 10 })).sessions.map((x) => x.sessionId)).toEqual([
      "after-upgrade",
      "before-upgrade",
    ]);
    // Its id is taken: nobody creates a new session over it.
    expect(await a.create(session(sb, "before-upgrade", { userId: "mallory" }))).toBe(false);
    expect((await a.get(sb, "before-upgrade"))?.userId).toBe("alice");
    // An update moves it to the current layout; a delete removes both.
    await a.update({ ...old, meta: { moved: true } });
    expect(await raw.exists(sessionKey(sb, "before-upgrade"))).toBe(1);
    expect(await a.delete(sb, "before-upgrade")).toBe(true);
    expect(await b.get(sb, "before-upgrade")).toBeNull();
    expect(await raw.exists(`chuk:{${sb}}:session:before-upgrade`)).toBe(0);
    expect((await b.list(sb, { limit: 10 })).sessions.map((x) => x.sessionId)).toEqual(["after-upgrade"]);
  });

  it("lists every session in id order, page by page, skipping and removing stale entries", async () => {
    const sb = uniqueSandbox("list");
    const ids = Array.from({ length: 57 }, (_, i) => `s-${String(i).padStart(3, "0")}`);
    await Promise.all(ids.map((id) => a.create(session(sb, id))));
    // Sessions whose keys have gone (expired in Redis) but whose index entries remain.
    const gone = ids.filter((_, i) => i % 4 === 1);
    await raw.del(...gone.map((id) => sessionKey(sb, id)));
    const live = ids.filter((id) => !gone.includes(id));

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const page = await b.list(sb, { limit: 10, cursor });
      pages.push(page.sessions.map((s) => s.sessionId));
      cursor = page.cursor;
    } while (cursor !== null);
    expect(pages.flat()).toEqual(live);
    expect(pages.slice(0, -1).every((p) => p.length === 10)).toBe(true);
    expect(pages.at(-1)!.length).toBeGreaterThan(0);
    expect(await raw.zcard(indexKey(sb))).toBe(live.length);

    const all = await a.list(sb, { limit: 1000 });
    expect(all.cursor).toBeNull();
    expect(all.sessions).toHaveLength(live.length);
    const exact = await a.list(sb, { limit: live.length });
    expect(exact.cursor).toBeNull();
  });

  it("fails fast with a typed error, and recovers, when Redis goes away and comes back", async () => {
    const server = await startPrivateRedis();
    const provider = await RedisSessionProvider.open(server.url);
    try {
      const sb = uniqueSandbox("outage");
      expect(await provider.create(session(sb, "s"))).toBe(true);
      await server.kill();
      const started = Date.now();
      await expect(provider.get(sb, "s")).rejects.toBeInstanceOf(ProviderError);
      expect(Date.now() - started).toBeLessThan(7000);
      expect((await provider.health()).ok).toBe(false);

      await server.start();
      // Redis came back empty; the same provider reconnects on its own.
      let back = false;
      for (let i = 0; i < 50 && !back; i++) {
        back = await provider.get(sb, "s").then(
          () => true,
          () => false,
        );
        if (!back) await new Promise((r) => setTimeout(r, 100));
      }
      expect(back).toBe(true);
      expect(await provider.get(sb, "s")).toBeNull();
      expect(await provider.create(session(sb, "s"))).toBe(true);
    } finally {
      await provider.close();
      await server.stop();
    }
  });

  it("fails within a few seconds, without the password, when Redis is unreachable", async () => {
    const { err, ms } = await openFailure("redis://:hunter2-secret@127.0.0.1:1/0");
    expect(ms).toBeLessThan(5000);
    expectNoSecret(err, "hunter2-secret");
    expect((err as Error).message).toContain("cannot reach Redis at redis://:***@127.0.0.1:1/0");
    expect((err as Error).message).toContain("SESSION_REDIS_URL");
  });

  it("gives up on a server that accepts connections but never answers", async () => {
    const silent: Server = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    try {
      const quick = await openFailure(`redis://:quiet-secret@127.0.0.1:${port}/0`, {
        connectTimeoutMs: 300,
        commandTimeoutMs: 700,
      });
      expect(quick.ms).toBeLessThan(3000);
      expectNoSecret(quick.err, "quiet-secret");
      // The defaults bound it too.
      const slow = await openFailure(`redis://127.0.0.1:${port}/0`);
      expect(slow.err).toBeInstanceOf(ProviderError);
      expect(slow.ms).toBeLessThan(7000);
    } finally {
      silent.close();
    }
  });

  it("refuses a wrong password with a typed error that does not leak it", async () => {
    const server = await startPrivateRedis({ extraArgs: ["--requirepass", "the-right-one"] });
    try {
      const wrong = await openFailure(`redis://:wrong-horse-battery@127.0.0.1:${server.port}/0`);
      expectNoSecret(wrong.err, "wrong-horse-battery");
      expect((wrong.err as Error).message).toContain("refused the connection");
      expect(wrong.ms).toBeLessThan(5000);

      const none = await openFailure(server.url);
      expect(none.err).toBeInstanceOf(ProviderError);
      expect((none.err as Error).message).toContain("check the user, password and database");

      const noSuchDb = await openFailure(`redis://:the-right-one@127.0.0.1:${server.port}/999`);
      expectNoSecret(noSuchDb.err, "the-right-one");
      expect((noSuchDb.err as Error).message).toContain("DB index is out of range");

      const wrongUser = await openFailure(`redis://nobody:the-right-one@127.0.0.1:${server.port}/0`);
      expectNoSecret(wrongUser.err, "the-right-one");

      const right = await RedisSessionProvider.open(`redis://:the-right-one@127.0.0.1:${server.port}/2`);
      try {
        const sb = uniqueSandbox("auth");
        expect(await right.create(session(sb, "s"))).toBe(true);
        expect((await right.get(sb, "s"))?.userId).toBe("alice");
        expect(JSON.stringify(right.describe())).not.toContain("the-right-one");
        expect((await right.health()).detail).not.toContain("the-right-one");
        // The database in the URL is the one used.
        const check = new Redis({ port: server.port, password: "the-right-one", db: 2 });
        expect(await check.exists(sessionKey(sb, "s"))).toBe(1);
        check.disconnect();
      } finally {
        await right.close();
      }
    } finally {
      await server.stop();
    }
  });

  it("close() quits cleanly and is idempotent; later calls fail with ProviderError", async () => {
    const provider = await RedisSessionProvider.open(redisUrl!);
    const sb = uniqueSandbox("close");
    await provider.create(session(sb, "s"));
    await provider.close();
    await provider.close();
    await expect(provider.get(sb, "s")).rejects.toBeInstanceOf(ProviderError);
    expect((await a.get(sb, "s"))?.sessionId).toBe("s");
  });
});

async function commandCalls(client: Redis, command: string): Promise<number> {
  const info = await client.info("commandstats");
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match ? Number(match[1]) : 0;
}
