import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from "vitest";
import { ArtifactStore, type ArtifactStoreOptions } from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";
import { forgetSandboxInRedis } from "./helpers/redis-keys.js";

/**
 * Two processes race writes against one user's quota through a shared Redis. With known sizes
 * the reservation is atomic in Redis, so the total never passes the limit; the test allows one
 * item of slack, the most the quota promises.
 */

const repo = resolve(import.meta.dirname, "..");
const distIndex = join(repo, "dist", "index.js");

// Stores `count` items of `size` bytes, `parallel` at a time; prints how many were accepted and refused.
const WORKER = `
const { ArtifactStore } = await import(process.env.CHUK_DIST_URL);
const store = new ArtifactStore(JSON.parse(process.env.CHUK_STORE_OPTIONS));
const { count, size, parallel } = JSON.parse(process.env.CHUK_RACE);
let next = 0, accepted = 0, refused = 0;
const other = [];
await Promise.all(Array.from({ length: parallel }, async () => {
  while (next < count) {
    next++;
    try { await store.store(Buffer.alloc(size, 7), { userId: "racer" }); accepted++; }
    catch (err) { if (err.code === "QUOTA_EXCEEDED") refused++; else other.push(err.message); }
  }
}));
await store.close();
process.stdout.write(JSON.stringify({ accepted, refused, other }) + "\\n");
`;

interface RaceResult {
  accepted: number;
  refused: number;
  other: string[];
}

function race(
  script: string,
  options: ArtifactStoreOptions,
  count: number,
  size: number,
): Promise<RaceResult> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      CHUK_DIST_URL: pathToFileURL(distIndex).href,
      CHUK_STORE_OPTIONS: JSON.stringify(options),
      CHUK_RACE: JSON.stringify({ count, size, parallel: 6 }),
    },
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((done, fail) => {
    let answer: RaceResult | null = null;
    createInterface({ input: child.stdout }).on("line", (line) => {
      answer = JSON.parse(line) as RaceResult;
    });
    child.on("exit", (code) => (answer ? done(answer) : fail(new Error(`worker exited ${code}: ${stderr}`))));
  });
}

const LIMIT = 20_000;
const SIZE = 1000;

const configs = (): Fixture<ArtifactStoreOptions>[] => {
  const redisUrl = inject("services").redisUrl;
  if (!redisUrl) return [];
  const list = storeConfigs().filter((f) => f.name === "s3+redis");
  const fs = storeConfigs().find((f) => f.name === "filesystem")!;
  list.push({
    name: "filesystem+redis",
    open: async () => ({ ...(await fs.open()), sessionProvider: "redis" as const, redisUrl }),
    dispose: () => fs.dispose(),
  });
  return list;
};

describe.skipIf(!inject("services").redisUrl).each(configs().map((f) => f.name))(
  "quota raced from two processes on %s",
  (name) => {
    let dir: string;
    let script: string;
    let fixture: Fixture<ArtifactStoreOptions>;

    beforeAll(async () => {
      if (!existsSync(distIndex)) throw new Error(`${distIndex} is missing: run "npm run build" first`);
      dir = await mkdtemp(join(tmpdir(), "chuk-race-"));
      script = join(dir, "race.mjs");
      await writeFile(script, WORKER);
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    afterEach(async () => {
      await fixture.dispose();
    });

    async function storedBytes(
      options: ArtifactStoreOptions,
    ): Promise<{ bytes: number; count: number; usage: unknown }> {
      const store = new ArtifactStore(options);
      try {
        const items = await store.listBySession("user_racer");
        return {
          bytes: items.reduce((n, m) => n + m.bytes, 0),
          count: items.length,
          usage: await store.getUsage({ userId: "racer" }),
        };
      } finally {
        await store.close();
      }
    }

    test("the total never passes the limit, also after Redis loses the counters mid-way", async () => {
      fixture = configs().find((f) => f.name === name)!;
      const options: ArtifactStoreOptions = {
        ...(await fixture.open()),
        defaultTtl: null,
        quotas: { user: { bytes: LIMIT } },
      };
      // Round one: a third of the quota, from both processes at once.
      const first = await Promise.all([race(script, options, 4, SIZE), race(script, options, 3, SIZE)]);
      expect(first.flatMap((r) => r.other)).toEqual([]);
      expect(first.reduce((n, r) => n + r.accepted, 0)).toBe(7);

      // The counters vanish (a flush), then both race for far more than is left.
      await forgetSandboxInRedis(inject("services").redisUrl!, options.sandboxId!);
      const second = await Promise.all([race(script, options, 20, SIZE), race(script, options, 20, SIZE)]);
      expect(second.flatMap((r) => r.other)).toEqual([]);
      const accepted = second.reduce((n, r) => n + r.accepted, 0);
      const refused = second.reduce((n, r) => n + r.refused, 0);
      expect(refused).toBeGreaterThan(0);

      const stored = await storedBytes(options);
      expect(stored.count).toBe(7 + accepted);
      expect(stored.bytes).toBeLessThanOrEqual(LIMIT + SIZE);
      // Known sizes are reserved atomically: in fact the limit is met exactly, not passed.
      expect(stored.bytes).toBe(LIMIT);
      expect(stored.usage).toEqual({ bytes: stored.bytes, artifacts: stored.count });
    }, 120_000);
  },
);
