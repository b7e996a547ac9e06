import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { jsonLinesFile } from "../src/audit/sinks.js";
import {
  type ApiKey,
  ArtifactStore,
  ArtifactStoreError,
  type AuditEvent,
  apiKeyId,
  createHttpHandler,
  type ErrorCode,
  type StorageDriver,
} from "../src/index.js";
import { MemoryDriver } from "../src/storage/memory.js";
import { uniqueSandbox } from "./fixtures.js";
import { bearer, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";
import { CLIENT_LINES, connectHttp, ok, startTestFront } from "./mcp-helpers.js";

/**
 * Audit events: what each operation reports, through the library hook, over REST (a real `serve`
 * writing its --audit-log) and over MCP (real SDK clients against the HTTP handler).
 */

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "chuk-audit-"));
  dirs.push(dir);
  return dir;
}

/** Nothing an event carries may be a URL, a signature or a key. */
function expectNoSecrets(events: AuditEvent[], secrets: string[]): void {
  const text = JSON.stringify(events);
  expect(text).not.toMatch(/https?:\/\//);
  expect(text).not.toMatch(/sig=|X-Amz-Signature/i);
  for (const secret of secrets) expect(text).not.toContain(secret);
}

const types = (events: AuditEvent[]) => events.map((e) => e.type);

/** What store, update, metadata update, copy, move and presign report, in that order. */
const EDITS = [
  "artifact.stored",
  "artifact.updated",
  "artifact.updated",
  "artifact.stored",
  "artifact.updated",
  "artifact.presigned",
];

/** A driver whose writes are refused as over quota, to see the refusal reported. */
class QuotaRefusal extends ArtifactStoreError {
  override readonly code = "QUOTA_EXCEEDED" as ErrorCode;
}
function refusingDriver(): StorageDriver {
  const driver = new MemoryDriver();
  return Object.assign(Object.create(driver) as StorageDriver, {
    put: () => Promise.reject(new QuotaRefusal("over quota")),
  });
}

describe("audit events from the library", () => {
  it("reports every operation once, with actor, session, artifact, bytes and no URL", async () => {
    const events: AuditEvent[] = [];
    const registered: string[] = [];
    const store = new ArtifactStore({
      sandboxId: uniqueSandbox("audit"),
      onEvent: (e) => {
        events.push(e);
      },
      onUploadRegistered: (m) => {
        registered.push(m.artifactId);
      },
    });
    const alice = { userId: "alice" };
    const id = await store.store("hello", { ...alice, filename: "a.txt" });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: "artifact.stored",
      actor: { userId: "alice", keyId: null },
      sandboxId: store.sandboxId,
      sessionId: "user_alice",
      artifactId: id,
      bytes: 5,
      requestId: null,
    });
    expect(events[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(events[0]!.at)).toBeGreaterThan(Date.now() - 10_000);

    await store.updateFile(id, { ...alice, data: "hello again" });
    await store.updateMetadata(id, { ...alice, summary: "s" });
    const copy = await store.copyFile(id, { ...alice, newFilename: "b.txt" });
    await store.moveFile(copy, { ...alice, newFilename: "c.txt" });
    const url = await store.presign(id, alice);
    const batch = await store.storeBatch([{ data: "x" }, { data: "yy" }], alice);
    expect(types(events)).toEqual([...EDITS, "artifact.stored", "artifact.stored"]);
    expect(events[1]!.bytes).toBe("hello again".length);
    expect(events[3]!.artifactId).toBe(copy);
    expect(events[5]!.expiresAt).toMatch(/^\d{4}-/);
    expect(events.slice(6).map((e) => e.artifactId)).toEqual(batch);

    // The presigned upload flow: the slot, the client's PUT (not an event), the registration.
    events.length = 0;
    const slot = await store.presignUpload({ ...alice, filename: "up.bin" });
    const put = await createHttpHandler(store).request(slot.url, { method: "PUT", body: "uploaded" });
    expect(put.status).toBeLessThan(300);
    await store.registerUploadedArtifact(slot.artifactId, alice);
    const multipart = await store.createMultipartUpload(alice);
    expect(types(events)).toEqual(["upload.presigned", "upload.registered", "upload.presigned"]);
    expect(events[1]).toMatchObject({ artifactId: slot.artifactId, bytes: 8, sessionId: "user_alice" });
    expect(events[2]!.artifactId).toBe(multipart.artifactId);
    await vi.waitFor(() => expect(registered).toEqual([slot.artifactId]));

    // Refusals: another user's artifact, and a session that is someone else's.
    events.length = 0;
    await expect(store.retrieve(id, { userId: "mallory" })).rejects.toThrow(/another user/);
    await expect(store.store("x", { userId: "mallory", sessionId: "user_alice" })).rejects.toThrow();
    expect(events).toEqual([
      expect.objectContaining({
        type: "access.denied",
        actor: { userId: null, keyId: null },
        operation: "retrieve",
        code: "ACCESS_DENIED",
        sessionId: "user_alice",
        artifactId: id,
      }),
      expect.objectContaining({ type: "access.denied", operation: "store", sessionId: "user_alice" }),
    ]);

    // Deletes, one by one and with the session.
    events.length = 0;
    expect(await store.delete(id, alice)).toBe(true);
    const removed = await store.deleteSession("user_alice", alice);
    expect(types(events)).toEqual(["artifact.deleted", ...Array(removed).fill("artifact.deleted")]);
    expect(new Set(events.map((e) => e.artifactId)).size).toBe(events.length);

    expectNoSecrets([...events], [url.slice(url.indexOf("?")), slot.url.slice(slot.url.indexOf("?"))]);
    await store.close();
  });

  it("reports cleanup: each expired artifact, then a summary", async () => {
    const events: AuditEvent[] = [];
    const store = new ArtifactStore({
      sandboxId: uniqueSandbox("audit"),
      onEvent: (e) => void events.push(e),
    });
    const gone = await store.store("short-lived", { userId: "bob", ttl: 1 });
    await store.store("kept", { userId: "bob", ttl: null });
    await new Promise((r) => setTimeout(r, 1100));
    events.length = 0;
    expect(await store.cleanupExpiredSessions()).toBe(1);
    expect(events).toEqual([
      expect.objectContaining({ type: "artifact.expired", artifactId: gone, bytes: 11 }),
      expect.objectContaining({ type: "cleanup.completed", artifactId: null, count: 1, bytes: 11 }),
    ]);
    await store.close();
  });

  it("reports a quota refusal by its code, and a failing hook never fails the write", async () => {
    const events: AuditEvent[] = [];
    const refused = new ArtifactStore({
      storageProvider: refusingDriver(),
      onEvent: (e) => void events.push(e),
    });
    await expect(refused.store("too much", { userId: "carol" })).rejects.toBeInstanceOf(QuotaRefusal);
    expect(events).toEqual([
      expect.objectContaining({ type: "quota.exceeded", operation: "store", code: "QUOTA_EXCEEDED" }),
    ]);
    await refused.close();

    const throwing = new ArtifactStore({
      onEvent: () => {
        throw new Error("hook broke");
      },
    });
    const rejecting = new ArtifactStore({ onEvent: () => Promise.reject(new Error("hook broke")) });
    for (const store of [throwing, rejecting]) {
      const id = await store.store("still stored", { userId: "carol" });
      expect(await store.readFile(id)).toBe("still stored");
      await store.close();
    }
  });

  it("the README quotes examples/audit-events.ts verbatim", async () => {
    const read = (path: string) => readFile(new URL(path, import.meta.url), "utf8");
    expect(await read("../README.md")).toContain((await read("../examples/audit-events.ts")).trim());
  });

  it("the README example runs: events to the hook and a JSON-lines file", async () => {
    const dir = await tempDir();
    vi.stubEnv("AUDIT_FILE", join(dir, "audit.jsonl"));
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try {
      await import("../examples/audit-events.js");
      const printed = String(log.mock.calls[0]?.[0]).split("\n");
      expect(printed.map((line) => line.split(" by ")[0])).toEqual([
        "artifact.stored",
        "artifact.updated",
        "artifact.presigned",
        "artifact.deleted",
      ]);
      expect(printed.every((line) => / by alice: [0-9a-f]{32} \(17 bytes\)$/.test(line))).toBe(true);
      const lines = (await readFile(join(dir, "audit.jsonl"), "utf8")).trim().split("\n");
      expect(lines.map((l) => (JSON.parse(l) as AuditEvent).type)).toEqual(
        printed.map((l) => l.split(" ")[0]),
      );
    } finally {
      log.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});

describe("the JSON-lines sink", () => {
  it("rotates by size, keeps `keep` old files, and never splits a line", async () => {
    const dir = await tempDir();
    const path = join(dir, "audit.jsonl");
    const sink = jsonLinesFile(path, { maxBytes: 1000, keep: 2 });
    for (let i = 0; i < 100; i++) sink.write({ i, pad: "x".repeat(80) });
    await sink.close();
    expect((await readdir(dir)).sort()).toEqual(["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]);
    const numbers: number[] = [];
    for (const name of ["audit.jsonl.2", "audit.jsonl.1", "audit.jsonl"]) {
      const text = await readFile(join(dir, name), "utf8");
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1000);
      for (const line of text.trim().split("\n")) numbers.push((JSON.parse(line) as { i: number }).i);
    }
    // The newest lines, in order, with nothing lost between the files that are kept.
    expect(numbers.at(-1)).toBe(99);
    expect(numbers).toEqual(numbers.map((_, k) => numbers[0]! + k));
    // Appends to what is there after a restart.
    const again = jsonLinesFile(path, { maxBytes: 1000, keep: 2 });
    again.write({ i: 100 });
    await again.close();
    expect((await readFile(path, "utf8")).trim().split("\n").at(-1)).toBe('{"i":100}');
  });
});

/** Reads the JSON lines `serve` has written so far, waiting until `ready` accepts them. */
async function auditLog(path: string, ready: (events: AuditEvent[]) => boolean): Promise<AuditEvent[]> {
  let events: AuditEvent[] = [];
  await vi.waitFor(
    async () => {
      const text = await readFile(path, "utf8").catch(() => "");
      events = text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditEvent);
      expect(ready(events)).toBe(true);
    },
    { timeout: 10_000, interval: 50 },
  );
  return events;
}

describe("audit events over REST (serve --audit-log)", () => {
  let server: RunningServer;
  let dir: string;
  let logPath: string;
  beforeAll(async () => {
    dir = await tempDir();
    logPath = join(dir, "audit.jsonl");
    server = await startServer({
      args: ["--provider", "filesystem", "--fs-root", join(dir, "files"), "--audit-log", logPath],
      env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("audit") },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("attributes each operation to the key and the request, and says where it logs", async () => {
    expect(server.output()).toContain(`audit log: ${logPath}`);
    const api = (path: string) => `${server.url}/v1${path}`;
    const requestIds: string[] = [];
    const call = async (path: string, method: string, key: string, body?: unknown, type?: string) => {
      const res = await fetch(api(path), {
        method,
        headers: bearer(key, body === undefined ? {} : { "content-type": type ?? "application/json" }),
        ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
      });
      requestIds.push(res.headers.get("x-request-id")!);
      return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, string> };
    };

    // A request id a proxy set is kept and echoed; a malformed one is replaced.
    const stored = await fetch(api("/artifacts?filename=a.txt"), {
      method: "POST",
      headers: bearer(KEYS.alice, { "content-type": "text/plain", "x-request-id": "proxy-req-1" }),
      body: "hello",
    });
    expect(stored.status).toBe(201);
    expect(stored.headers.get("x-request-id")).toBe("proxy-req-1");
    const id = ((await stored.json()) as { artifactId: string }).artifactId;
    const odd = await fetch(api("/whoami"), {
      headers: bearer(KEYS.alice, { "x-request-id": "bad id\u00e9" }),
    });
    expect(odd.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);

    expect((await call(`/artifacts/${id}`, "PUT", KEYS.alice, "hello, again", "text/plain")).status).toBe(
      200,
    );
    expect((await call(`/artifacts/${id}`, "PATCH", KEYS.alice, { summary: "s" })).status).toBe(200);
    const copy = await call(`/artifacts/${id}/copy`, "POST", KEYS.alice, { newFilename: "b.txt" });
    expect(copy.status).toBe(201);
    expect(
      (await call(`/artifacts/${copy.body.artifactId}/move`, "POST", KEYS.alice, { newFilename: "c.txt" }))
        .status,
    ).toBe(200);
    const presigned = await call(`/artifacts/${id}/presign`, "POST", KEYS.alice, {});
    const slot = await call("/uploads", "POST", KEYS.alice, { filename: "up.txt" });
    expect((await fetch(slot.body.url!, { method: "PUT", body: "uploaded" })).status).toBeLessThan(300);
    expect((await call(`/uploads/${slot.body.artifactId}/register`, "POST", KEYS.alice, {})).status).toBe(
      201,
    );
    const denied = await call(`/artifacts/${id}`, "GET", KEYS.bob);
    expect(denied.status).toBeGreaterThanOrEqual(400);
    const forged = new URL(presigned.body.url!);
    forged.searchParams.set("sig", "0".repeat(64));
    expect((await fetch(forged)).status).toBe(403);
    expect((await call(`/artifacts/${copy.body.artifactId}`, "DELETE", KEYS.alice)).status).toBeLessThan(300);

    const expected = [
      ...EDITS,
      "upload.presigned",
      "upload.registered",
      "access.denied",
      "access.denied",
      "artifact.deleted",
    ];
    const events = await auditLog(logPath, (e) => e.length >= expected.length);
    expect(types(events)).toEqual(expected);
    const aliceKey = apiKeyId(KEYS.alice);
    expect(events[0]).toMatchObject({
      requestId: "proxy-req-1",
      actor: { userId: "alice", keyId: aliceKey },
    });
    expect(events[0]).toMatchObject({ sessionId: "user_alice", artifactId: id, bytes: 5 });
    // Every other REST event names the request that caused it, as its response said.
    const byRequest = events.slice(1).filter((e) => e.type !== "access.denied");
    for (const event of byRequest) {
      expect(requestIds).toContain(event.requestId);
      expect(event.actor).toEqual({ userId: "alice", keyId: aliceKey });
    }
    expect(events[8]).toMatchObject({
      actor: { userId: "bob", keyId: apiKeyId(KEYS.bob) },
      artifactId: id,
      code: "ACCESS_DENIED",
    });
    // The forged signed URL: no key, so no actor, but the artifact and the request.
    expect(events[9]).toMatchObject({
      actor: { userId: null, keyId: null },
      artifactId: id,
      code: "SIGNATURE_INVALID",
      operation: "signed GET",
    });
    expect(events[9]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expectNoSecrets(events, [KEYS.alice, KEYS.bob, KEYS.admin, new URL(presigned.body.url!).search]);
  });
});

type Made = { artifact: { artifactId: string } };

describe("audit events over MCP (real SDK clients on the HTTP handler)", () => {
  let http: Server;
  let baseUrl: string;
  let store: ArtifactStore;
  const events: AuditEvent[] = [];
  const keys: ApiKey[] = [
    { key: "mcp-alice-key-0123456789", userId: "alice", id: "alice-laptop" },
    { key: "mcp-bob-key-0123456789ab", userId: "bob" },
  ];
  beforeAll(async () => {
    http = createServer();
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    store = new ArtifactStore({
      sandboxId: uniqueSandbox("audit-mcp"),
      publicUrl: baseUrl,
      onEvent: (e) => void events.push(e),
    });
    http.on("request", getRequestListener(createHttpHandler(store, { apiKeys: keys }).fetch));
  });
  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await store.close();
  });
  afterEach(() => {
    events.length = 0;
  });

  it.each(CLIENT_LINES)("tool calls over %s report their user, key and HTTP request", async (line) => {
    const client = await connectHttp(line, `${baseUrl}/mcp`, bearer(keys[0]!.key));
    try {
      const written = await ok<Made>(client, "write_file", {
        content: "hi",
        filename: "n.txt",
      });
      const uploaded = await ok<Made>(client, "upload_file", {
        contentBase64: Buffer.from("bytes").toString("base64"),
        filename: "b.bin",
      });
      await ok(client, "update_metadata", { artifactId: written.artifact.artifactId, summary: "s" });
      const copied = await ok<Made>(client, "copy_file", {
        artifactId: written.artifact.artifactId,
        newFilename: "m.txt",
      });
      await ok(client, "move_file", { artifactId: copied.artifact.artifactId, newFilename: "o.txt" });
      await ok(client, "presign_download", { artifactId: written.artifact.artifactId });
      const slot = await ok<{ artifactId: string; url: string }>(client, "presign_upload", {
        filename: "u.txt",
      });
      expect((await fetch(slot.url, { method: "PUT", body: "up" })).status).toBeLessThan(300);
      await ok(client, "register_upload", { artifactId: slot.artifactId });
      await ok(client, "delete_file", { artifactId: uploaded.artifact.artifactId });
    } finally {
      await client.close();
    }
    expect(types(events)).toEqual([
      "artifact.stored",
      "artifact.stored",
      "artifact.updated",
      "artifact.stored",
      "artifact.updated",
      "artifact.presigned",
      "upload.presigned",
      "upload.registered",
      "artifact.deleted",
    ]);
    for (const event of events) {
      expect(event.actor).toEqual({ userId: "alice", keyId: "alice-laptop" });
      expect(event.sessionId).toBe("user_alice");
      expect(event.requestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    // One HTTP request per tool call: each event names a different request.
    expect(new Set(events.map((e) => e.requestId)).size).toBe(events.length);
    expectNoSecrets(
      events,
      keys.map((k) => k.key),
    );
  });

  it("a refused MCP call is reported as access denied for that user", async () => {
    const id = await store.store("alice's", { userId: "alice" });
    events.length = 0;
    const client = await connectHttp("v2", `${baseUrl}/mcp`, bearer(keys[1]!.key));
    try {
      const result = await client.callTool({ name: "read_file", arguments: { artifactId: id } });
      expect(result.isError).toBe(true);
    } finally {
      await client.close();
    }
    expect(events).toEqual([
      expect.objectContaining({
        type: "access.denied",
        actor: { userId: "bob", keyId: apiKeyId(keys[1]!.key) },
        artifactId: id,
      }),
    ]);
  });
});

describe("audit events from an MCP server without the HTTP handler in front", () => {
  it("name the MCP request: this connection and the call's JSON-RPC id", async () => {
    const front = await startTestFront();
    const events: AuditEvent[] = [];
    const store = new ArtifactStore({
      sandboxId: uniqueSandbox("audit-mcp"),
      publicUrl: front.baseUrl,
      onEvent: (e) => void events.push(e),
    });
    front.attach(store);
    const client = await connectHttp("v2", `${front.baseUrl}/mcp`, bearer(front.keyFor("dora")));
    try {
      await ok(client, "write_file", { content: "one", filename: "1.txt" });
      await ok(client, "write_file", { content: "two", filename: "2.txt" });
    } finally {
      await client.close();
      await front.close();
      await store.close();
    }
    expect(types(events)).toEqual(["artifact.stored", "artifact.stored"]);
    for (const event of events) {
      expect(event.actor).toEqual({ userId: "dora", keyId: null });
      expect(event.requestId).toMatch(/^mcp-[0-9a-f]{8}-\d+$/);
    }
    expect(events[0]!.requestId).not.toBe(events[1]!.requestId);
  });
});
