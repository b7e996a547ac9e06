/**
 * A process killed (SIGKILL) at a random point of its writes: store, updateFile, delete and a
 * registered upload, in a loop, each announced before it starts and acknowledged after it resolves.
 * Afterwards a new process finds every acknowledged write with exactly its bytes (or, for the one
 * write in flight at the kill, either version), every acknowledged delete gone, and no artifact
 * whose bytes do not match their sha256. Runs the built package (dist/) on the filesystem and on
 * S3 + Redis.
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
import { ArtifactNotFoundError, ArtifactStore, type ArtifactStoreOptions } from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";

const repo = resolve(import.meta.dirname, "..");
const distIndex = join(repo, "dist", "index.js");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

const WRITER = `
import { createHash, randomBytes } from "node:crypto";
const { ArtifactStore } = await import(process.env.CHUK_DIST_URL);
const store = new ArtifactStore(JSON.parse(process.env.CHUK_STORE_OPTIONS));
const sha = (b) => createHash("sha256").update(b).digest("hex");
const say = (m) => process.stdout.write(JSON.stringify(m) + "\\n");
// Sizes on both sides of the one-object limit, so both write paths are crashed into.
const body = (i) => randomBytes(i % 3 === 0 ? 6 * 1024 * 1024 + 17 : 2000 + (i % 7) * 1000);
const live = [];
for (let i = 0; ; i++) {
  const kind = live.length < 3 ? "store" : ["store", "update", "delete", "register"][i % 4];
  const data = body(i);
  if (kind === "store") {
    say({ begin: "store", sha: sha(data) });
    const id = await store.store(data, { sessionId: "crash" });
    live.push(id);
    say({ ack: "store", id, sha: sha(data) });
  } else if (kind === "update") {
    const id = live[i % live.length];
    say({ begin: "update", id, sha: sha(data) });
    await store.updateFile(id, { data });
    say({ ack: "update", id, sha: sha(data) });
  } else if (kind === "delete") {
    const id = live.shift();
    say({ begin: "delete", id });
    await store.delete(id);
    say({ ack: "delete", id });
  } else {
    const slot = await store.presignUpload({ sessionId: "crash" });
    say({ begin: "register", id: slot.artifactId, sha: sha(data) });
    if (slot.url.includes("X-Amz-Signature")) {
      const put = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: data });
      if (!put.ok) throw new Error("upload refused: " + put.status);
    } else {
      // Where this package's handler would receive the PUT: the same call, without the HTTP hop.
      await store.receiveSignedUpload({ method: "PUT", key: slot.key, expires: 0 }, [data]);
    }
    await store.registerUploadedArtifact(slot.artifactId, { sessionId: "crash" });
    live.push(slot.artifactId);
    say({ ack: "register", id: slot.artifactId, sha: sha(data) });
  }
}
`;

interface Message {
  begin?: string;
  ack?: string;
  id?: string;
  sha?: string;
}

/** Runs the writer until it has acknowledged `acks` writes plus `delayMs`, then SIGKILLs it. */
function runWriter(script: string, options: ArtifactStoreOptions, acks: number, delayMs: number) {
  return new Promise<Message[]>((done, fail) => {
    const child = spawn(process.execPath, [script], {
      env: {
        ...process.env,
        CHUK_DIST_URL: pathToFileURL(distIndex).href,
        CHUK_STORE_OPTIONS: JSON.stringify(options),
      },
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const messages: Message[] = [];
    let acked = 0;
    createInterface({ input: child.stdout }).on("line", (line) => {
      const message = JSON.parse(line) as Message;
      messages.push(message);
      if (message.ack && ++acked === acks) setTimeout(() => child.kill("SIGKILL"), delayMs);
    });
    child.on("close", (code, signal) => {
      if (signal !== "SIGKILL") fail(new Error(`writer ended by itself (${code}): ${stderr}`));
      else done(messages);
    });
  });
}

const CONFIGS = storeConfigs()
  .map((f) => f.name)
  .filter((name) => name !== "memory");

describe.each(CONFIGS)("a writer killed mid-write on %s", (configName) => {
  let fixture: Fixture<ArtifactStoreOptions>;
  let options: ArtifactStoreOptions;
  let scripts: string;
  let script: string;

  beforeAll(async () => {
    if (!existsSync(distIndex)) throw new Error(`${distIndex} is missing: run "npm run build" first`);
    fixture = storeConfigs().find((f) => f.name === configName)!;
    options = { ...(await fixture.open()), defaultTtl: null, signingSecret: "crash-test-secret" };
    scripts = await mkdtemp(join(tmpdir(), "chuk-crash-"));
    script = join(scripts, "writer.mjs");
    await writeFile(script, WRITER);
  });

  afterAll(async () => {
    if (scripts) await rm(scripts, { recursive: true, force: true });
    await fixture?.dispose();
  });

  test("loses no acknowledged write and never serves bytes that do not match their sha256", async () => {
    // Where each artifact stands after all rounds: its acknowledged sha256, or deleted.
    const expected = new Map<string, string | "deleted">();
    const delays = [0, 7, 23, 61, 140, 290];
    let inFlightSeen = 0;
    for (const [round, delay] of delays.entries()) {
      const messages = await runWriter(script, options, 6 + round, delay);
      let open: Message | null = null;
      for (const m of messages) {
        if (m.begin) open = m;
        if (m.ack) {
          expected.set(m.id!, m.ack === "delete" ? "deleted" : m.sha!);
          open = null;
        }
      }
      await using store = new ArtifactStore(options);
      // The write in flight at the kill may have landed or not: either version is fine.
      const maybe = open?.id ? { id: open.id, sha: open.begin === "delete" ? "deleted" : open.sha! } : null;
      if (maybe) inFlightSeen++;
      for (const [id, want] of expected) {
        const allowed = new Set([want, ...(maybe?.id === id ? [maybe.sha] : [])]);
        let got: string;
        try {
          got = sha256(await store.retrieve(id));
        } catch (err) {
          if (!(err instanceof ArtifactNotFoundError)) throw err;
          got = "deleted";
        }
        expect(allowed, `round ${round}: artifact ${id}`).toContain(got);
        if (maybe?.id === id) expected.set(id, got);
      }
      // Whatever is listed reads back whole and matching its sha256 (retrieve checks it).
      for (const meta of await store.listBySession("crash")) {
        const bytes = await store.retrieve(meta.artifactId);
        expect(sha256(bytes)).toBe(meta.sha256);
      }
    }
    expect(expected.size).toBeGreaterThan(10);
    console.log(
      `${configName}: ${expected.size} artifacts over ${delays.length} kills, ${inFlightSeen} mid-write`,
    );
  }, 600_000);
});
