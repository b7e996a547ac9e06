import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import { type PrivateRedis, startPrivateRedis } from "./helpers/redis-server.js";

/**
 * A process whose Redis went away while it ran still exits by itself once its store is closed: no
 * client of the store's is left reconnecting — the change publisher included, whose first connect
 * came while Redis was down. Run as a child process of the built package, as users run it.
 */

const distIndex = join(resolve(import.meta.dirname, ".."), "dist", "index.js");

const CHILD = `
import { createInterface } from "node:readline";
const { ArtifactStore } = await import(process.env.DIST_URL);
const store = new ArtifactStore({
  storageProvider: "memory",
  sessionProvider: "redis",
  redisUrl: process.env.REDIS_URL,
  sandboxId: process.env.SANDBOX,
});
await store.backends();
console.log("opened");
const lines = createInterface({ input: process.stdin });
for await (const _ of lines) break;
// Redis is gone: a store into the user's own session still works, and publishes its change.
const id = await store.store("while Redis is down", { sessionId: "user_erin", userId: "erin" });
console.log("stored", id.length);
await store.close();
console.log("closed");
`;

describe("closing a store after Redis went away", () => {
  let redis: PrivateRedis;
  let dir: string;

  beforeAll(async () => {
    if (!existsSync(distIndex)) throw new Error(`${distIndex} is missing: run "npm run build" first`);
    redis = await startPrivateRedis();
    dir = await mkdtemp(join(tmpdir(), "chuk-exit-"));
    await writeFile(join(dir, "child.mjs"), CHILD);
  });

  afterAll(async () => {
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("lets the process exit on its own", async () => {
    const child = spawn(process.execPath, [join(dir, "child.mjs")], {
      env: {
        ...process.env,
        DIST_URL: pathToFileURL(distIndex).href,
        REDIS_URL: redis.url,
        SANDBOX: uniqueSandbox("exit"),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const said: string[] = [];
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    const opened = new Promise<void>((done) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        said.push(line);
        if (line === "opened") done();
      });
    });
    try {
      await opened;
      await redis.kill();
      child.stdin.end("go\n");
      const timedOut = new Promise<"timeout">((done) => setTimeout(() => done("timeout"), 20_000).unref());
      const code = await Promise.race([exited, timedOut]);
      expect(said).toEqual(["opened", "stored 32", "closed"]);
      expect(code).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
