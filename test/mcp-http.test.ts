import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArtifactStoreOptions } from "../src/config.js";
import { ArtifactStore } from "../src/store.js";
import { storeConfigs } from "./fixtures.js";
import { backends, bearer, KEYS, type RunningServer, startServer } from "./http-harness.js";
import {
  type ArtifactView,
  CLIENT_LINES,
  type ClientLine,
  call,
  connectHttp,
  fails,
  type McpClient,
  ok,
  startTestFront,
  type TestFront,
} from "./mcp-helpers.js";
import { LIMITS, type McpHarness, mcpServerSuite, TOOL_NAMES } from "./mcp-suite.js";

/**
 * MCP over Streamable HTTP, driven by the SDK's StreamableHTTPClientTransport:
 * - the whole suite against handleMcpHttp (what the HTTP server mounts at /mcp) on every store
 *   configuration, served from a loopback front with small limits;
 * - end to end against a real `chuk-artifacts serve` per backend, through its /mcp route, its
 *   bearer keys and its signed-URL endpoints.
 */

/** The JSON-RPC answer of a response, whether sent as JSON or as one SSE message event. */
async function rpcAnswer(response: Response) {
  const text = await response.text();
  if (!text.startsWith("event:") && !text.startsWith("data:")) return JSON.parse(text);
  const data = text.split("\n").find((l) => l.startsWith("data: "));
  return JSON.parse(data!.slice("data: ".length));
}

function connect(url: string, key: string | null, line: ClientLine = "v2"): Promise<McpClient> {
  return connectHttp(line, url, key === null ? {} : bearer(key));
}

for (const [fixture, line] of storeConfigs().flatMap((f) => CLIENT_LINES.map((l) => [f, l] as const))) {
  describe(`MCP over Streamable HTTP (handleMcpHttp, ${fixture.name}, ${line} client)`, () => {
    let front: TestFront;
    let store: ArtifactStore;
    const clients = new Map<string, Promise<McpClient>>();
    const harness: McpHarness = {
      client(userId) {
        let client = clients.get(userId);
        if (!client) {
          client = connect(`${front.baseUrl}/mcp`, front.keyFor(userId), line);
          clients.set(userId, client);
        }
        return client;
      },
      clientInSession: null,
      ...LIMITS,
      line,
    };

    beforeAll(async () => {
      front = await startTestFront();
      const options: ArtifactStoreOptions = await fixture.open();
      store = new ArtifactStore({
        ...options,
        signingSecret: randomBytes(24).toString("hex"),
        publicUrl: front.baseUrl,
      });
      front.attach(store, {
        maxReadBytes: LIMITS.maxReadBytes,
        maxUploadBytes: LIMITS.maxUploadBytes,
        listPageSize: LIMITS.pageSize,
      });
    });

    afterAll(async () => {
      for (const client of clients.values()) await (await client).close();
      await store?.close();
      await front?.close();
      await fixture.dispose();
    });

    mcpServerSuite(() => harness);

    it("is stateless: no Mcp-Session-Id, a fresh server per request, GET and DELETE refused", async () => {
      const init = await fetch(`${front.baseUrl}/mcp`, {
        method: "POST",
        headers: {
          ...bearer(front.keyFor("alice")),
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-06-18",
            capabilities: {},
            clientInfo: { name: "raw", version: "1" },
          },
        }),
      });
      expect(init.status).toBe(200);
      expect(init.headers.get("mcp-session-id")).toBeNull();
      expect((await rpcAnswer(init)).result.serverInfo.name).toBe("chuk-artifacts");

      // Without any initialize on this request's server, a call still works: nothing is kept.
      const listed = await fetch(`${front.baseUrl}/mcp`, {
        method: "POST",
        headers: {
          ...bearer(front.keyFor("alice")),
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-protocol-version": "2025-06-18",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      });
      expect(listed.status).toBe(200);
      const body = (await rpcAnswer(listed)) as { result: { tools: { name: string }[] } };
      expect(body.result.tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);

      for (const method of ["GET", "DELETE"]) {
        const refused = await fetch(`${front.baseUrl}/mcp`, {
          method,
          headers: bearer(front.keyFor("alice")),
        });
        expect(refused.status).toBe(405);
        expect(refused.headers.get("allow")).toBe("POST");
      }
    });
  });
}

describe.each(backends())("MCP at /mcp of a real chuk-artifacts serve ($name)", (backend) => {
  let server: RunningServer;
  let dispose: () => Promise<void>;
  const opened: McpClient[] = [];
  const client = async (key: string, line: ClientLine = "v2") => {
    const c = await connect(`${server.url}/mcp`, key, line);
    opened.push(c);
    return c;
  };

  beforeAll(async () => {
    const setup = await backend.setup();
    dispose = setup.dispose;
    server = await startServer({ args: [...setup.args, "--no-console"], env: setup.env });
  });

  afterAll(async () => {
    for (const c of opened) await c.close();
    await server?.stop();
    await dispose?.();
  });

  it.each(CLIENT_LINES)(
    "serves the tools and resources to an authenticated user (%s client), with working signed URLs",
    async (line) => {
      const alice = await client(KEYS.alice, line);
      const { tools } = await alice.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);

      const bytes = randomBytes(5000);
      const up = await ok<{ artifact: ArtifactView }>(alice, "upload_file", {
        contentBase64: bytes.toString("base64"),
        filename: "e2e.bin",
      });
      expect(up.artifact.uri).toBe(`artifact://user_alice/${up.artifact.artifactId}`);
      const read = (await call(alice, "read_file", { artifactId: up.artifact.artifactId })).content[0]!;
      expect(
        read.type === "resource" && "blob" in read.resource && Buffer.from(read.resource.blob, "base64"),
      ).toEqual(bytes);

      const signed = await ok<{ url: string }>(alice, "presign_download", {
        artifactId: up.artifact.artifactId,
      });
      const download = await fetch(signed.url);
      expect(download.status).toBe(200);
      expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);

      const slot = await ok<{ url: string; headers: Record<string, string>; artifactId: string }>(
        alice,
        "presign_upload",
        { filename: "put.txt", mime: "text/plain" },
      );
      const put = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "put through a URL" });
      expect(put.ok, await put.clone().text()).toBe(true);
      await ok(alice, "register_upload", { artifactId: slot.artifactId });
      const text = await alice.readResource({ uri: `artifact://user_alice/${slot.artifactId}` });
      expect(text.contents[0]).toMatchObject({ mimeType: "text/plain", text: "put through a URL" });

      const { resources } = await alice.listResources();
      expect(resources.map((r) => r.uri)).toEqual(
        expect.arrayContaining([up.artifact.uri, `artifact://user_alice/${slot.artifactId}`]),
      );
    },
  );

  it("keeps users apart: bob's key cannot reach alice's artifacts", async () => {
    const alice = await client(KEYS.alice);
    const bob = await client(KEYS.bob);
    const { artifact } = await ok<{ artifact: ArtifactView }>(alice, "write_file", {
      content: "for alice only",
    });
    expect(["not_found", "access_denied"]).toContain(
      (await fails(bob, "read_file", { artifactId: artifact.artifactId })).kind,
    );
    expect((await fails(bob, "read_file", { artifactId: artifact.uri })).kind).toBe("access_denied");
    await expect(bob.readResource({ uri: artifact.uri })).rejects.toMatchObject({
      code: -32602,
      data: { uri: artifact.uri },
    });
    expect((await ok<{ sessionId: string }>(bob, "list_files")).sessionId).toBe("user_bob");
    // An admin key works in the admin's own session too.
    const admin = await client(KEYS.admin);
    expect((await ok<{ sessionId: string }>(admin, "list_files")).sessionId).toBe("user_admin");
  });

  it("refuses requests without a valid key, and GET with 405", async () => {
    await expect(connect(`${server.url}/mcp`, null)).rejects.toThrow();
    await expect(connect(`${server.url}/mcp`, "not-a-key-0123456789abcdef")).rejects.toThrow();
    const get = await fetch(`${server.url}/mcp`, { headers: bearer(KEYS.alice) });
    expect(get.status).toBe(405);
  });
});
