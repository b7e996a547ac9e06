import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RedisSessionProvider } from "../src/sessions/redis.js";
import { PipeliningSwitch } from "../src/sessions/redis-pipelining.js";
import { ReadBatch } from "../src/sessions/redis-read-batch.js";
import { uniqueSandbox } from "./fixtures.js";
import { makeRecord } from "./helpers/records.js";
import { watchedClient } from "./helpers/redis-watch.js";

/** Cache reads of one tick sent as one MGET, against the real redis-server of the run. */

const redisUrl = inject("services").redisUrl;

describe.skipIf(!redisUrl)("cache reads batched per tick", () => {
  let plain: Redis;
  const prefix = `read-batch-test:${uniqueSandbox("batch")}`;
  const keys = Array.from({ length: 300 }, (_, i) => `${prefix}:${i}`);

  beforeAll(async () => {
    plain = new Redis(redisUrl!);
    // Even keys hold a value of their own; odd ones are absent.
    for (let i = 0; i < keys.length; i += 2) await plain.set(keys[i]!, `value ${i}`, "PX", 60_000);
  });

  afterAll(async () => {
    await plain?.quit();
  });

  it("answers the reads of one tick with one MGET, each with its own value", async () => {
    const { client, sent } = await watchedClient(redisUrl!);
    const batch = new ReadBatch(client);
    const values = await Promise.all(keys.slice(0, 40).map((key) => batch.get(key)));
    expect(values).toEqual(keys.slice(0, 40).map((_, i) => (i % 2 === 0 ? `value ${i}` : null)));
    expect(sent).toEqual(["mget 40"]);
    await client.quit();
  });

  it("sends a lone read as a GET, and more than 128 reads as several MGETs", async () => {
    const { client, sent } = await watchedClient(redisUrl!);
    const batch = new ReadBatch(client);
    expect(await batch.get(keys[4]!)).toBe("value 4");
    expect(sent).toEqual(["get 1"]);
    sent.length = 0;
    const values = await Promise.all(keys.map((key) => batch.get(key)));
    expect(values).toEqual(keys.map((_, i) => (i % 2 === 0 ? `value ${i}` : null)));
    expect(sent).toEqual(["mget 128", "mget 128", "mget 44"]);
    await client.quit();
  });

  it("fails every read of a batch when its MGET fails", async () => {
    const { client } = await watchedClient(redisUrl!);
    const batch = new ReadBatch(client);
    client.disconnect();
    const outcomes = await Promise.allSettled(keys.slice(0, 5).map((key) => batch.get(key)));
    expect(outcomes.map((o) => o.status)).toEqual(Array(5).fill("rejected"));
  });

  it("writes a batch at once on an auto-pipelining client, yet behind the commands waiting before it", async () => {
    const client = new Redis(redisUrl!, { enableAutoPipelining: true, lazyConnect: true });
    await client.connect();
    const waiting = (client as unknown as { _autoPipelines: Map<unknown, unknown> })._autoPipelines;
    const toggle = new PipeliningSwitch(client);
    const batch = new ReadBatch(client, (write) => toggle.directly(write));
    const key = `${prefix}:ordered`;
    try {
      // Nothing waiting: the MGET is written as the tick ends, not queued for a setImmediate.
      const read = Promise.all([batch.get(keys[0]!), batch.get(keys[2]!)]);
      await new Promise<void>((resolve) => process.nextTick(resolve));
      expect(waiting.size).toBe(0);
      expect(await read).toEqual(["value 0", "value 2"]);
      expect(client.options.enableAutoPipelining).toBe(true);
      // A write waiting in an auto-pipeline: the read issued after it queues behind it and sees it.
      for (let round = 0; round < 20; round++) {
        const written = client.set(key, `round ${round}`, "PX", 60_000);
        expect(waiting.size).toBe(1);
        const [seen] = await Promise.all([batch.get(key), written]);
        expect(seen).toBe(`round ${round}`);
      }
    } finally {
      await client.quit();
    }
  });

  it("gives each of many concurrent cache reads its own record, and null for a missing one", async () => {
    const provider = await RedisSessionProvider.open(redisUrl!);
    try {
      const sandboxId = uniqueSandbox("batch");
      const records = Array.from({ length: 30 }, (_, i) =>
        makeRecord({ sandboxId, sessionId: `s${i % 3}` }, { summary: `record ${i}` }),
      );
      await provider.cacheSetMany(records, 60);
      const ids = [...records.map((r) => r.artifactId), "missing-artifact"];
      const read = await Promise.all(ids.map((id) => provider.cacheGet(sandboxId, id)));
      expect(read.slice(0, 30).map((r) => r?.summary)).toEqual(records.map((r) => r.summary));
      expect(read.slice(0, 30).map((r) => r?.artifactId)).toEqual(records.map((r) => r.artifactId));
      expect(read[30]).toBeNull();
    } finally {
      await provider.close();
    }
  });
});
