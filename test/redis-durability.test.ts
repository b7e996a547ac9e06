import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mapLimit } from "../src/concurrency.js";
import type { ArtifactStoreOptions } from "../src/config.js";
import { AccessDeniedError, ProviderError, SessionError } from "../src/errors.js";
import { sessionKey } from "../src/sessions/redis.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { type PrivateRedis, startPrivateRedis } from "./helpers/redis-server.js";

/**
 * Redis holds sessions and a record cache, never the only copy of anything: losing it (FLUSHALL,
 * a crash mid-write) loses no artifact and leaves no half-stored one visible. Each test runs on a
 * private redis-server so flushing and killing it never disturbs suites sharing the main one.
 */

const services = inject("services");

interface StorageSetup {
  name: string;
  options(): Promise<ArtifactStoreOptions>;
}

const temp: string[] = [];
const storages: StorageSetup[] = [
  {
    name: "filesystem",
    async options() {
      const dir = await mkdtemp(join(tmpdir(), "chuk-durable-"));
      temp.push(dir);
      return { storageProvider: "filesystem", fsRoot: dir };
    },
  },
];
const s3 = services.s3;
if (s3) {
  storages.push({
    name: "s3",
    options: async () => ({
      storageProvider: "s3",
      s3: {
        bucket: s3.bucket,
        region: s3.region,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
      },
    }),
  });
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

afterAll(async () => {
  await Promise.all(temp.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe.skipIf(!services.redisUrl).each(storages)("durability with redis sessions over $name", (storage) => {
  let redis: PrivateRedis;
  let raw: Redis;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    raw = new Redis(redis.port, "127.0.0.1");
    raw.on("error", () => {}); // this test kills the server on purpose
  });
  afterAll(async () => {
    raw?.disconnect();
    await redis?.stop();
  });

  async function openStore(): Promise<ArtifactStore> {
    return new ArtifactStore({
      ...(await storage.options()),
      sessionProvider: "redis",
      redisUrl: redis.url,
      sandboxId: uniqueSandbox("dur"),
    });
  }

  async function keysOf(sandboxId: string): Promise<string[]> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const [next, batch] = await raw.scan(cursor, "MATCH", `chuk:{${sandboxId}[}/]*`, "COUNT", 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0");
    return keys;
  }

  it("loses nothing when Redis is flushed: 1,000 artifacts stay readable, listable and owned", async () => {
    const store = await openStore();
    try {
      const sessions = 10;
      const items = Array.from({ length: 1000 }, (_, i) => ({
        i,
        sessionId: `dur-${i % sessions}`,
        userId: `owner-${i % sessions}`,
        data: Buffer.concat([Buffer.from(`artifact ${i}\n`), randomBytes(64 + (i % 200))]),
      }));
      const ids = await mapLimit(items, 16, (item) =>
        store.store(item.data, {
          sessionId: item.sessionId,
          userId: item.userId,
          mime: "text/plain",
          filename: `docs/file-${item.i}.txt`,
          summary: `artifact number ${item.i}`,
          meta: { i: item.i, tags: ["durable"] },
        }),
      );
      expect(new Set(ids).size).toBe(1000);
      // Redis really held the sessions and cached records before it was flushed.
      const before = await keysOf(store.sandboxId);
      // (A cache write is skipped while the session breaker is open, as on a starved machine.)
      expect(before.filter((k) => k.endsWith(":rec")).length).toBeGreaterThanOrEqual(900);
      expect(before.filter((k) => k.endsWith(":session")).length).toBe(sessions);

      await raw.flushall();
      expect(await keysOf(store.sandboxId)).toEqual([]);

      await mapLimit(items, 16, async (item, n) => {
        const id = ids[n]!;
        const meta = await store.metadata(id, { userId: item.userId });
        expect(meta).toMatchObject({
          artifactId: id,
          sessionId: item.sessionId,
          sandboxId: store.sandboxId,
          mime: "text/plain",
          filename: `docs/file-${item.i}.txt`,
          summary: `artifact number ${item.i}`,
          meta: { i: item.i, tags: ["durable"] },
          bytes: item.data.byteLength,
          sha256: sha256(item.data),
          userId: item.userId,
          sessionProvider: "redis",
        });
        expect(Buffer.compare(await store.retrieve(id, { sessionId: item.sessionId }), item.data)).toBe(0);
      });
      for (let s = 0; s < sessions; s++) {
        const listed = await store.listBySession(`dur-${s}`, { userId: `owner-${s}` });
        const expected = ids.filter((_, n) => n % sessions === s);
        expect(listed.map((m) => m.artifactId).sort()).toEqual([...expected].sort());
        // Paging works the same without Redis's help.
        const first = await store.listBySession(`dur-${s}`, { limit: 37 });
        expect(first).toHaveLength(37);
        expect(first.cursor).not.toBeNull();
      }

      // Ownership survived the loss: rebuilt from what storage recorded with each artifact.
      await expect(store.metadata(ids[0]!, { userId: "intruder" })).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.retrieve(ids[1]!, { userId: "owner-0" })).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.listBySession("dur-2", { userId: "intruder" })).rejects.toBeInstanceOf(
        AccessDeniedError,
      );
      await expect(store.store("sneaky", { sessionId: "dur-3", userId: "intruder" })).rejects.toBeInstanceOf(
        AccessDeniedError,
      );
      // … and the sessions are back in Redis with their owners.
      const session = JSON.parse((await raw.get(sessionKey(store.sandboxId, "dur-0"))) ?? "null");
      expect(session).toMatchObject({ sessionId: "dur-0", userId: "owner-0" });
    } finally {
      await store.close();
    }
  }, 180_000);

  it("a named session with no artifact yet keeps its owner through a flush", async () => {
    const store = await openStore();
    try {
      await store.createSession({ sessionId: "empty-owned", userId: "alice" });
      await store.presignUpload({ sessionId: "reserved-only", userId: "bob" });
      await raw.flushall();
      // Nobody else can claim them by writing first…
      await expect(
        store.store("squat", { sessionId: "empty-owned", userId: "mallory" }),
      ).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(
        store.store("squat", { sessionId: "reserved-only", userId: "mallory" }),
      ).rejects.toBeInstanceOf(AccessDeniedError);
      // …while their owners still can.
      const id = await store.store("mine", { sessionId: "empty-owned", userId: "alice" });
      expect(await store.readFile(id, { userId: "alice" })).toBe("mine");
      expect((await store.getSessionInfo("reserved-only"))?.userId).toBe("bob");
    } finally {
      await store.close();
    }
  });

  it("Redis killed with 200 stores in flight: what resolved is readable, what failed is typed and invisible", async () => {
    const store = await openStore();
    try {
      const sessions = ["k-0", "k-1", "k-2", "k-3"];
      await store.store("warm-up", { sessionId: "k-warm", userId: "owner" }); // connects the providers

      const items = Array.from({ length: 200 }, (_, i) => ({
        sessionId: sessions[i % sessions.length]!,
        userId: `owner-${i % sessions.length}`,
        data: randomBytes(2048 + i),
      }));
      let settled = 0;
      let killed: Promise<void> | null = null;
      let killSent = () => {};
      const afterKill = new Promise<void>((resolve) => {
        killSent = resolve;
      });
      const outcomes = await Promise.allSettled(
        items.map(async (item, i) => {
          // Staggered starts, so the crash finds stores at every stage (looking up their session,
          // writing to storage, filling the cache) on fast and slow storage alike: the second
          // half waits for the crash.
          await new Promise((r) => setTimeout(r, (i % 100) * 2));
          if (i >= 100) await afterKill;
          try {
            return await store.store(item.data, { sessionId: item.sessionId, userId: item.userId });
          } finally {
            // Crash Redis (SIGKILL) once a few stores have gone through.
            if (++settled === 15) {
              killed = redis.kill();
              killSent();
            }
          }
        }),
      );
      await killed;
      const resolved = outcomes.flatMap((o, i) =>
        o.status === "fulfilled" ? [{ id: o.value, item: items[i]! }] : [],
      );
      const failures = outcomes.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
      expect(resolved.length).toBeGreaterThanOrEqual(15);
      // Since sessions sit behind a circuit breaker, most stores go ahead from storage during the
      // outage; whichever fail (a session with no artifact yet cannot be owned safely) are typed.
      for (const err of failures) {
        expect(err instanceof ProviderError || err instanceof SessionError, String(err)).toBe(true);
      }

      await redis.start();
      for (let i = 0; i < 50 && (await store.validateConfiguration()).session.status !== "ok"; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await store.validateConfiguration()).session.status).toBe("ok");

      for (const { id, item } of resolved) {
        expect(Buffer.compare(await store.retrieve(id, { userId: item.userId }), item.data)).toBe(0);
      }
      for (const sessionId of sessions) {
        const listed = (await store.listBySession(sessionId)).map((m) => m.artifactId).sort();
        const expected = resolved.filter((r) => r.item.sessionId === sessionId).map((r) => r.id);
        expect(listed).toEqual(expected.sort());
      }
      console.log(
        `redis killed mid-write (${storage.name}): ${resolved.length} stores resolved, ${failures.length} failed (${[
          ...new Set(failures.map((e) => (e as Error).name)),
        ].join(", ")})`,
      );
    } finally {
      await store.close();
    }
  }, 120_000);
});
