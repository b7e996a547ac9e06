import type { IncomingMessage } from "node:http";
import { Hono } from "hono";
import type { McpHttpEndpoint } from "../mcp/http.js";
import type { ArtifactStore } from "../store.js";
import type { AuthEnv } from "./auth.js";

/** Host names a loopback-bound server answers to; anything else is a DNS-rebinding attempt. */
const LOOPBACK_HOSTNAMES = ["localhost", "127.0.0.1", "[::1]"];

/**
 * `/mcp`: the MCP Streamable HTTP endpoint, behind the same bearer auth as the REST API. The MCP
 * module (and its SDK) loads on first use, so a server nobody asks for MCP never pays for it.
 * On a loopback socket the SDK's Host/Origin guard refuses other host names (DNS rebinding).
 */
export function mcpRoutes(store: ArtifactStore): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  let endpoints: Promise<{ loopback: McpHttpEndpoint; other: McpHttpEndpoint }> | null = null;
  app.all("/", async (c) => {
    endpoints ??= import("../mcp/http.js").then(({ createMcpEndpoint }) => ({
      loopback: createMcpEndpoint(store, { allowedHostnames: LOOPBACK_HOSTNAMES }),
      other: createMcpEndpoint(store),
    }));
    const { loopback, other } = await endpoints;
    const local = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket?.localAddress;
    const endpoint = local !== undefined && isLoopback(local) ? loopback : other;
    const { userId, admin } = c.get("principal");
    return endpoint.fetch(c.req.raw, { userId, admin });
  });
  return app;
}

function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}
