import { Hono } from "hono";
import type { ArtifactStore } from "../store.js";
import type { AuthEnv, Principal } from "./auth.js";
import { HttpError } from "./errors.js";

/**
 * `/mcp`: the MCP Streamable HTTP transport, behind the same bearer auth as the REST API. The MCP
 * module is loaded on first use, so the HTTP server never pays for it unless MCP is called.
 */

type HandleMcpHttp = (store: ArtifactStore, context: Principal, request: Request) => Promise<Response>;

// A variable specifier keeps this an optional, lazily loaded part of the build.
const MCP_MODULE = "../mcp/http.js";

let loaded: Promise<HandleMcpHttp | null> | null = null;

function loadMcp(): Promise<HandleMcpHttp | null> {
  loaded ??= (import(MCP_MODULE) as Promise<{ handleMcpHttp?: HandleMcpHttp }>).then(
    (mod) => (typeof mod.handleMcpHttp === "function" ? mod.handleMcpHttp : null),
    (err: unknown) => {
      if ((err as { code?: string } | null)?.code === "ERR_MODULE_NOT_FOUND") return null;
      loaded = null;
      throw err;
    },
  );
  return loaded;
}

export function mcpRoutes(store: ArtifactStore): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  app.all("/", async (c) => {
    const handle = await loadMcp();
    if (!handle) throw new HttpError(501, "NOT_IMPLEMENTED", "MCP over HTTP is not available in this build");
    const { userId, admin } = c.get("principal");
    return handle(store, { userId, admin }, c.req.raw);
  });
  return app;
}
