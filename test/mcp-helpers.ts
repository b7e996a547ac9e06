import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { getRequestListener } from "@hono/node-server";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { expect } from "vitest";
import { collect } from "../src/body.js";
import { ValidationError } from "../src/errors.js";
import { handleMcpHttp, type McpHttpOptions } from "../src/mcp/http.js";
import type { ArtifactStore } from "../src/store.js";

/**
 * A small HTTP front for MCP tests: `/mcp` through handleMcpHttp behind bearer keys, and the
 * signed-URL GET and PUT that memory and filesystem storage hand out, verified with the store's
 * own signer. It listens on a free loopback port before the store exists, so the store's
 * publicUrl can point at it.
 */
export interface TestFront {
  baseUrl: string;
  /** The bearer key of a user (made on first ask). */
  keyFor(userId: string): string;
  attach(store: ArtifactStore, mcpOptions?: McpHttpOptions): void;
  close(): Promise<void>;
}

export async function startTestFront(): Promise<TestFront> {
  let store: ArtifactStore | null = null;
  let mcpOptions: McpHttpOptions = {};
  const keys = new Map<string, string>();
  const users = new Map<string, string>();

  const handle = async (request: Request): Promise<Response> => {
    if (!store) return new Response("no store", { status: 503 });
    const url = new URL(request.url);
    if (url.pathname === "/mcp") {
      const bearer = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
      const userId = bearer === undefined ? undefined : users.get(bearer);
      if (userId === undefined) return new Response("unauthorized", { status: 401 });
      return handleMcpHttp(store, { userId, admin: false }, request, mcpOptions);
    }
    if (url.pathname.startsWith("/signed/")) {
      const key = url.pathname.slice("/signed/".length);
      const verdict = store.signer.verify(request.method, key, url.searchParams);
      if (!verdict.ok)
        return new Response(verdict.reason, { status: verdict.reason === "expired" ? 410 : 403 });
      if (request.method === "GET") {
        const { metadata, body } = await store.openSigned(key);
        return new Response(new Uint8Array(await collect(body.stream)), {
          headers: { "content-type": metadata.mime },
        });
      }
      const { grant } = verdict;
      if (grant.mime && request.headers.get("content-type") !== grant.mime) {
        return new Response("wrong content-type", { status: 415 });
      }
      try {
        const source = request.body
          ? Readable.fromWeb(request.body as unknown as NodeReadableStream<Uint8Array>)
          : Readable.from([]);
        await store.receiveSignedUpload(grant, source);
        return new Response(null, { status: 200 });
      } catch (err) {
        if (err instanceof ValidationError) return new Response(err.message, { status: 413 });
        throw err;
      }
    }
    return new Response("not found", { status: 404 });
  };

  const server: Server = createServer(getRequestListener(handle));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    keyFor(userId) {
      let key = keys.get(userId);
      if (!key) {
        key = randomBytes(16).toString("hex");
        keys.set(userId, key);
        users.set(key, userId);
      }
      return key;
    },
    attach(s, options = {}) {
      store = s;
      mcpOptions = options;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

// ---- calling tools ---------------------------------------------------------------------------------

export async function call(client: Client, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** Calls a tool that must succeed; returns its structured result. */
export async function ok<T = Record<string, unknown>>(
  client: Client,
  name: string,
  args: Record<string, unknown> = {},
): Promise<T & { _result: CallToolResult }> {
  const result = await call(client, name, args);
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  expect(result.structuredContent).toBeDefined();
  return { ...(result.structuredContent as T), _result: result };
}

/** Calls a tool that must fail; returns its error kind and text. */
export async function fails(client: Client, name: string, args: Record<string, unknown> = {}) {
  const result = await call(client, name, args);
  expect(result.isError, `${name} should fail: ${JSON.stringify(result.content).slice(0, 300)}`).toBe(true);
  const first = result.content[0];
  const text = first && first.type === "text" ? first.text : "";
  const error = (result.structuredContent as { error?: { kind: string; code: string } } | undefined)?.error;
  return { kind: error?.kind ?? null, code: error?.code ?? null, text };
}

export interface ArtifactView {
  artifactId: string;
  uri: string;
  filename: string | null;
  mime: string;
  bytes: number;
  summary: string;
  meta: Record<string, unknown>;
  sha256: string;
  expiresAt: string | null;
}
