import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toolError } from "../src/mcp/errors.js";
import { createMcpEndpoint, type McpHttpEndpoint } from "../src/mcp/http.js";
import { createMcpServer } from "../src/mcp/server.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { node22Tools } from "./helpers/node22.js";
import { bearer, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * The MCP conformance package's server scenarios, run by its own CLI under Node 22, against the
 * endpoint `/mcp` mounts (createMcpEndpoint with the loopback Host/Origin guard). The conformance
 * CLI cannot send an API key, so it talks to that endpoint behind a keyless loopback front rather
 * than to `serve` itself; the guard on a real serve's /mcp is checked directly below.
 *
 * tools-call-error calls a tool named `test_error_handling`, which only the conformance suite's
 * reference server has: it runs against an app server built with createMcpServer (as the README's
 * "In your own MCP server" recipe does) whose extra tool fails through the same error mapping
 * as every artifact tool.
 */

const ENDPOINT_SCENARIOS = [
  "server-initialize",
  "ping",
  "tools-list",
  "resources-list",
  "dns-rebinding-protection",
];

interface Check {
  id: string;
  status: string;
  errorMessage?: string;
}

async function listen(
  handle: (request: Request) => Promise<Response>,
): Promise<{ url: string; server: Server }> {
  const server = createServer(getRequestListener(handle));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, server };
}

describe("MCP conformance scenarios (@modelcontextprotocol/conformance 0.1.16 on Node 22)", () => {
  let tools: { node: string; conformance: string };
  let store: ArtifactStore;
  let endpoint: McpHttpEndpoint;
  let results: string;
  const servers: Server[] = [];
  let endpointUrl: string;
  let appUrl: string;

  /** Runs one scenario; returns its checks as the CLI wrote them. */
  async function scenario(name: string, url: string): Promise<Check[]> {
    const cwd = await mkdtemp(join(results, `${name}-`));
    const outcome = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(
        tools.node,
        [tools.conformance, "server", "--url", url, "--scenario", name, "-o", join(cwd, "results")],
        { cwd, timeout: 60_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
      );
    });
    const dirs = await readdir(join(cwd, "results"));
    const checks = JSON.parse(
      await readFile(join(cwd, "results", dirs[0]!, "checks.json"), "utf8"),
    ) as Check[];
    expect(checks.length, outcome.out).toBeGreaterThan(0);
    for (const check of checks) expect(check, `${name}: ${outcome.out}`).toMatchObject({ status: "SUCCESS" });
    expect(outcome.code, outcome.out).toBe(0);
    return checks;
  }

  beforeAll(async () => {
    tools = await node22Tools();
    results = await mkdtemp(join(tmpdir(), "chuk-conformance-"));
    store = new ArtifactStore({ sandboxId: uniqueSandbox("conf") });
    await store.store(Buffer.from("listed"), {
      userId: "conformance",
      filename: "a.txt",
      mime: "text/plain",
    });

    endpoint = createMcpEndpoint(store, { allowedHostnames: ["localhost", "127.0.0.1", "[::1]"] });
    const plain = await listen((request) => endpoint.fetch(request, { userId: "conformance", admin: false }));
    servers.push(plain.server);
    endpointUrl = plain.url;

    const app = createMcpHandler(() => {
      const server = new McpServer({ name: "conformance-app", version: "1.0.0" });
      server.registerTool(
        "test_error_handling",
        { description: "Always fails: reads an artifact that does not exist" },
        async () => {
          try {
            await store.metadata("0".repeat(32), { userId: "conformance" });
            throw new Error("expected the read to fail");
          } catch (err) {
            return toolError(err);
          }
        },
      );
      return createMcpServer(store, { userId: "conformance", server, subscriptions: "none" });
    });
    const appFront = await listen((request) => app.fetch(request));
    servers.push(appFront.server);
    appUrl = appFront.url;
  }, 360_000);

  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
    await endpoint?.close();
    await store?.close();
    if (results) await rm(results, { recursive: true, force: true });
  });

  for (const name of ENDPOINT_SCENARIOS) {
    it(`${name} against the /mcp endpoint`, { timeout: 90_000 }, async () => {
      await scenario(name, endpointUrl);
    });
  }

  it("tools-call-error against an app server built with createMcpServer", { timeout: 90_000 }, async () => {
    await scenario("tools-call-error", appUrl);
  });
});

describe("DNS-rebinding guard on a real serve's /mcp (loopback bind)", () => {
  let server: RunningServer;

  beforeAll(async () => {
    server = await startServer({ args: ["--provider", "memory", "--no-console"], env: KEY_ENV });
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** The status of an initialize POST with these Host and Origin headers (node:http can set Host). */
  const status = (host: string, origin: string | null) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL(`${server.url}/mcp`);
      const req = httpRequest(
        url,
        {
          method: "POST",
          headers: {
            ...bearer(KEYS.alice),
            host,
            ...(origin !== null && { origin }),
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end(
        JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: {},
            clientInfo: { name: "t", version: "1" },
          },
        }),
      );
    });

  it("refuses another Host or Origin even with a valid key, and serves localhost ones", async () => {
    const { port } = new URL(server.url);
    expect(await status("evil.example.com", "http://evil.example.com")).toBe(403);
    expect(await status(`evil.example.com:${port}`, null)).toBe(403);
    expect(await status(`127.0.0.1:${port}`, "http://evil.example.com")).toBe(403);
    expect(await status(`localhost:${port}`, `http://localhost:${port}`)).toBe(200);
    expect(await status(`127.0.0.1:${port}`, null)).toBe(200);
  });
});
