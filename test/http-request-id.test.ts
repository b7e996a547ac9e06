import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type AuditEvent, currentAuditScope } from "../src/audit/event.js";
import { createHttpHandler } from "../src/http/app.js";
import { createNodeServer } from "../src/http/node-server.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";

/**
 * X-Request-Id on every answer, whichever way the handler runs: under createNodeServer (the id is
 * set on the Node response before the answer exists), and through the handler's own `fetch`
 * (no Node response: the id is set on the answer). Audit events name the same id, and only a
 * store with audit listeners carries a request scope at all.
 */

const KEY = "request-id-key-0123456789abcdef";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function newStore(onEvent?: (event: AuditEvent) => void, publicUrl?: string): ArtifactStore {
  const store = new ArtifactStore({
    storageProvider: "memory",
    sessionProvider: "memory",
    sandboxId: uniqueSandbox("reqid"),
    signingSecret: "a-test-secret-of-enough-length-000",
    ...(onEvent && { onEvent }),
    ...(publicUrl && { publicUrl }),
  });
  cleanups.push(() => store.close());
  return store;
}

/** Listens first (port 0), then builds the store with the real URL, then the handler. */
async function listen(
  onEvent?: (event: AuditEvent) => void,
): Promise<{ base: string; store: ArtifactStore }> {
  let app: ReturnType<typeof createHttpHandler> | null = null;
  const server = createNodeServer(() => app);
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const store = newStore(onEvent, base);
  app = createHttpHandler(store, { apiKeys: [{ key: KEY, userId: "alice" }] });
  return { base, store };
}

const bearer = { authorization: `Bearer ${KEY}` };

describe.each([
  { name: "without audit listeners", audited: false },
  { name: "with an audit listener", audited: true },
])("X-Request-Id under the Node server, $name", ({ audited }) => {
  it("is on answers of every kind, and a proxy's id is kept", async () => {
    const events: AuditEvent[] = [];
    const { base, store } = await listen(audited ? (e) => events.push(e) : undefined);
    const stored = await fetch(`${base}/v1/artifacts?filename=a.txt`, {
      method: "POST",
      headers: { ...bearer, "content-type": "text/plain", "x-request-id": "proxy-req-7" },
      body: "hello",
    });
    expect(stored.status).toBe(201);
    expect(stored.headers.get("x-request-id")).toBe("proxy-req-7");
    const { artifactId } = (await stored.json()) as { artifactId: string };
    const url = await store.presign(artifactId);

    const answers = await Promise.all([
      fetch(`${base}/healthz`),
      fetch(`${base}/no/such/route`),
      fetch(`${base}/v1/artifacts/${artifactId}`, { headers: bearer }),
      fetch(url),
      fetch(url, { headers: { "if-none-match": `"${(await store.metadata(artifactId)).etag}"` } }),
      fetch(`${base}/v1/whoami`),
    ]);
    expect(answers.map((r) => r.status)).toStrictEqual([200, 404, 200, 200, 304, 401]);
    const ids = answers.map((r) => r.headers.get("x-request-id"));
    for (const id of ids) expect(id).toMatch(UUID);
    expect(new Set(ids).size).toBe(ids.length);
    expect(await answers[3]!.text()).toBe("hello");

    if (audited) {
      expect(events.find((e) => e.type === "artifact.stored")).toMatchObject({
        requestId: "proxy-req-7",
        actor: { userId: "alice" },
      });
    }
  });
});

describe("X-Request-Id through the handler's fetch (no Node server)", () => {
  it("is set on the answer, and audit events name it", async () => {
    const events: AuditEvent[] = [];
    const store = newStore((e) => events.push(e));
    const app = createHttpHandler(store, { apiKeys: [{ key: KEY, userId: "alice" }] });
    const health = await app.request("/healthz");
    expect(health.headers.get("x-request-id")).toMatch(UUID);
    const stored = await app.request("/v1/artifacts?filename=b.txt", {
      method: "POST",
      headers: { ...bearer, "content-type": "text/plain", "x-request-id": "given-1" },
      body: "bytes",
    });
    expect(stored.status).toBe(201);
    expect(stored.headers.get("x-request-id")).toBe("given-1");
    expect(events.find((e) => e.type === "artifact.stored")).toMatchObject({ requestId: "given-1" });
  });
});

describe("AuditTrail.scoped", () => {
  it("carries a request scope only while something listens for audit events", async () => {
    const store = newStore();
    expect(store.audit.scoped({ requestId: "r-1" }, () => currentAuditScope())).toBeUndefined();
    const stop = store.audit.subscribe(() => {});
    expect(store.audit.scoped({ requestId: "r-2" }, () => currentAuditScope())).toEqual({ requestId: "r-2" });
    stop();
    expect(store.audit.scoped({ requestId: "r-3" }, () => currentAuditScope())).toBeUndefined();
  });
});
