import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { ArtifactStore } from "../store.js";
import { type ArtifactMcpOptions, createMcpServer, DEFAULT_MAX_UPLOAD_BYTES } from "./server.js";

/** Who the HTTP layer authenticated (from the API key). */
export interface McpHttpContext {
  userId: string;
  admin: boolean;
}

export type McpHttpOptions = Omit<ArtifactMcpOptions, "userId" | "sessionId" | "server">;

/**
 * The MCP Streamable HTTP endpoint as a web-standard handler: Request in, Response out.
 *
 * Stateless: every POST gets a new server and transport bound to `context.userId`, working in that
 * user's own session `user_{userId}` (an admin too: admin rights do not reach other sessions
 * here). Nothing is kept between requests, so any replica behind a load balancer can answer any
 * request, and no Mcp-Session-Id is issued. Responses are plain JSON (no SSE stream); GET and
 * DELETE, which only serve server-initiated streams and sessions, answer 405.
 */
export async function handleMcpHttp(
  store: ArtifactStore,
  context: McpHttpContext,
  request: Request,
  options: McpHttpOptions = {},
): Promise<Response> {
  if (request.method !== "POST") {
    return new Response(
      JSON.stringify({
        jsonrpc: "2.0",
        error: { code: -32000, message: "Method not allowed: this stateless MCP endpoint takes POST only" },
        id: null,
      }),
      { status: 405, headers: { allow: "POST", "content-type": "application/json" } },
    );
  }
  const server = createMcpServer(store, { ...options, userId: context.userId });
  const maxUpload = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: undefined,
    enableJsonResponse: true,
    // Room for a base64 upload of maxUploadBytes plus the JSON-RPC envelope.
    maxRequestBodySize: Math.ceil((maxUpload * 4) / 3) + 64 * 1024,
  });
  await server.connect(transport);
  try {
    // In JSON mode the promise settles once every response of the request is in the body.
    return await transport.handleRequest(request);
  } finally {
    await server.close();
  }
}
