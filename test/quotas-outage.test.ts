import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { QuotaExceededError } from "../src/errors.js";
import type { SessionBreaker } from "../src/sessions/breaker.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { type PrivateRedis, startPrivateRedis } from "./helpers/redis-server.js";

/**
 * Quotas and search while Redis is dead (SIGKILL of a private redis-server) and after it comes
 * back empty: writes go on, checked against this process's own count from storage; searches scan
 * storage; afterwards the shared counters and the index are rebuilt from storage, not zero.
 */

describe.skipIf(inject("services").redisUrl === null)("quotas and search during a Redis outage", () => {
  let redis: PrivateRedis;
  let dir: string;
  let store: ArtifactStore;

  beforeAll(async () => {
    redis = await startPrivateRedis();
    dir = await mkdtemp(join(tmpdir(), "chuk-quota-outage-"));
    store = new ArtifactStore({
      storageProvider: "filesystem",
      fsRoot: dir,
      sessionProvider: "redis",
      redisUrl: redis.url,
      sandboxId: uniqueSandbox("qout"),
      defaultTtl: null,
      quotas: { user: { bytes: 1000 } },
    });
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps enforcing per process, keeps finding, and recounts once Redis is back", async () => {
    await store.store(Buffer.alloc(300), { userId: "alice", filename: "a.bin" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 300, artifacts: 1 });

    await redis.kill();
    await store.store(Buffer.alloc(300), { userId: "alice", filename: "b.bin" });
    await expect(
      store.store(Buffer.alloc(500), { userId: "alice", filename: "c.bin" }),
    ).rejects.toBeInstanceOf(QuotaExceededError);
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 600, artifacts: 2 });
    const found = await store.search({ userId: "alice", filename: "*.bin" });
    expect(found.items.map((m) => m.filename)).toEqual(["b.bin", "a.bin"]);

    await redis.start();
    const breaker = (await store.backends()).sessions as SessionBreaker;
    for (let i = 0; i < 40 && breaker.status().state !== "closed"; i++) {
      await store.validateConfiguration();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(breaker.status().state).toBe("closed");
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 600, artifacts: 2 });
    await expect(store.store(Buffer.alloc(401), { userId: "alice" })).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    await store.store(Buffer.alloc(400), { userId: "alice", filename: "d.bin" });
    const after = await store.search({ userId: "alice", filename: "*.bin" });
    expect(after.items.map((m) => m.filename)).toEqual(["d.bin", "b.bin", "a.bin"]);
  }, 60_000);
});
