import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { bearer, json, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/** `chuk-artifacts serve` as a user starts it: defaults, what it prints, restarts, shutdown. */

const dirs: string[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop("SIGKILL");
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "chuk-serve-"));
  dirs.push(dir);
  return dir;
}

async function serve(options: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  const server = await startServer(options);
  servers.push(server);
  return server;
}

async function storeText(server: RunningServer, key: string, text: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/artifacts?ttl=never`, {
    method: "POST",
    headers: bearer(key, { "content-type": "text/plain" }),
    body: text,
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { artifactId: string }).artifactId;
}

async function presign(server: RunningServer, key: string, id: string): Promise<string> {
  return (await json(`${server.url}/v1/artifacts/${id}/presign`, "POST", key, {})).body.url;
}

describe("chuk-artifacts serve", () => {
  it("with no configuration: ./artifacts, loopback, a generated key, a kept secret, survives a restart", async () => {
    const cwd = await tempDir();
    const first = await serve({ cwd });
    const out = first.output();
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.url).not.toMatch(/:8080$/); // --port 0 picked a free port, and says which
    expect(out).toContain(`storage: filesystem (${join(cwd, "artifacts")})`);
    expect(out).toContain("sessions: memory");
    expect(out).toContain(
      `signing secret: generated and kept in ${join(cwd, "artifacts", "_signing-secret")}`,
    );
    expect(first.generatedKey).toMatch(/^ca_[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(cwd, "artifacts", "_signing-secret"))).mode & 0o777).toBe(0o600);

    const key = first.generatedKey!;
    const id = await storeText(first, key, "kept across restarts");
    const url = await presign(first, key, id);
    expect(url.startsWith(`${first.url}/signed/`)).toBe(true); // publicUrl is where it really listens
    expect(await first.stop("SIGTERM")).toBe(0);
    expect(first.output()).toContain("SIGTERM, shutting down");

    // Same folder, same port: the old URL still verifies and the bytes are still there.
    const port = new URL(first.url).port;
    const second = await serve({ cwd, args: ["--port", port] });
    expect(second.output()).toContain("signing secret: kept in");
    expect(await (await fetch(url)).text()).toBe("kept across restarts");
    // The generated key was kept (as a hash only) and still works; it is not printed again.
    expect(second.generatedKey).toBeNull();
    expect(second.output()).toContain('API keys: the kept key of user "local"');
    expect(second.output()).not.toContain(key);
    expect((await json(`${second.url}/v1/whoami`, "GET", key)).body).toMatchObject({
      userId: "local",
      admin: true,
    });
    const keptFile = await readFile(join(cwd, "artifacts", "_api-key"), "utf8");
    expect(keptFile).not.toContain(key);
    expect(JSON.parse(keptFile).sha256).toBe(createHash("sha256").update(key).digest("hex"));
    expect((await stat(join(cwd, "artifacts", "_api-key"))).mode & 0o777).toBe(0o600);
    expect(await second.stop("SIGINT")).toBe(0);

    // --rotate-key makes a new one: printed once, and the old one stops working.
    const third = await serve({ cwd, args: ["--rotate-key"] });
    expect(third.generatedKey).toMatch(/^ca_/);
    expect(third.generatedKey).not.toBe(key);
    expect((await fetch(`${third.url}/v1/whoami`, { headers: bearer(key) })).status).toBe(401);
    expect((await fetch(`${third.url}/v1/whoami`, { headers: bearer(third.generatedKey!) })).status).toBe(
      200,
    );
  });

  it("keeps files with no expiry by default: still there after a restart, past a shortened TTL", async () => {
    const cwd = await tempDir();
    const first = await serve({ cwd });
    expect(first.output()).toContain("expiry: artifacts never expire");
    const key = first.generatedKey!;
    const res = await fetch(`${first.url}/v1/artifacts?filename=kept.txt`, {
      method: "POST",
      headers: bearer(key, { "content-type": "text/plain" }),
      body: "still here tomorrow",
    });
    const kept = (await res.json()) as { artifactId: string; ttl: number | null; expiresAt: string | null };
    expect(kept).toMatchObject({ ttl: null, expiresAt: null });
    await first.stop();

    // The control: the same steps with a 1 s default expire, so this test would see a TTL.
    const shortCwd = await tempDir();
    const short = await serve({ cwd: shortCwd, args: ["--ttl", "1"] });
    expect(short.output()).toContain("expiry: artifacts expire after 1 s");
    const shortKey = short.generatedKey!;
    const gone = await fetch(`${short.url}/v1/artifacts`, {
      method: "POST",
      headers: bearer(shortKey, { "content-type": "text/plain" }),
      body: "gone soon",
    });
    const goneId = ((await gone.json()) as { artifactId: string }).artifactId;
    await short.stop();
    await new Promise((r) => setTimeout(r, 1_500));

    const again = await serve({ cwd });
    expect(
      (await fetch(`${again.url}/v1/artifacts/${kept.artifactId}`, { headers: bearer(key) })).status,
    ).toBe(200);
    expect(
      await (await fetch(`${again.url}/v1/artifacts/${kept.artifactId}`, { headers: bearer(key) })).text(),
    ).toBe("still here tomorrow");
    const listed = await json(`${again.url}/v1/artifacts`, "GET", key);
    expect(listed.body.items.map((m: { artifactId: string }) => m.artifactId)).toEqual([kept.artifactId]);
    const shortAgain = await serve({ cwd: shortCwd, args: ["--ttl", "1"] });
    expect(
      (await fetch(`${shortAgain.url}/v1/artifacts/${goneId}`, { headers: bearer(shortKey) })).status,
    ).toBe(410);
  });

  it("with --provider memory: a per-process secret, said so, and URLs that die with the process", async () => {
    const first = await serve({ args: ["--provider", "memory"], env: KEY_ENV });
    expect(first.output()).toContain("storage: memory");
    expect(first.output()).toContain("signing secret: random for this process");
    expect(first.generatedKey).toBeNull();
    expect(first.output()).toContain("API keys: 3 from CHUK_API_KEYS, CHUK_ADMIN_KEYS");
    // Configured keys are never printed.
    for (const key of Object.values(KEYS)) expect(first.output()).not.toContain(key);
    const id = await storeText(first, KEYS.alice, "ephemeral");
    const url = await presign(first, KEYS.alice, id);
    expect(await (await fetch(url)).text()).toBe("ephemeral");
    const port = new URL(first.url).port;
    await first.stop();
    const second = await serve({ args: ["--provider", "memory", "--port", port], env: KEY_ENV });
    expect((await fetch(url)).status).toBe(403);
    await second.stop();
  });

  it("uses ARTIFACT_PUBLIC_URL and ARTIFACT_SIGNING_SECRET when set, and keys from CHUK_API_KEYS_FILE", async () => {
    const dir = await tempDir();
    const keysFile = join(dir, "keys.json");
    await writeFile(keysFile, JSON.stringify([{ key: "file-key-0123456789abcdef", userId: "carol" }]));
    const server = await serve({
      args: ["--provider", "filesystem", "--fs-root", join(dir, "root")],
      env: {
        ARTIFACT_PUBLIC_URL: "https://files.example.com/base",
        ARTIFACT_SIGNING_SECRET: "configured-secret-0123456789abcdef",
        CHUK_API_KEYS_FILE: keysFile,
      },
    });
    expect(server.output()).toContain("signing secret: from ARTIFACT_SIGNING_SECRET");
    await expect(stat(join(dir, "root", "_signing-secret"))).rejects.toThrow();
    expect((await json(`${server.url}/v1/whoami`, "GET", "file-key-0123456789abcdef")).body.userId).toBe(
      "carol",
    );
    const id = await storeText(server, "file-key-0123456789abcdef", "x");
    const url = new URL(await presign(server, "file-key-0123456789abcdef", id));
    expect(`${url.origin}${url.pathname}`.startsWith("https://files.example.com/base/signed/grid/")).toBe(
      true,
    );
    // The same URL, sent to this server directly, verifies: the secret and key are what was signed.
    const local = await fetch(`${server.url}${url.pathname.slice("/base".length)}${url.search}`);
    expect(await local.text()).toBe("x");
  });

  it("cuts off clients that stall in the headers or mid-body, storing nothing", async () => {
    const server = await serve({ args: ["--provider", "memory", "--idle-timeout", "1"], env: KEY_ENV });
    const { hostname, port } = new URL(server.url);
    const slot = (await json(`${server.url}/v1/uploads`, "POST", KEYS.alice, { mimeType: "text/plain" }))
      .body;
    const signed = new URL(slot.url);
    const stalls = [
      "GET /healthz HTTP/1.1\r\nHost: x\r\n", // headers never finished
      `PUT ${signed.pathname}${signed.search} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly a few bytes`,
    ];
    for (const request of stalls) {
      const socket = connect(Number(port), hostname);
      socket.resume();
      await once(socket, "connect");
      socket.write(request);
      const started = Date.now();
      await once(socket, "close");
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThan(800);
      expect(waited).toBeLessThan(5000);
    }
    // The half-sent upload left nothing behind.
    const reg = await json(`${server.url}/v1/uploads/${slot.artifactId}/register`, "POST", KEYS.alice, {});
    expect(reg.status).toBe(409);
  });

  it("fails before binding on bad configuration, saying what to set", async () => {
    await expect(startServer({ args: ["--provider", "nope"] })).rejects.toThrow(/ARTIFACT_PROVIDER/);
    await expect(startServer({ env: { CHUK_API_KEYS: "short=alice" } })).rejects.toThrow(
      /at least 16 characters/,
    );
  });
});
