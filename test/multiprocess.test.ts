/**
 * Several processes on one store: separate Node processes running the built package (dist/) on
 * the same filesystem root (and on the same S3 bucket + Redis when the servers are up) see each
 * other's artifacts, and an acknowledged store survives the process being killed right after.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { ArtifactStore, type ArtifactStoreOptions } from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";

const repo = resolve(import.meta.dirname, "..");
const distIndex = join(repo, "dist", "index.js");
const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

/**
 * A long-lived child process holding one ArtifactStore built from dist/. It answers one JSON
 * request per stdin line with one JSON line on stdout.
 */
const WORKER = `
import { createInterface } from "node:readline";
const { ArtifactStore } = await import(process.env.CHUK_DIST_URL);
const store = new ArtifactStore(JSON.parse(process.env.CHUK_STORE_OPTIONS));
const bytes = (b64) => (b64 === undefined ? undefined : Buffer.from(b64, "base64"));
const ops = {
  store: (a) => store.store(bytes(a.data), a.options),
  list: async (a) => [...(await store.listBySession(a.sessionId))],
  read: async (a) => (await store.retrieve(a.id, a.context ?? {})).toString("base64"),
  metadata: (a) => store.metadata(a.id),
  exists: (a) => store.exists(a.id),
  update: (a) => store.updateFile(a.id, { ...a.options, data: bytes(a.data) }),
  updateMetadata: (a) => store.updateMetadata(a.id, a.options),
  move: (a) => store.moveFile(a.id, a.options),
  delete: (a) => store.delete(a.id),
};
for await (const line of createInterface({ input: process.stdin })) {
  const { seq, op, args } = JSON.parse(line);
  if (op === "exit") {
    await store.close();
    process.stdout.write(JSON.stringify({ seq, ok: true }) + "\\n");
    process.exit(0);
  }
  try {
    const result = await ops[op](args);
    process.stdout.write(JSON.stringify({ seq, ok: true, result }) + "\\n");
  } catch (err) {
    process.stdout.write(JSON.stringify({ seq, ok: false, error: { name: err.name, code: err.code, message: err.message } }) + "\\n");
  }
}
`;

/**
 * Stores, prints what it stored once the store has resolved, then keeps rewriting the artifact
 * (each attempt announced before it starts) until it is killed.
 */
const CRASHER = `
import { createHash, randomBytes } from "node:crypto";
const { ArtifactStore } = await import(process.env.CHUK_DIST_URL);
const store = new ArtifactStore(JSON.parse(process.env.CHUK_STORE_OPTIONS));
const size = Number(process.env.CHUK_BODY_BYTES);
const sha = (b) => createHash("sha256").update(b).digest("hex");
const first = randomBytes(size);
const id = await store.store(first, { sessionId: "crash", filename: "first.bin" });
process.stdout.write(JSON.stringify({ stored: id, sha256: sha(first) }) + "\\n");
for (let i = 0; ; i++) {
  const next = randomBytes(size);
  process.stdout.write(JSON.stringify({ attempt: sha(next) }) + "\\n");
  await store.updateFile(id, { data: next });
  await store.store(next, { sessionId: "crash", filename: "more-" + i + ".bin" });
}
`;

interface Reply {
  seq: number;
  ok: boolean;
  result?: unknown;
  error?: { name: string; code: string; message: string };
}

class Worker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private seq = 0;
  private stderr = "";
  private readonly exited: Promise<number | null>;

  constructor(script: string, options: ArtifactStoreOptions) {
    this.child = spawn(process.execPath, [script], {
      env: {
        ...process.env,
        CHUK_DIST_URL: pathToFileURL(distIndex).href,
        CHUK_STORE_OPTIONS: JSON.stringify(options),
      },
    });
    this.child.stderr.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((done) => this.child.on("exit", (code) => done(code)));
    createInterface({ input: this.child.stdout }).on("line", (line) => {
      const reply = JSON.parse(line) as Reply;
      this.waiting.get(reply.seq)?.(reply);
      this.waiting.delete(reply.seq);
    });
    void this.exited.then(() => {
      for (const [seq, answer] of this.waiting) {
        answer({ seq, ok: false, error: { name: "Exited", code: "EXITED", message: this.stderr } });
      }
      this.waiting.clear();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends one request; resolves with its result, rejects with the child's typed error. */
  async call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const seq = ++this.seq;
    const reply = await new Promise<Reply>((answer) => {
      this.waiting.set(seq, answer);
      this.child.stdin.write(`${JSON.stringify({ seq, op, args })}\n`);
    });
    if (!reply.ok) {
      const err = new Error(`${op} failed in pid ${this.pid}: ${reply.error?.message}`) as Error & {
        code?: string;
        errorName?: string;
      };
      err.code = reply.error?.code;
      err.errorName = reply.error?.name;
      throw err;
    }
    return reply.result as T;
  }

  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.stdin.write(`${JSON.stringify({ seq: ++this.seq, op: "exit" })}\n`);
    }
    const code = await this.exited;
    expect(code, this.stderr).toBe(0);
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

/** Runs the crasher: resolves with what it acknowledged, having SIGKILLed it at once (or after `delayMs`). */
function runCrasher(
  script: string,
  options: ArtifactStoreOptions,
  bodyBytes: number,
  delayMs: number,
): Promise<{ id: string; sha256: string; attempts: string[]; signal: string | null }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script], {
      env: {
        ...process.env,
        CHUK_DIST_URL: pathToFileURL(distIndex).href,
        CHUK_STORE_OPTIONS: JSON.stringify(options),
        CHUK_BODY_BYTES: String(bodyBytes),
      },
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    let acknowledged: { id: string; sha256: string } | null = null;
    const attempts: string[] = [];
    createInterface({ input: child.stdout }).on("line", (line) => {
      const message = JSON.parse(line) as { stored?: string; sha256?: string; attempt?: string };
      if (message.attempt) attempts.push(message.attempt);
      if (message.stored && !acknowledged) {
        acknowledged = { id: message.stored, sha256: message.sha256! };
        if (delayMs === 0) child.kill("SIGKILL");
        else setTimeout(() => child.kill("SIGKILL"), delayMs);
      }
    });
    // "close", not "exit": every line the child wrote has been read by then.
    child.on("close", (code, signal) => {
      if (!acknowledged) fail(new Error(`crasher exited (${code ?? signal}) before storing: ${stderr}`));
      else done({ ...acknowledged, attempts, signal });
    });
  });
}

const CONFIGS = storeConfigs()
  .map((f) => f.name)
  .filter((name) => name !== "memory");

describe("several processes on one store", () => {
  let scripts: string;
  let workerScript: string;
  let crasherScript: string;

  beforeAll(async () => {
    // The children run the package as users get it: the compiled output, which `npm test` builds
    // first. Building here would rewrite dist/ under the feet of other suites' server processes.
    if (!existsSync(distIndex)) throw new Error(`${distIndex} is missing: run "npm run build" first`);
    scripts = await mkdtemp(join(tmpdir(), "chuk-mp-"));
    workerScript = join(scripts, "worker.mjs");
    crasherScript = join(scripts, "crasher.mjs");
    await writeFile(workerScript, WORKER);
    await writeFile(crasherScript, CRASHER);
  });

  afterAll(async () => {
    if (scripts) await rm(scripts, { recursive: true, force: true });
  });

  describe.each(CONFIGS)("%s", (configName) => {
    let fixture: Fixture<ArtifactStoreOptions>;
    let options: ArtifactStoreOptions;
    const workers: Worker[] = [];
    const spawnWorker = () => {
      const worker = new Worker(workerScript, options);
      workers.push(worker);
      return worker;
    };

    beforeEach(async () => {
      fixture = storeConfigs().find((f) => f.name === configName)!;
      // Children take the options as JSON; every store of one test shares one signing secret.
      options = { ...(await fixture.open()), signingSecret: "multiprocess-test-secret" };
    });

    afterEach(async () => {
      for (const worker of workers.splice(0)) worker.kill();
      await fixture.dispose();
    });

    test("two processes see each other's stores, updates, renames and deletes", async () => {
      const a = spawnWorker();
      const b = spawnWorker();
      const v1 = Buffer.from("written by process A");
      const id = await a.call<string>("store", {
        data: v1.toString("base64"),
        options: { sessionId: "shared-session", filename: "a.txt", mime: "text/plain" },
      });

      const seenByB = await b.call<{ artifactId: string; filename: string; sha256: string }[]>("list", {
        sessionId: "shared-session",
      });
      expect(seenByB.map((m) => [m.artifactId, m.filename, m.sha256])).toEqual([[id, "a.txt", sha256(v1)]]);
      expect(Buffer.from(await b.call<string>("read", { id }), "base64").toString()).toBe(
        "written by process A",
      );

      const v2 = Buffer.from("rewritten by process B, longer than before");
      await b.call("update", { id, data: v2.toString("base64"), options: { summary: "updated by B" } });
      expect(Buffer.from(await a.call<string>("read", { id }), "base64").toString()).toBe(v2.toString());
      const metaInA = await a.call<{ summary: string; sha256: string; bytes: number }>("metadata", { id });
      expect(metaInA).toMatchObject({ summary: "updated by B", sha256: sha256(v2), bytes: v2.byteLength });

      await a.call("updateMetadata", { id, options: { meta: { reviewed: true } } });
      await a.call("move", { id, options: { newFilename: "renamed-by-a.txt" } });
      const moved = await b.call<{ filename: string; meta: unknown }>("metadata", { id });
      expect(moved).toMatchObject({ filename: "renamed-by-a.txt", meta: { reviewed: true } });

      const fromB = await b.call<string>("store", {
        data: Buffer.from("second").toString("base64"),
        options: { sessionId: "shared-session", filename: "b.txt" },
      });
      expect((await a.call<{ artifactId: string }[]>("list", { sessionId: "shared-session" })).length).toBe(
        2,
      );

      // A third party, this test process, reads the same state.
      {
        await using here = new ArtifactStore(options);
        expect((await here.readFile(fromB)).toString()).toBe("second");
        expect((await here.metadata(id)).filename).toBe("renamed-by-a.txt");
      }

      expect(await b.call<boolean>("delete", { id })).toBe(true);
      expect(await a.call<boolean>("exists", { id })).toBe(false);
      await expect(a.call("read", { id })).rejects.toMatchObject({ code: "ARTIFACT_NOT_FOUND" });
      await a.close();
      await b.close();
    });

    test("session ownership holds across processes", async () => {
      const a = spawnWorker();
      const b = spawnWorker();
      const mine = await a.call<string>("store", {
        data: Buffer.from("alice's").toString("base64"),
        options: { sessionId: "project-x", userId: "alice" },
      });
      // B never saw project-x being created: ownership comes from what storage holds.
      await expect(
        b.call("store", {
          data: Buffer.from("bob's").toString("base64"),
          options: { sessionId: "project-x", userId: "bob" },
        }),
      ).rejects.toMatchObject({ code: "ACCESS_DENIED" });
      await expect(b.call("read", { id: mine, context: { userId: "bob" } })).rejects.toMatchObject({
        code: "ACCESS_DENIED",
      });
      expect(
        Buffer.from(
          await b.call<string>("read", { id: mine, context: { userId: "alice" } }),
          "base64",
        ).toString(),
      ).toBe("alice's");
      expect(await a.call<unknown[]>("list", { sessionId: "project-x" })).toHaveLength(1);
      await a.close();
      await b.close();
    });

    test("an acknowledged store survives SIGKILL right after it returns", async () => {
      const rounds = [0, 0, 5, 20, 50];
      // Every version any round wrote or started to write; the crash session keeps all rounds' artifacts.
      const written: string[] = [];
      for (const [round, delayMs] of rounds.entries()) {
        const outcome = await runCrasher(crasherScript, options, 256 * 1024, delayMs);
        expect(outcome.signal, `round ${round}`).toBe("SIGKILL");
        await using fresh = new ArtifactStore(options);
        const bytes = await fresh.retrieve(outcome.id);
        const meta = await fresh.metadata(outcome.id);
        // Either the acknowledged version or a later rewrite, each whole and matching its sha256.
        const allowed = [outcome.sha256, ...outcome.attempts];
        written.push(...allowed);
        expect(allowed, `round ${round}`).toContain(sha256(bytes));
        expect(meta.sha256).toBe(sha256(bytes));
        expect(meta.bytes).toBe(256 * 1024);
        if (delayMs === 0 && outcome.attempts.length === 0) expect(sha256(bytes)).toBe(outcome.sha256);
        // Nothing torn is visible: every listed artifact reads back whole.
        for (const listed of await fresh.listBySession("crash")) {
          const content = await fresh.retrieve(listed.artifactId);
          expect(sha256(content)).toBe(listed.sha256);
          expect(written).toContain(listed.sha256);
        }
      }
    });
  });
});
