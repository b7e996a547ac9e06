import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { afterEach, describe, expect, it } from "vitest";
import { createApp as createExpressApp } from "../examples/express.js";
import { createApp as createHonoApp } from "../examples/hono.js";
import { createHttpHandler } from "../src/http/app.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";

/**
 * The README's mounting examples (examples/hono.ts, examples/express.ts), run for real: the
 * handler under /artifacts of someone else's app, signed URLs pointing back through the mount.
 */

const KEY = "mount-key-0123456789abcdef";

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Listens first (port 0), then builds the store with the real URL, then the app. */
async function start(kind: "hono" | "express"): Promise<string> {
  let listener: Listener | null = null;
  const server = createServer((req, res) => listener?.(req, res));
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = await mkdtemp(join(tmpdir(), "chuk-mount-"));
  const store = new ArtifactStore({
    storageProvider: "filesystem",
    fsRoot: dir,
    sandboxId: uniqueSandbox("mount"),
    publicUrl: `${base}/artifacts`,
    signingSecret: "a-test-secret-of-enough-length-000",
  });
  if (kind === "express") {
    listener = createExpressApp(store, KEY) as unknown as Listener;
  } else {
    listener = getRequestListener(createHonoApp(store, KEY).fetch) as unknown as Listener;
  }
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return base;
}

describe.each(["hono", "express"] as const)("mounted in %s", (kind) => {
  it("serves the app's own routes and chuk-artifacts under /artifacts", async () => {
    const base = await start(kind);
    expect(await (await fetch(`${base}/`)).text()).toBe("Hello from my app");
    expect(await (await fetch(`${base}/artifacts/healthz`)).json()).toEqual({ status: "ok" });
    expect((await fetch(`${base}/artifacts/v1/artifacts`)).status).toBe(401);

    const auth = { authorization: `Bearer ${KEY}` };
    const up = await fetch(`${base}/artifacts/v1/artifacts?filename=m.txt`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: "mounted",
    });
    expect(up.status).toBe(201);
    const { artifactId, sessionId } = (await up.json()) as { artifactId: string; sessionId: string };
    expect(sessionId).toBe("user_alice");

    // Signed URLs name the mount point and are served through it.
    const presigned = await fetch(`${base}/artifacts/v1/artifacts/${artifactId}/presign`, {
      method: "POST",
      headers: auth,
    });
    const { url } = (await presigned.json()) as { url: string };
    expect(url.startsWith(`${base}/artifacts/signed/grid/`)).toBe(true);
    const ranged = await fetch(url, { headers: { range: "bytes=0-3" } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe("moun");

    // The upload flow through the mount.
    const slot = (await (
      await fetch(`${base}/artifacts/v1/uploads`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ mimeType: "text/plain", maxBytes: 100 }),
      })
    ).json()) as { url: string; artifactId: string; headers: Record<string, string> };
    const tooBig = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "x".repeat(101) });
    expect(tooBig.status).toBe(413);
    expect(
      (await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "via the mount" })).status,
    ).toBe(200);
    const registered = await fetch(`${base}/artifacts/v1/uploads/${slot.artifactId}/register`, {
      method: "POST",
      headers: auth,
    });
    expect(registered.status).toBe(201);
    expect(await registered.json()).toMatchObject({ bytes: 13 });
  });
});

describe("an app's own authentication", () => {
  it("is asked when no API key matches, and its user's rules apply", async () => {
    const store = new ArtifactStore({ sandboxId: uniqueSandbox("auth") });
    cleanups.push(() => store.close());
    const app = createHttpHandler(store, {
      apiKeys: [{ key: KEY, userId: "alice" }],
      authenticate: (request) =>
        request.headers.get("cookie") === "session=carol" ? { userId: "carol", admin: false } : null,
    });
    const carol = await app.request("/v1/whoami", { headers: { cookie: "session=carol" } });
    expect(await carol.json()).toMatchObject({ userId: "carol", admin: false });
    expect((await app.request("/v1/whoami", { headers: { cookie: "session=mallory" } })).status).toBe(401);
    const put = await app.request("/v1/artifacts", {
      method: "POST",
      headers: { cookie: "session=carol" },
      body: "c",
    });
    const { artifactId } = (await put.json()) as { artifactId: string };
    const byAlice = await app.request(`/v1/artifacts/${artifactId}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(byAlice.status).toBe(403);
    const head = await app.request(`/v1/artifacts/${artifactId}`, {
      method: "HEAD",
      headers: { cookie: "session=carol" },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1");
    expect(await head.text()).toBe("");
  });
});
