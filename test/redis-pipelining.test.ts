import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RedisSessionProvider } from "../src/sessions/redis.js";
import { PipeliningSwitch } from "../src/sessions/redis-pipelining.js";
import { uniqueSandbox } from "./fixtures.js";
import { makeRecord } from "./helpers/records.js";
import { rng } from "./helpers/rng.js";

/** Auto-pipelining switched on and off with the load, against the real redis-server of the run. */

const redisUrl = inject("services").redisUrl;

describe.skipIf(!redisUrl)("auto-pipelining only while busy", () => {
  let client: Redis;

  beforeAll(async () => {
    client = new Redis(redisUrl!, { enableAutoPipelining: true, lazyConnect: true });
    await client.connect();
  });

  afterAll(async () => {
    await client?.quit();
  });

  it("writes lone calls directly, bursts pipelined, and every command in the order issued", async () => {
    const toggle = new PipeliningSwitch(client);
    const key = `pipelining-test:${uniqueSandbox("order")}`;
    const r = rng(7);
    let issued = 0;
    const seen = { direct: 0, pipelined: 0 };
    // One call issuing `commands` RPUSHes at once, as the session provider's calls do.
    const call = async (commands: number) => {
      toggle.starting(commands);
      seen[client.options.enableAutoPipelining ? "pipelined" : "direct"]++;
      try {
        await Promise.all(Array.from({ length: commands }, () => client.rpush(key, String(issued++))));
      } finally {
        toggle.ended();
      }
    };
    for (let round = 0; round < 300; round++) {
      // Lone calls, some after a quiet spell, and bursts of up to 40 overlapping ones, some batches.
      if (r.next() < 0.3) await new Promise((resolve) => setTimeout(resolve, 2));
      const burst = r.next() < 0.5 ? 1 : 1 + Math.floor(r.next() * 40);
      await Promise.all(
        Array.from({ length: burst }, () => call(r.next() < 0.2 ? 2 + Math.floor(r.next() * 3) : 1)),
      );
    }
    const stored = await client.lrange(key, 0, -1);
    await client.del(key);
    expect(stored).toEqual(Array.from({ length: issued }, (_, i) => String(i)));
    expect(seen.direct).toBeGreaterThan(50);
    expect(seen.pipelined).toBeGreaterThan(50);
  });

  it("writes the lone calls of one tick in one socket write, in order", async () => {
    const toggle = new PipeliningSwitch(client);
    const key = `pipelining-test:${uniqueSandbox("tick")}`;
    // The socket's own writes: each is one write(2) of what it was given.
    const socket = client.stream as unknown as Record<"_write" | "_writev", (...args: unknown[]) => void>;
    const writes: number[] = [];
    const original = { write: socket._write, writev: socket._writev };
    socket._write = function (this: unknown, ...args: unknown[]) {
      writes.push(1);
      original.write.apply(this, args);
    };
    socket._writev = function (this: unknown, ...args: unknown[]) {
      writes.push((args[0] as unknown[]).length);
      original.writev.apply(this, args);
    };
    const modes = new Set<boolean | undefined>();
    const call = async (value: string) => {
      toggle.starting(1);
      modes.add(client.options.enableAutoPipelining);
      try {
        return await client.rpush(key, value);
      } finally {
        toggle.ended();
      }
    };
    try {
      for (let round = 0; round < 20; round++) {
        // Idle first, so each call is written directly; the second is issued a few promise steps later.
        await new Promise((resolve) => setTimeout(resolve, 3));
        writes.length = 0;
        const first = call(`${round}a`);
        await Promise.resolve();
        await Promise.resolve();
        const second = call(`${round}b`);
        await Promise.all([first, second]);
        expect(writes).toEqual([2]);
      }
      expect([...modes]).toEqual([false]);
    } finally {
      socket._write = original.write;
      socket._writev = original.writev;
    }
    const stored = await client.lrange(key, 0, -1);
    await client.del(key);
    expect(stored).toEqual(Array.from({ length: 20 }, (_, i) => [`${i}a`, `${i}b`]).flat());
  });

  it("leaves a client it cannot read as configured", () => {
    const options = { enableAutoPipelining: true };
    const toggle = new PipeliningSwitch({ options });
    toggle.starting(1);
    toggle.ended();
    toggle.starting(1);
    expect(options.enableAutoPipelining).toBe(true);
  });

  it("keeps the record cache in issue order through lone calls and bursts", async () => {
    const provider = await RedisSessionProvider.open(redisUrl!);
    try {
      const sandboxId = uniqueSandbox("pipe");
      const r = rng(11);
      for (let round = 0; round < 60; round++) {
        const id = `a${round}`;
        const writes = r.next() < 0.5 ? 1 : 2 + Math.floor(r.next() * 30);
        let last: "set" | "delete" = "delete";
        let summary = "";
        const pending: Promise<void>[] = [];
        for (let i = 0; i < writes; i++) {
          if (r.next() < 0.3) {
            last = "delete";
            pending.push(provider.cacheDelete(sandboxId, id));
          } else {
            last = "set";
            summary = `write ${i}`;
            pending.push(
              provider.cacheSet(makeRecord({ sandboxId, sessionId: "s1", artifactId: id }, { summary }), 60),
            );
          }
        }
        await Promise.all(pending);
        const cached = await provider.cacheGet(sandboxId, id);
        if (last === "delete") expect(cached).toBeNull();
        else expect(cached?.summary).toBe(summary);
      }
    } finally {
      await provider.close();
    }
  });
});
