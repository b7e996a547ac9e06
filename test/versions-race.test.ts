/**
 * Two processes racing content writes on one artifact (the built package, dist/, in each): every
 * write either side acknowledged is a distinct version that reads back with exactly its bytes —
 * no number taken twice, no acknowledged version lost. On the filesystem and on S3 (RGW) + Redis.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ArtifactStore, type ArtifactStoreOptions } from "../src/index.js";
import { storeConfigs } from "./fixtures.js";

const repo = resolve(import.meta.dirname, "..");
const distIndex = join(repo, "dist", "index.js");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const WRITES_PER_PROCESS = 100;

/**
 * Waits for "go" on stdin, then writes WRITES updates (a few in flight at once; every fifth body
 * large enough for a revision object) and prints one JSON line per outcome.
 */
const RACER = `
import { createHash, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
const { ArtifactStore } = await import(process.env.CHUK_DIST_URL);
const store = new ArtifactStore(JSON.parse(process.env.CHUK_STORE_OPTIONS));
const id = process.env.CHUK_ARTIFACT_ID;
const writes = Number(process.env.CHUK_WRITES);
const sha = (b) => createHash("sha256").update(b).digest("hex");
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === "go") break;
let next = 0;
const one = async () => {
  for (let i = next++; i < writes; i = next++) {
    const body = randomBytes(i % 5 === 0 ? 200 * 1024 : 64 + (i % 7));
    try {
      const m = await store.updateFile(id, { data: body });
      process.stdout.write(JSON.stringify({ ok: true, version: m.version, sha256: sha(body), bytes: body.length }) + "\\n");
    } catch (err) {
      process.stdout.write(JSON.stringify({ ok: false, code: err.code, message: err.message }) + "\\n");
    }
  }
};
await Promise.all([one(), one(), one(), one()]);
await store.close();
process.exit(0);
`;

interface Outcome {
  ok: boolean;
  version?: number;
  sha256?: string;
  bytes?: number;
  code?: string;
  message?: string;
}

function startRacer(script: string, options: ArtifactStoreOptions, id: string) {
  const child = spawn(process.execPath, [script], {
    env: {
      ...process.env,
      CHUK_DIST_URL: pathToFileURL(distIndex).href,
      CHUK_STORE_OPTIONS: JSON.stringify(options),
      CHUK_ARTIFACT_ID: id,
      CHUK_WRITES: String(WRITES_PER_PROCESS),
    },
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const outcomes: Outcome[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => outcomes.push(JSON.parse(line) as Outcome));
  const done = new Promise<Outcome[]>((finish, fail) =>
    child.on("close", (code) =>
      code === 0 ? finish(outcomes) : fail(new Error(`racer exited ${code}: ${stderr}`)),
    ),
  );
  return { go: () => child.stdin.write("go\n"), done, kill: () => child.kill("SIGKILL") };
}

const CONFIGS = storeConfigs().filter((f) => f.name !== "memory");

describe("two processes racing updateFile on one artifact", () => {
  let scripts: string;
  let racerScript: string;

  beforeAll(async () => {
    if (!existsSync(distIndex)) throw new Error(`${distIndex} is missing: run "npm run build" first`);
    scripts = await mkdtemp(join(tmpdir(), "chuk-race-"));
    racerScript = join(scripts, "racer.mjs");
    await writeFile(racerScript, RACER);
  });

  afterAll(async () => {
    if (scripts) await rm(scripts, { recursive: true, force: true });
  });

  test.each(CONFIGS)(
    "$name: every acknowledged write is a distinct version with its exact bytes",
    async (fixture) => {
      // History long enough to keep every version of the race.
      const options: ArtifactStoreOptions = {
        ...(await fixture.open()),
        keepVersions: 1000,
        defaultTtl: null,
      };
      const store = new ArtifactStore(options);
      const racers: ReturnType<typeof startRacer>[] = [];
      try {
        const id = await store.store("v1", { sessionId: "race" });
        racers.push(startRacer(racerScript, options, id), startRacer(racerScript, options, id));
        for (const r of racers) r.go();
        const outcomes = (await Promise.all(racers.map((r) => r.done))).flat();
        expect(outcomes).toHaveLength(2 * WRITES_PER_PROCESS);
        const acknowledged = outcomes.filter((o) => o.ok);
        const refused = outcomes.filter((o) => !o.ok);
        // A write may lose with a ConflictError (then nothing was acknowledged); nothing else.
        for (const o of refused) expect(o.code, o.message).toBe("CONFLICT");
        console.log(`${fixture.name}: ${acknowledged.length} acknowledged, ${refused.length} conflicts`);
        expect(acknowledged.length).toBeGreaterThan(WRITES_PER_PROCESS);
        const numbers = acknowledged.map((o) => o.version!);
        expect(new Set(numbers).size).toBe(numbers.length);
        for (const o of acknowledged) {
          const bytes = await store.retrieve(id, { version: o.version! });
          expect(bytes.byteLength, `version ${o.version}`).toBe(o.bytes);
          expect(sha256(bytes), `version ${o.version}`).toBe(o.sha256);
        }
        const versions = await store.listVersions(id);
        const listed = new Set(versions.map((v) => v.version));
        for (const n of numbers) expect(listed.has(n), `version ${n} listed`).toBe(true);
        // The current version is the newest acknowledged one, or newer than all of them.
        expect((await store.metadata(id)).version).toBeGreaterThanOrEqual(Math.max(...numbers));
      } finally {
        for (const r of racers) r.kill();
        await store.close();
        await fixture.dispose();
      }
    },
    240_000,
  );
});
