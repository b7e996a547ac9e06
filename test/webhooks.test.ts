import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { webhookReceiver } from "../examples/webhook-receiver.js";
import {
  ArtifactStore,
  type AuditEvent,
  type DeliveryLogEntry,
  s3Storage,
  signWebhook,
  startWebhooks,
  verifyWebhook,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  WebhookVerificationError,
} from "../src/index.js";
import { MemoryDriver } from "../src/storage/memory.js";
import { uniqueSandbox } from "./fixtures.js";
import { bearer, CLI, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";
import { objectKeys, rawClient, s3Config, s3Services } from "./s3-helpers.js";

/**
 * Webhooks: signatures a receiver can verify, retries with backoff, and deliveries that survive
 * the sender's restart — including `serve` killed with SIGKILL while a retry is pending.
 */

const SECRET = "whsec-0123456789abcdef-test";
const dirs: string[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "chuk-webhooks-"));
  dirs.push(dir);
  return dir;
}

/**
 * The README's receiver on a free port. It answers 503 (so the sender retries) while `failing`
 * says so, and records every verified event it was handed and every one it accepted.
 */
async function receiver(failing: () => boolean) {
  const handed: AuditEvent[] = [];
  const accepted: AuditEvent[] = [];
  const server: Server = webhookReceiver(SECRET, (event) => {
    handed.push(event);
    if (failing()) throw new Error("not now");
    accepted.push(event);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, handed, accepted };
}

describe("webhook signatures", () => {
  const body = JSON.stringify({ id: "e1", type: "artifact.stored" });

  it("verifies what signWebhook signed, and nothing altered", () => {
    const headers = signWebhook(SECRET, "e1", body);
    expect(verifyWebhook({ secret: SECRET, headers, body })).toMatchObject({ id: "e1" });
    expect(
      verifyWebhook({ secret: SECRET, headers: new Headers(headers), body: Buffer.from(body) }),
    ).toBeTruthy();
    const refused = (options: Partial<Parameters<typeof verifyWebhook>[0]>) => () =>
      verifyWebhook({ secret: SECRET, headers, body, ...options });
    expect(refused({ body: body.replace("e1", "e2") })).toThrow(WebhookVerificationError);
    expect(refused({ secret: "another-secret-0123456789" })).toThrow(/does not match/);
    expect(
      refused({
        headers: {
          ...headers,
          [WEBHOOK_TIMESTAMP_HEADER]: String(Number(headers[WEBHOOK_TIMESTAMP_HEADER]) + 1),
        },
      }),
    ).toThrow(/does not match/);
    expect(refused({ headers: { ...headers, [WEBHOOK_SIGNATURE_HEADER]: "v1=zz" } })).toThrow(
      /does not match/,
    );
    expect(refused({ headers: {} })).toThrow(/missing/);
    // A replay outside the tolerance is refused even with a good signature.
    const old = signWebhook(SECRET, "e1", body, Math.floor(Date.now() / 1000) - 301);
    expect(() => verifyWebhook({ secret: SECRET, headers: old, body })).toThrow(/tolerance/);
    expect(verifyWebhook({ secret: SECRET, headers: old, body, toleranceSeconds: 600 })).toBeTruthy();
  });

  it("accepts any of several secrets while one is rotated", () => {
    const headers = signWebhook("the-new-secret-0123456789", "e1", body);
    expect(verifyWebhook({ secret: [SECRET, "the-new-secret-0123456789"], headers, body })).toBeTruthy();
  });

  it("the README quotes examples/webhook-receiver.ts verbatim", async () => {
    const read = (path: string) => readFile(new URL(path, import.meta.url), "utf8");
    expect(await read("../README.md")).toContain((await read("../examples/webhook-receiver.ts")).trim());
  });

  it("the README receiver refuses a forged POST with 401", async () => {
    const { url, handed } = await receiver(() => false);
    const res = await fetch(url, {
      method: "POST",
      headers: {
        ...signWebhook("not-the-secret-0123456789", "e9", body),
        "content-type": "application/json",
      },
      body,
    });
    expect(res.status).toBe(401);
    expect(handed).toEqual([]);
  });
});

/** Durable storage the outbox lives on: a folder, and the test run's RGW when it is up. */
interface DurableBackend {
  name: string;
  open(): Promise<{ store: () => ArtifactStore; outbox: () => Promise<string[]> }>;
}
const durable: DurableBackend[] = [
  {
    name: "filesystem",
    open: async () => {
      const root = await tempDir();
      const sandboxId = uniqueSandbox("hooks");
      return {
        store: () => new ArtifactStore({ storageProvider: "filesystem", fsRoot: root, sandboxId }),
        outbox: () => readdir(join(root, "_webhooks", sandboxId, "outbox")).catch(() => []),
      };
    },
  },
  ...(s3Services()
    ? [
        {
          name: "s3",
          open: async () => {
            const sandboxId = uniqueSandbox("hooks");
            return {
              store: () => new ArtifactStore({ storageProvider: s3Storage(s3Config()), sandboxId }),
              outbox: () => objectKeys(rawClient(), `_webhooks/${sandboxId}/outbox/`),
            };
          },
        },
      ]
    : []),
];

describe.each(durable)("webhook delivery from the library on $name", (backend) => {
  it("retries with backoff until the receiver accepts, logging each attempt; a restart resumes", async () => {
    let failures = 3;
    const target = await receiver(() => failures-- > 0);
    const { store, outbox } = await backend.open();
    const log: DeliveryLogEntry[] = [];
    const options = {
      urls: [target.url],
      secret: SECRET,
      backoffMs: 300,
      log: (e: DeliveryLogEntry) => log.push(e),
    };

    const first = store();
    const delivery = await startWebhooks(first, options);
    const id = await first.store("hello", { userId: "alice" });
    // Two failed attempts, then stop while the third is pending: the outbox keeps it.
    await vi.waitFor(() => expect(log.filter((e) => e.outcome === "retrying")).toHaveLength(2), {
      timeout: 5000,
    });
    await delivery.close();
    await first.close();
    expect(await outbox()).toHaveLength(1);
    expect(log.map((e) => [e.attempt, e.status, e.outcome])).toEqual([
      [1, 503, "retrying"],
      [2, 503, "retrying"],
    ]);
    // Backoff 300 ms, then 600 ms, each ±20 %: the second wait is longer than the first can be.
    const waits = log.map((e) => Date.parse(e.nextAttemptAt!) - Date.parse(e.at));
    expect(waits[0]).toBeGreaterThanOrEqual(240);
    expect(waits[1]).toBeGreaterThanOrEqual(480);

    const second = store();
    const resumed = await startWebhooks(second, options);
    closers.push(async () => {
      await resumed.close();
      await second.close();
    });
    // The sender logs a delivery once the outbox entry is gone, a moment after the receiver has it.
    await vi.waitFor(() => expect(log.at(-1)?.outcome).toBe("delivered"), { timeout: 5000 });
    expect(target.accepted).toHaveLength(1);
    expect(target.accepted[0]).toMatchObject({ type: "artifact.stored", artifactId: id, bytes: 5 });
    // Every attempt carried the same event (one id to deduplicate on).
    expect(new Set(target.handed.map((e) => e.id))).toEqual(new Set([target.accepted[0]!.id]));
    expect(log.at(-1)).toMatchObject({ attempt: 4, status: 204, outcome: "delivered", url: target.url });
    await vi.waitFor(async () => expect(await outbox()).toEqual([]));
  });

  it("two senders on the same outbox deliver each event, and on a folder only once", async () => {
    const target = await receiver(() => false);
    const { store, outbox } = await backend.open();
    const options = { urls: [target.url], secret: SECRET, rescanMs: 50 };
    const a = store();
    const b = store();
    const senders = [await startWebhooks(a, options), await startWebhooks(b, options)];
    closers.push(async () => {
      for (const s of senders) await s.close();
      await a.close();
      await b.close();
    });
    // Each store's events are queued by its own sender; both rescan the shared outbox constantly.
    const ids = await Promise.all(
      [...Array(10)].map((_, i) => (i % 2 ? a : b).store(`n${i}`, { userId: "u" })),
    );
    await vi.waitFor(() => expect(target.accepted).toHaveLength(10), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    // Claims are conditional writes: on a folder two senders never send one attempt twice. RGW
    // checks If-Match before it writes, so there a rare double send is possible (at least once).
    if (backend.name === "filesystem") expect(target.handed).toHaveLength(10);
    else expect(target.handed.length).toBeGreaterThanOrEqual(10);
    expect(new Set(target.accepted.map((e) => e.artifactId))).toEqual(new Set(ids));
    await vi.waitFor(async () => expect(await outbox()).toEqual([]));
  });
});

describe("webhook delivery from the library", () => {
  it("gives up after maxAttempts and keeps the delivery in the failed area", async () => {
    const target = await receiver(() => true);
    const root = await tempDir();
    const sandboxId = uniqueSandbox("hooks");
    const log: DeliveryLogEntry[] = [];
    const store = new ArtifactStore({ storageProvider: "filesystem", fsRoot: root, sandboxId });
    const delivery = await startWebhooks(store, {
      urls: [target.url],
      secret: SECRET,
      backoffMs: 20,
      maxAttempts: 2,
      log: (e) => log.push(e),
    });
    closers.push(async () => {
      await delivery.close();
      await store.close();
    });
    await store.store("x", { userId: "alice" });
    await vi.waitFor(() => expect(log.at(-1)?.outcome).toBe("failed"), { timeout: 5000 });
    expect(log.map((e) => e.outcome)).toEqual(["retrying", "failed"]);
    expect(await readdir(join(root, "_webhooks", sandboxId, "outbox"))).toEqual([]);
    expect(await readdir(join(root, "_webhooks", sandboxId, "failed"))).toHaveLength(1);
  });

  it("logs an event it could not queue because storage refused the outbox write", async () => {
    const target = await receiver(() => false);
    const driver = new MemoryDriver();
    const failing = Object.assign(Object.create(driver) as MemoryDriver, {
      put: (
        key: string,
        ...rest: Parameters<MemoryDriver["put"]> extends [string, ...infer R] ? R : never
      ) => (key.startsWith("_webhooks/") ? Promise.reject(new Error("disk full")) : driver.put(key, ...rest)),
    });
    const log: DeliveryLogEntry[] = [];
    const store = new ArtifactStore({ storageProvider: failing });
    const delivery = await startWebhooks(store, {
      urls: [target.url],
      secret: SECRET,
      log: (e) => log.push(e),
    });
    closers.push(async () => {
      await delivery.close();
      await store.close();
    });
    const id = await store.store("still stored", { userId: "alice" });
    await vi.waitFor(() => expect(log).toHaveLength(1));
    expect(log[0]).toMatchObject({ outcome: "not queued", eventType: "artifact.stored", attempt: 0 });
    expect(log[0]!.error).toContain("disk full");
    expect(await store.readFile(id)).toBe("still stored");
    expect(target.handed).toEqual([]);
  });

  it("refuses a short secret and a URL that is not http(s)", async () => {
    const store = new ArtifactStore();
    closers.push(() => store.close());
    await expect(startWebhooks(store, { urls: ["http://x"], secret: "short" })).rejects.toThrow(/16/);
    await expect(startWebhooks(store, { urls: ["file:///etc/passwd"], secret: SECRET })).rejects.toThrow(
      /http/,
    );
  });
});

describe("serve --webhook", () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop("SIGKILL");
  });

  it("needs CHUK_WEBHOOK_SECRET", async () => {
    const run = promisify(execFile)(
      process.execPath,
      [CLI, "serve", "--port", "0", "--webhook", "http://127.0.0.1:9/"],
      {
        env: { PATH: process.env.PATH, ARTIFACT_PROVIDER: "memory" },
      },
    );
    await expect(run).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("CHUK_WEBHOOK_SECRET"),
    });
  });

  it("delivers after serve is killed (SIGKILL) and restarted while a retry is pending", async () => {
    let failing = true;
    const target = await receiver(() => failing);
    const root = await tempDir();
    const options = {
      args: ["--provider", "filesystem", "--fs-root", root, "--webhook", target.url],
      env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("hooks"), CHUK_WEBHOOK_SECRET: SECRET },
    };
    const first = await startServer(options);
    servers.push(first);
    expect(first.output()).toContain(`webhooks: ${target.url} (signed; outbox on filesystem)`);
    const res = await fetch(`${first.url}/v1/artifacts?filename=a.txt`, {
      method: "POST",
      headers: bearer(KEYS.alice, { "content-type": "text/plain", "x-request-id": "before-the-crash" }),
      body: "kept across a crash",
    });
    expect(res.status).toBe(201);
    const { artifactId } = (await res.json()) as { artifactId: string };

    // The receiver has verified and refused two attempts: the third is pending when serve dies.
    await vi.waitFor(() => expect(target.handed.length).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    expect(await first.stop("SIGKILL")).toBeNull();
    expect(first.output()).toMatch(/"outcome":"retrying"/);
    const refusedAttempts = target.handed.length;

    failing = false;
    const second = await startServer(options);
    servers.push(second);
    // A POST cut off by the kill holds its claim for the 10 s timeout and 5 s more.
    await vi.waitFor(() => expect(target.accepted).toHaveLength(1), { timeout: 25_000 });
    expect(target.accepted[0]).toMatchObject({
      type: "artifact.stored",
      artifactId,
      requestId: "before-the-crash",
      actor: { userId: "alice" },
      bytes: "kept across a crash".length,
    });
    expect(new Set(target.handed.map((e) => e.id)).size).toBe(1);
    expect(target.handed.length).toBe(refusedAttempts + 1);
    await vi.waitFor(() => expect(second.output()).toContain('"outcome":"delivered"'), {
      timeout: 5000,
    });
    const delivered = second
      .output()
      .split("\n")
      .filter((l) => l.includes('"outcome":"delivered"'))
      .map((l) => (JSON.parse(l) as { webhook: DeliveryLogEntry }).webhook);
    expect(delivered).toEqual([expect.objectContaining({ url: target.url, status: 204 })]);
    // The attempt count is what the outbox recorded; the kill may have cut off the last update.
    expect(delivered[0]!.attempt).toBeGreaterThanOrEqual(2);
    expect(delivered[0]!.attempt).toBeLessThanOrEqual(refusedAttempts + 1);
    const sandboxDir = join(root, "_webhooks", options.env.ARTIFACT_SANDBOX_ID, "outbox");
    await vi.waitFor(async () => expect(await readdir(sandboxDir)).toEqual([]));
  }, 60_000);
});
