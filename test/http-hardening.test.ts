import { request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import {
  type Backend,
  backends,
  bearer,
  json,
  KEY_ENV,
  KEYS,
  type RunningServer,
  startServer,
} from "./http-harness.js";

/**
 * What a hostile client tried against a real `chuk-artifacts serve`, and what it gets now:
 * auth limiting that never locks out a valid key, single-use upload URLs, sessions that cannot be
 * probed or squatted, the DNS-rebinding guard on every route and caps on uploads in flight.
 */

const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop("SIGKILL");
});

async function serve(args: string[] = [], env: Record<string, string> = {}): Promise<RunningServer> {
  const server = await startServer({
    args: ["--provider", "memory", ...args],
    env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("hard"), ...env },
  });
  servers.push(server);
  return server;
}

/** A request with headers fetch will not send as given (Host), over node:http. */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((done, fail) => {
    const req = httpRequest(
      url,
      { method: options.method ?? "GET", headers: options.headers ?? {} },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => done({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on("error", fail);
    req.end(options.body);
  });
}

const MCP_INIT = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
});
const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

async function storeText(server: RunningServer, key: string, text: string, query = ""): Promise<Response> {
  return fetch(`${server.url}/v1/artifacts${query}`, {
    method: "POST",
    headers: bearer(key, { "content-type": "text/plain" }),
    body: text,
  });
}

describe("failed-authentication limiting", () => {
  it("never refuses a valid key, however many failures came from the same address", async () => {
    const server = await serve();
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${server.url}/v1/whoami`, { headers: bearer(`wrong-key-${i}-0000000000000`) });
      expect(res.status).toBe(i < 10 ? 401 : 429);
      if (i >= 10) expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    const alice = await fetch(`${server.url}/v1/whoami`, { headers: bearer(KEYS.alice) });
    expect(alice.status).toBe(200);
    const mcp = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: bearer(KEYS.bob, MCP_HEADERS),
      body: MCP_INIT,
    });
    expect(mcp.status).toBe(200);
    // Bad keys from that address are still limited.
    const again = await fetch(`${server.url}/v1/whoami`, { headers: bearer("wrong-key-x-0000000000000") });
    expect(again.status).toBe(429);
  });

  it("never counts a CORS preflight as a failure", async () => {
    const server = await serve();
    for (let i = 0; i < 15; i++) {
      const res = await fetch(`${server.url}/v1/artifacts`, {
        method: "OPTIONS",
        headers: {
          origin: server.url,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization",
        },
      });
      expect(res.status).not.toBe(429);
    }
    const wrong = await fetch(`${server.url}/v1/whoami`, { headers: bearer("wrong-key-0-0000000000000") });
    expect(wrong.status).toBe(401);
  });

  it("never counts the no-cors requests of a page on another origin (refused by the Origin check)", async () => {
    const server = await serve();
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${server.url}/v1/artifacts`, {
        method: "POST",
        headers: { origin: "https://evil.example", "content-type": "text/plain" },
        body: "x",
      });
      expect(res.status).toBe(403);
    }
    const wrong = await fetch(`${server.url}/v1/whoami`, { headers: bearer("wrong-key-0-0000000000000") });
    expect(wrong.status).toBe(401);
  });

  it("believes X-Forwarded-For only from a proxy named with --trust-proxy", async () => {
    const fail = (server: RunningServer, forwardedFor: string) =>
      fetch(`${server.url}/v1/whoami`, {
        headers: bearer("wrong-key-0-0000000000000", { "x-forwarded-for": forwardedFor }),
      }).then((r) => r.status);

    const proxied = await serve(["--trust-proxy", "127.0.0.1"]);
    for (let i = 0; i < 10; i++) expect(await fail(proxied, "10.0.0.1")).toBe(401);
    expect(await fail(proxied, "10.0.0.1")).toBe(429);
    // Another client behind the same proxy has its own count; a spoofed hop before it is ignored.
    expect(await fail(proxied, "10.0.0.2")).toBe(401);
    expect(await fail(proxied, "10.0.0.1, 10.0.0.3")).toBe(401);

    // Without --trust-proxy the header is the client's own word: it buys no fresh count.
    const direct = await serve();
    for (let i = 0; i < 10; i++) expect(await fail(direct, `10.0.1.${i}`)).toBe(401);
    expect(await fail(direct, "10.0.2.1")).toBe(429);
  });
});

describe("the DNS-rebinding guard (Host and Origin)", () => {
  let server: RunningServer;
  let signedUrl: string;
  beforeAll(async () => {
    server = await startServer({
      args: ["--provider", "memory"],
      env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("host") },
    });
    const stored = (await (await storeText(server, KEYS.alice, "guarded")).json()) as { artifactId: string };
    signedUrl = (
      await json(`${server.url}/v1/artifacts/${stored.artifactId}/presign`, "POST", KEYS.alice, {})
    ).body.url;
  });
  afterAll(() => server?.stop());

  it("refuses a foreign Host on every route: health, REST, signed URLs, /mcp, the console", async () => {
    const evil = { host: "evil.example" };
    const attempts = [
      raw(`${server.url}/healthz`, { headers: evil }),
      raw(`${server.url}/v1/whoami`, { headers: bearer(KEYS.alice, evil) }),
      raw(signedUrl, { headers: evil }),
      raw(`${server.url}/mcp`, {
        method: "POST",
        headers: bearer(KEYS.alice, { ...MCP_HEADERS, ...evil, origin: "http://evil.example" }),
        body: MCP_INIT,
      }),
      raw(`${server.url}/`, { headers: evil }),
      raw(`${server.url}/openapi.json`, { headers: { host: "evil.example:80" } }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body).error.code).toBe("HOST_NOT_ALLOWED");
    }
  });

  it("answers to its loopback names on any port", async () => {
    const port = new URL(server.url).port;
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, "localhost"]) {
      expect((await raw(`${server.url}/healthz`, { headers: { host } })).status, host).toBe(200);
    }
    const mcp = await raw(`${server.url}/mcp`, {
      method: "POST",
      headers: bearer(KEYS.alice, {
        ...MCP_HEADERS,
        host: `localhost:${port}`,
        origin: `http://localhost:${port}`,
      }),
      body: MCP_INIT,
    });
    expect(mcp.status).toBe(200);
  });

  it("refuses a foreign Origin on /v1 and /mcp, but lets any origin use a signed URL", async () => {
    const origin = { origin: "http://evil.example" };
    const rest = await fetch(`${server.url}/v1/whoami`, { headers: bearer(KEYS.alice, origin) });
    expect(rest.status).toBe(403);
    expect((await rest.json()).error.code).toBe("ORIGIN_NOT_ALLOWED");
    const mcp = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: bearer(KEYS.alice, { ...MCP_HEADERS, ...origin }),
      body: MCP_INIT,
    });
    expect(mcp.status).toBe(403);
    const nullOrigin = await fetch(`${server.url}/v1/whoami`, {
      headers: bearer(KEYS.alice, { origin: "null" }),
    });
    expect(nullOrigin.status).toBe(403);
    const signed = await fetch(signedUrl, { headers: origin });
    expect(signed.status).toBe(200);
    expect(signed.headers.get("access-control-allow-origin")).toBe("*");
    expect(await signed.text()).toBe("guarded");
  });

  it("takes an allow-list with --allowed-hosts, and '*' turns the check off", async () => {
    const listed = await serve(["--allowed-hosts", "files.example.com"]);
    expect(listed.output()).toContain("allowed hosts: localhost, 127.0.0.1, [::1], files.example.com");
    expect((await raw(`${listed.url}/healthz`, { headers: { host: "files.example.com" } })).status).toBe(200);
    expect((await raw(`${listed.url}/healthz`, { headers: { host: "evil.example" } })).status).toBe(403);
    const open = await serve(["--allowed-hosts", "*"]);
    expect(open.output()).toContain("allowed hosts: any");
    expect((await raw(`${open.url}/healthz`, { headers: { host: "evil.example" } })).status).toBe(200);
  });
});

describe("sessions cannot be probed", () => {
  it("answers the same 404 for a session that does not exist and one of another user", async () => {
    const server = await serve();
    expect((await storeText(server, KEYS.alice, "alice's")).status).toBe(201);
    const team = `team-${uniqueSandbox()}`;
    expect((await storeText(server, KEYS.alice, "team", `?sessionId=${team}`)).status).toBe(201);
    const answers = [];
    for (const session of ["user_alice", "user_carol", team, "team-nobody-made"]) {
      for (const path of [`/v1/sessions/${session}/artifacts`, `/v1/artifacts?sessionId=${session}`]) {
        const res = await json(`${server.url}${path}`, "GET", KEYS.bob);
        answers.push({ status: res.status, body: JSON.stringify(res.body).replace(session, "S") });
      }
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]).toEqual({
      status: 404,
      body: JSON.stringify({ error: { code: "SESSION_NOT_FOUND", message: "session S not found" } }),
    });
    // Writing into another user's session is the same 404, not a 403 that confirms it exists.
    const into = await storeText(server, KEYS.bob, "x", "?sessionId=user_alice");
    expect(into.status).toBe(404);
    expect((await into.json()).error.code).toBe("SESSION_NOT_FOUND");
    // One's own session reads fine before it exists; an admin sees every session.
    expect((await json(`${server.url}/v1/artifacts`, "GET", KEYS.bob)).status).toBe(200);
    expect((await json(`${server.url}/v1/sessions/user_alice/artifacts`, "GET", KEYS.admin)).status).toBe(
      200,
    );
  });
});

describe("named sessions", () => {
  it("with --require-sessions: nobody claims a name by writing first; POST /v1/sessions claims it", async () => {
    const server = await serve(["--require-sessions", "--max-upload-bytes", "10"]);
    expect(server.output()).toContain("named sessions must be created first");
    const team = `team-${uniqueSandbox()}`;
    const squat = await storeText(server, KEYS.bob, "mine now", `?sessionId=${team}`);
    expect(squat.status).toBe(404);
    expect((await squat.json()).error.code).toBe("SESSION_NOT_FOUND");
    // Nor does a write refused for its size.
    expect((await storeText(server, KEYS.bob, "far too large", `?sessionId=${team}`)).status).toBe(404);
    const reserve = await json(`${server.url}/v1/uploads`, "POST", KEYS.bob, { sessionId: team });
    expect(reserve.status).toBe(404);

    const created = await json(`${server.url}/v1/sessions`, "POST", KEYS.alice, { sessionId: team });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ sessionId: team, userId: "alice" });
    expect((await storeText(server, KEYS.alice, "ours", `?sessionId=${team}`)).status).toBe(201);
    expect((await json(`${server.url}/v1/sessions`, "POST", KEYS.bob, { sessionId: team })).status).toBe(409);
    expect((await storeText(server, KEYS.bob, "x", `?sessionId=${team}`)).status).toBe(404);
    // Only an admin creates a session for someone else; one's own user_ session needs no creating.
    const forBob = { sessionId: `${team}-b`, userId: "bob" };
    expect((await json(`${server.url}/v1/sessions`, "POST", KEYS.alice, forBob)).status).toBe(403);
    expect((await json(`${server.url}/v1/sessions`, "POST", KEYS.admin, forBob)).status).toBe(201);
    expect((await storeText(server, KEYS.bob, "bob's", `?sessionId=${team}-b`)).status).toBe(201);
    expect((await storeText(server, KEYS.bob, "own")).status).toBe(201);
    // An unnamed session gets an unguessable id.
    const anonymous = await json(`${server.url}/v1/sessions`, "POST", KEYS.bob, {});
    expect(anonymous.status).toBe(201);
    expect(anonymous.body.sessionId.length).toBeGreaterThanOrEqual(22);
  });

  it("by default (documented): the first writer of an unknown name owns it", async () => {
    const server = await serve();
    const team = `team-${uniqueSandbox()}`;
    expect((await storeText(server, KEYS.bob, "first", `?sessionId=${team}`)).status).toBe(201);
    expect((await storeText(server, KEYS.alice, "second", `?sessionId=${team}`)).status).toBe(404);
  });
});

describe.each(backends())("signed upload URLs on $name", (backend: Backend) => {
  let server: RunningServer;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    const setup = await backend.setup();
    dispose = setup.dispose;
    server = await startServer({ args: setup.args, env: setup.env });
  });
  afterAll(async () => {
    await server?.stop();
    await dispose?.();
  });

  const put = (url: string, text: string) =>
    fetch(url, { method: "PUT", headers: { "content-type": "text/plain" }, body: text });
  const reserve = async () =>
    (await json(`${server.url}/v1/uploads`, "POST", KEYS.alice, { mimeType: "text/plain" })).body;
  const register = (id: string) => json(`${server.url}/v1/uploads/${id}/register`, "POST", KEYS.alice, {});
  const read = async (id: string) =>
    (await fetch(`${server.url}/v1/artifacts/${id}`, { headers: bearer(KEYS.alice) })).text();

  if (backend.name === "s3+redis") {
    // Native S3 URLs cannot be made single-use (README: what holds on S3).
    it("S3: before registration the last PUT wins; after it, a PUT cannot touch the artifact", async () => {
      const slot = await reserve();
      expect((await put(slot.url, "first")).status).toBe(200);
      expect((await put(slot.url, "second")).status).toBe(200);
      const registered = await register(slot.artifactId);
      expect(registered.status).toBe(201);
      expect(registered.body.bytes).toBe(6);
      await put(slot.url, "third after registration");
      expect(await read(slot.artifactId)).toBe("second");
      expect((await register(slot.artifactId)).status).toBe(409);
    });
  } else {
    it("works once: a second PUT is 409 and the first bytes are what gets registered", async () => {
      const slot = await reserve();
      expect((await put(slot.url, "first")).status).toBe(200);
      const second = await put(slot.url, "second");
      expect(second.status).toBe(409);
      expect((await second.json()).error.code).toBe("CONFLICT");
      expect((await register(slot.artifactId)).body.bytes).toBe(5);
      expect(await read(slot.artifactId)).toBe("first");
      expect((await put(slot.url, "after")).status).toBe(409);
    });

    it("stays usable after a refused PUT (wrong type), and races let exactly one PUT in", async () => {
      const slot = await reserve();
      const wrongType = await fetch(slot.url, {
        method: "PUT",
        headers: { "content-type": "x/y" },
        body: "z",
      });
      expect(wrongType.status).toBe(415);
      const racing = await Promise.all([1, 2, 3, 4].map((n) => put(slot.url, `racer ${n}`)));
      expect(racing.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
      expect((await register(slot.artifactId)).status).toBe(201);
    });
  }
});

describe("uploads in flight are capped per key and in total", () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  /** Starts an upload that sends its headers and one byte, then stalls. */
  async function stalledUpload(server: RunningServer, key: string): Promise<Socket> {
    return stalled(server, "POST /v1/artifacts", `Authorization: Bearer ${key}\r\n`);
  }

  async function stalled(server: RunningServer, requestLine: string, headers: string): Promise<Socket> {
    const { hostname, port } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    sockets.push(socket);
    socket.resume();
    await new Promise((done) => socket.once("connect", done));
    socket.write(
      `${requestLine} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${headers}` +
        "Content-Type: text/plain\r\nContent-Length: 100\r\n\r\nx",
    );
    return socket;
  }

  async function until(check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("condition not met in 5 s");
  }

  it("answers 429 with Retry-After past a cap, and frees the slot when an upload ends", async () => {
    const server = await serve(["--max-uploads-per-key", "2", "--max-uploads", "3"]);
    const a1 = await stalledUpload(server, KEYS.alice);
    await stalledUpload(server, KEYS.alice);
    await until(async () => (await storeText(server, KEYS.alice, "third")).status === 429);
    const limited = await storeText(server, KEYS.alice, "third");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Another key still has room until the total is reached.
    await stalledUpload(server, KEYS.bob);
    await until(async () => (await storeText(server, KEYS.admin, "over the total")).status === 429);
    // Reading is never capped.
    expect((await json(`${server.url}/v1/artifacts`, "GET", KEYS.alice)).status).toBe(200);
    // A stalled client that goes away gives its slot back.
    a1.destroy();
    await until(async () => (await storeText(server, KEYS.alice, "now fits")).status === 201);
  });

  it("counts signed PUTs per session", async () => {
    const server = await serve(["--max-uploads-per-key", "1"]);
    const slot = async (key: string) =>
      (await json(`${server.url}/v1/uploads`, "POST", key, { mimeType: "text/plain" })).body;
    const [first, second, bobs] = [await slot(KEYS.alice), await slot(KEYS.alice), await slot(KEYS.bob)];
    const path = (url: string) => new URL(url).pathname + new URL(url).search;
    await stalled(server, `PUT ${path(first.url)}`, "");
    const put = (url: string, type = "text/plain") =>
      fetch(url, { method: "PUT", headers: { "content-type": type }, body: "y" }).then((r) => r.status);
    // A wrong type probes without using the slot up: 415 once past the cap check, 429 before it.
    await until(async () => (await put(second.url, "x/probe")) === 429);
    expect(await put(second.url)).toBe(429);
    expect(await put(bobs.url)).toBe(200); // another session has its own count
  });
});
