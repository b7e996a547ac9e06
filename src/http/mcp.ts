import { Hono } from "hono";
import type { ArtifactStore } from "../store.js";
import type { AuthEnv } from "./auth.js";

/**
 * `/mcp`: the MCP Streamable HTTP transport, behind the same bearer auth as the REST API. The MCP
 * module (and its SDK) loads on first use, so a server nobody asks for MCP never pays for it.
 */
export function mcpRoutes(store: ArtifactStore): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.all("/", async (c) => {
    const { handleMcpHttp } = await import("../mcp/http.js");
    const { userId, admin } = c.get("principal");
    return handleMcpHttp(store, { userId, admin }, c.req.raw);
  });
  return app;
}
