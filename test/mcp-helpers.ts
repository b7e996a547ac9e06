import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import type { ReadableStream as NodeReadableStream } from "node:stream/web";
import { getRequestListener } from "@hono/node-server";
import {
  type CallToolResult,
  Client as V2Client,
  StreamableHTTPClientTransport as V2HttpTransport,
} from "@modelcontextprotocol/client";
import { StdioClientTransport as V2StdioTransport } from "@modelcontextprotocol/client/stdio";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport as V1StdioTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport as V1HttpTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
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
        const { metadata, body } = await store.openSigned(key, undefined, verdict.grant.version);
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

/**
 * What the tests call on a client; the v1 SDK's Client (`@modelcontextprotocol/sdk`) and the v2
 * one (`@modelcontextprotocol/client`) both have it, so one suite drives both lines.
 */
export type McpClient = Pick<
  V2Client,
  "listTools" | "callTool" | "readResource" | "listResources" | "listResourceTemplates" | "complete" | "close"
>;

/** Either SDK line's client, seen as the other: their result types differ only in detail. */
export function asMcpClient(client: V1Client | V2Client): McpClient {
  return client as unknown as McpClient;
}

/**
 * The two SDK client lines: v1 (`@modelcontextprotocol/sdk`, speaks the 2025 revisions) and v2
 * (`@modelcontextprotocol/client`), here pinned to revision 2026-07-28 (without the pin it opens
 * with the 2025 handshake, as v1 does).
 */
const MODERN = { versionNegotiation: { mode: { pin: "2026-07-28" } } } as const;

export const CLIENT_LINES = ["v1", "v2"] as const;
export type ClientLine = (typeof CLIENT_LINES)[number];

/** A client of `line` connected over Streamable HTTP. */
export async function connectHttp(
  line: ClientLine,
  url: string,
  headers: Record<string, string>,
): Promise<McpClient> {
  const info = { name: `mcp-http-test-${line}`, version: "1.0.0" };
  if (line === "v1") {
    const client = new V1Client(info);
    await client.connect(new V1HttpTransport(new URL(url), { requestInit: { headers } }));
    return asMcpClient(client);
  }
  const client = new V2Client(info, MODERN);
  await client.connect(new V2HttpTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

export interface StdioParams {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/** A client of `line` that spawns a stdio server; its standard error lines are collected. */
export async function connectStdio(
  line: ClientLine,
  params: StdioParams,
): Promise<{ client: McpClient; stderr: string[] }> {
  const info = { name: `mcp-stdio-test-${line}`, version: "1.0.0" };
  const stderr: string[] = [];
  if (line === "v1") {
    const transport = new V1StdioTransport({ ...params, stderr: "pipe" });
    transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
    const client = new V1Client(info);
    await client.connect(transport);
    return { client: asMcpClient(client), stderr };
  }
  const transport = new V2StdioTransport({ ...params, stderr: "pipe" });
  transport.stderr?.on("data", (chunk: Buffer) => stderr.push(chunk.toString()));
  const client = new V2Client(info, MODERN);
  await client.connect(transport);
  return { client, stderr };
}

// ---- calling tools ---------------------------------------------------------------------------------

export async function call(client: McpClient, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** Calls a tool that must succeed; returns its structured result. */
export async function ok<T = Record<string, unknown>>(
  client: McpClient,
  name: string,
  args: Record<string, unknown> = {},
): Promise<T & { _result: CallToolResult }> {
  const result = await call(client, name, args);
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  expect(result.structuredContent).toBeDefined();
  return { ...(result.structuredContent as T), _result: result };
}

/** Calls a tool that must fail; returns its error kind and text. */
export async function fails(client: McpClient, name: string, args: Record<string, unknown> = {}) {
  const result = await call(client, name, args);
  expect(result.isError, `${name} should fail: ${JSON.stringify(result.content).slice(0, 300)}`).toBe(true);
  const first = result.content[0];
  const text = first && first.type === "text" ? first.text : "";
  const error = (result._meta as Record<string, { kind: string; code: string }> | undefined)?.[
    "chuk-artifacts/error"
  ];
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
