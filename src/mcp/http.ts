import {
  createMcpHandler,
  hostHeaderValidationResponse,
  type McpHttpHandler,
  originValidationResponse,
} from "@modelcontextprotocol/server";
import type { ArtifactStore } from "../store.js";
import {
  type ArtifactMcpOptions,
  createMcpServer,
  DEFAULT_MAX_READ_BYTES,
  DEFAULT_MAX_UPLOAD_BYTES,
} from "./server.js";
import { SessionEventBus } from "./subscriptions.js";

/** Who the HTTP layer authenticated (from the API key). */
export interface McpHttpContext {
  userId: string;
  admin: boolean;
}

export type McpHttpOptions = Omit<
  ArtifactMcpOptions,
  "userId" | "sessionId" | "admin" | "server" | "subscriptions" | "era"
> & {
  /**
   * Host names (no ports; IPv6 in brackets) the Host header, and the Origin header when a browser
   * sends one, must name: the SDK's DNS-rebinding guard. Default: no check here (the HTTP server
   * turns it on for loopback binds).
   */
  allowedHostnames?: string[];
  /** Most JSON-RPC messages in one batch (2025-03-26 clients may batch). Default 32. */
  maxBatchMessages?: number;
};

export const DEFAULT_MAX_BATCH_MESSAGES = 32;
/** Most open per-user handlers; the oldest idle one is closed past it. */
const MAX_HANDLERS = 1024;

export interface McpHttpEndpoint {
  /** Answers one request to the endpoint for an authenticated user. */
  fetch(request: Request, context: McpHttpContext): Promise<Response>;
  /** Ends open subscription streams. */
  close(): Promise<void>;
}

/**
 * The MCP Streamable HTTP endpoint, serving 2026-07-28 clients (per-request envelope,
 * `subscriptions/listen` streams) and 2025-era clients (stateless: no Mcp-Session-Id; GET and
 * DELETE answer 405) from one URL, through the SDK's `createMcpHandler`.
 *
 * Every request gets a fresh server bound to `context.userId`, working in that user's own session
 * `user_{userId}` (an admin too: admin rights do not reach other sessions here; they only let the
 * connection create shared, sandbox-scope files), so any replica can answer any request.
 * Subscription streams hear the changes of that session only, from this process or, with Redis
 * sessions, from every process on the same Redis.
 *
 * One request is bounded: at most `maxBatchMessages` messages, and at most twice
 * `maxReadBytes` of file content in its answers (further reads fail with "too large").
 */
export function createMcpEndpoint(store: ArtifactStore, options: McpHttpOptions = {}): McpHttpEndpoint {
  const { allowedHostnames, maxBatchMessages, ...serverOptions } = options;
  const maxBatch = maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES;
  const maxRead = options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES;
  const maxUpload = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  // Room for a base64 upload of maxUploadBytes plus the JSON-RPC envelope.
  const maxBody = Math.ceil((maxUpload * 4) / 3) + 64 * 1024;
  const log = options.log ?? ((line: string) => process.stderr.write(`chuk-artifacts mcp: ${line}\n`));
  const handlers = new Map<string, McpHttpHandler>();

  const handlerFor = ({ userId, admin }: McpHttpContext): McpHttpHandler => {
    // An admin key and a user key of the same user get different servers (admin ones are trusted).
    const slot = `${admin ? "admin" : "user"}:${userId}`;
    let handler = handlers.get(slot);
    if (handler) {
      // Most recently used last, so the oldest is evicted first.
      handlers.delete(slot);
      handlers.set(slot, handler);
      return handler;
    }
    handler = createMcpHandler(
      ({ era }) =>
        createMcpServer(store, {
          ...serverOptions,
          userId,
          admin,
          era,
          responseBudgetBytes: options.responseBudgetBytes ?? 2 * maxRead,
          // 2025-era HTTP is stateless here: there is no stream to send notifications on.
          subscriptions: era === "modern" ? "stream" : "none",
        }),
      {
        legacy: "stateless",
        bus: new SessionEventBus(store.events, store.sandboxId, `user_${userId}`),
        maxRequestBodySize: maxBody,
        onerror: (err) => log(`request refused or failed: ${err.message}`),
      },
    );
    handlers.set(slot, handler);
    if (handlers.size > MAX_HANDLERS) {
      const [oldest, old] = handlers.entries().next().value as [string, McpHttpHandler];
      handlers.delete(oldest);
      void old.close();
    }
    return handler;
  };

  return {
    async fetch(request, context) {
      if (allowedHostnames) {
        const refused =
          hostHeaderValidationResponse(request, allowedHostnames) ??
          originValidationResponse(request, allowedHostnames);
        if (refused) return refused;
      }
      let parsedBody: unknown;
      if (request.method === "POST") {
        const body = await readBody(request, maxBody);
        if (body instanceof Response) return body;
        parsedBody = body;
        if (Array.isArray(parsedBody) && parsedBody.length > maxBatch) {
          return jsonRpcError(
            400,
            -32600,
            `a batch may hold at most ${maxBatch} messages; this one holds ${parsedBody.length}`,
          );
        }
      }
      const handler = handlerFor(context);
      return handler.fetch(request, parsedBody === undefined ? {} : { parsedBody });
    },
    async close() {
      const open = [...handlers.values()];
      handlers.clear();
      await Promise.allSettled(open.map((h) => h.close()));
    },
  };
}

/**
 * The JSON body of a POST, read under `limit` bytes: the parsed value, undefined when it is not
 * JSON (the SDK then answers the parse error itself), or a 413 response.
 */
async function readBody(request: Request, limit: number): Promise<unknown | Response> {
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  const tooLarge = () => jsonRpcError(413, -32600, `the request body is over ${limit} bytes`);
  if (declared > limit) return tooLarge();
  if (!request.body) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.clone().body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return tooLarge();
    }
    chunks.push(value);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    return undefined;
  }
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }), {
    status,
    headers: { "content-type": "application/json" },
  });
}

const endpoints = new WeakMap<ArtifactStore, Map<string, McpHttpEndpoint>>();

/**
 * One request to the MCP endpoint of `store` (for an app's own HTTP server): the endpoint is made
 * on first use per store and options, and kept, so subscription streams stay open between calls.
 */
export async function handleMcpHttp(
  store: ArtifactStore,
  context: McpHttpContext,
  request: Request,
  options: McpHttpOptions = {},
): Promise<Response> {
  let byOptions = endpoints.get(store);
  if (!byOptions) {
    byOptions = new Map();
    endpoints.set(store, byOptions);
  }
  const key = JSON.stringify(options);
  let endpoint = byOptions.get(key);
  if (!endpoint) {
    endpoint = createMcpEndpoint(store, options);
    byOptions.set(key, endpoint);
  }
  return endpoint.fetch(request, context);
}
