import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { afterEach, beforeEach, describe, expect, inject, test, vi } from "vitest";
import type { ArtifactStoreOptions } from "../src/config.js";
import { RecordStore } from "../src/records.js";
import { ArtifactStore } from "../src/store.js";
import { storeConfigs, uniqueSandbox } from "./fixtures.js";
import { KEY_ENV, s3RedisEnv, startServer } from "./http-harness.js";

// Redis keeps the search index only for sandboxes that search (src/search/search.ts): until the
// first search turns the sandbox's switch on, writes skip the index, and until the switch has
// settled searches scan storage. Two stores of one sandbox stand for two processes.
const s3 = storeConfigs().find((f) => f.name === "s3+redis");

describe.skipIf(!s3)("search indexing switch on S3 + Redis", () => {
  let options: ArtifactStoreOptions;
  let stores: ArtifactStore[];
  let redis: Redis;

  beforeEach(async () => {
    options = { ...(await s3!.open()), defaultTtl: null };
    stores = [new ArtifactStore(options), new ArtifactStore(options)];
    await Promise.all(stores.map((s) => s.backends()));
    redis = new Redis(inject("services").redisUrl!);
  });

  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
    redis.disconnect();
  });

  /** The sandbox's search-index keys in Redis, switch aside. */
  async function indexKeys(): Promise<string[]> {
    const found: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(
        cursor,
        "MATCH",
        `chuk:{${options.sandboxId}/*:find*`,
        "COUNT",
        1000,
      );
      found.push(...keys);
      cursor = next;
    } while (cursor !== "0");
    return found;
  }

  async function allOf(store: ArtifactStore, userId: string): Promise<string[]> {
    const page = await store.search({ userId }, { limit: 1000 });
    expect(page.cursor).toBeNull();
    return page.items.map((m) => m.artifactId).sort();
  }

  test("a sandbox nobody searched keeps no index; its first search turns indexing on for every process", async () => {
    const [a, b] = stores as [ArtifactStore, ArtifactStore];
    const stored: string[] = [];
    for (let i = 0; i < 4; i++) {
      stored.push(await a.store(`a ${i}`, { userId: "ann", sessionId: "ann-a", filename: `a${i}.txt` }));
      stored.push(await b.store(`b ${i}`, { userId: "ann", sessionId: "ann-b", filename: `b${i}.txt` }));
    }
    expect(await indexKeys()).toEqual([]);

    // The other process keeps writing throughout, with the "off" it read before the switch.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        stored.push(
          await b.store(`late ${i}`, { userId: "ann", sessionId: "ann-b", filename: `late${i}.txt` }),
        );
        await sleep(40);
      }
    })();

    // The first search answers from storage, and turns the switch on.
    const lists = vi.spyOn(RecordStore.prototype, "list");
    try {
      const first = await allOf(a, "ann");
      expect(first.length).toBeGreaterThanOrEqual(8);
      expect(lists.mock.calls.some(([, o]) => o.limit > 1)).toBe(true);
      expect(await redis.get(`chuk:{${options.sandboxId}}:find-on`)).toBe("1");
      expect(await redis.exists(`chuk:{${options.sandboxId}}:find-settling`)).toBe(1);

      // Settled: every process indexes. The first search after it builds the area from storage,
      // and holds every artifact, those the other process wrote while it still skipped the index too.
      await a.warmSearchIndex();
      await sleep(300);
      writing = false;
      await writer;
      expect(stored.length).toBeGreaterThan(20);
      expect(await allOf(a, "ann")).toEqual([...stored].sort());
      expect((await indexKeys()).length).toBeGreaterThan(0);

      // From now on the index answers, and follows both processes' writes.
      lists.mockClear();
      stored.push(await b.store("after", { userId: "ann", sessionId: "ann-b", filename: "after.txt" }));
      await b.delete(stored[0]!);
      stored.shift();
      expect(await allOf(a, "ann")).toEqual([...stored].sort());
      expect(await allOf(b, "ann")).toEqual([...stored].sort());
      expect(lists.mock.calls.filter(([, o]) => o.limit !== 1)).toEqual([]);
    } finally {
      writing = false;
      await writer;
      lists.mockRestore();
    }
  }, 60_000);

  test("warmSearchIndex turns indexing on as a process starts: writes are indexed as they go", async () => {
    const [a, b] = stores as [ArtifactStore, ArtifactStore];
    expect(await a.warmSearchIndex()).toBe(false);
    // It waited for the switch to settle, and the empty sandbox needs no build from storage.
    expect(await redis.get(`chuk:{${options.sandboxId}}:find-on`)).toBe("1");
    expect(await redis.exists(`chuk:{${options.sandboxId}}:find-settling`)).toBe(0);
    expect(await redis.get(`chuk:{${options.sandboxId}}:find-from-empty`)).toBe("2");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await b.store(`w ${i}`, { userId: "cy", sessionId: "cy-s" }));
    const lists = vi.spyOn(RecordStore.prototype, "list");
    try {
      expect(await allOf(a, "cy")).toEqual(ids.sort());
      expect(lists.mock.calls.filter(([, o]) => o.limit !== 1)).toEqual([]);
    } finally {
      lists.mockRestore();
    }
    // Settled already: the other store's call leaves the switch and the mark as they are.
    expect(await b.warmSearchIndex()).toBe(false);
    expect(await redis.exists(`chuk:{${options.sandboxId}}:find-settling`)).toBe(0);
    expect(await redis.get(`chuk:{${options.sandboxId}}:find-from-empty`)).toBe("2");
  }, 30_000);

  test("marks an older version left, an area built and the sandbox indexed from empty, do not count", async () => {
    const [a] = stores as [ArtifactStore];
    // An older version indexed every write with no switch, and marked areas built so.
    await redis.set(`chuk:{${options.sandboxId}/user:bob}:find-state`, "built:2");
    await redis.set(`chuk:{${options.sandboxId}}:find-from-empty`, "1");
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await a.store(`n ${i}`, { userId: "bob", sessionId: "bob-s" }));
    expect(await allOf(a, "bob")).toEqual(ids.sort());
    await a.warmSearchIndex();
    expect(await allOf(a, "bob")).toEqual(ids);
    expect(await redis.get(`chuk:{${options.sandboxId}/user:bob}:find-state`)).toBe("built:3");
  }, 30_000);
});

describe.skipIf(!s3RedisEnv())("serve on S3 + Redis", () => {
  test("turns its sandbox's search index on as it starts, as a server that answers searches", async () => {
    const sandboxId = uniqueSandbox("serve-sw");
    const redis = new Redis(inject("services").redisUrl!);
    const server = await startServer({
      env: { ...KEY_ENV, ...s3RedisEnv()!, ARTIFACT_SANDBOX_ID: sandboxId },
    });
    try {
      // In the background: wait (up to the test's timeout) for the from-empty mark, which it sets
      // only once the switch has settled.
      while ((await redis.get(`chuk:{${sandboxId}}:find-from-empty`)) !== "2") await sleep(100);
      expect(await redis.get(`chuk:{${sandboxId}}:find-on`)).toBe("1");
      expect(await redis.exists(`chuk:{${sandboxId}}:find-settling`)).toBe(0);
    } finally {
      await server.stop();
      redis.disconnect();
    }
  }, 30_000);
});
