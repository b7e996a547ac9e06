import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { attachNodeBody } from "./streams.js";

/** Anything with a web-standard `fetch`, such as the Hono app `createHttpHandler` returns. */
export interface FetchHandler {
  fetch(request: Request, env: unknown): Response | Promise<Response>;
}

/**
 * A node:http server for the handler, as `chuk-artifacts serve` runs it. `handler` is read per
 * request, so a server can start listening before its handler exists (then it answers 503).
 */
export function createNodeServer(handler: () => FetchHandler | null): Server {
  return createAdaptorServer({
    fetch: (request, bindings) => {
      if (request.method !== "GET" && request.method !== "HEAD") attachNodeBody(request, bindings.incoming);
      const current = handler();
      return current
        ? current.fetch(request, bindings)
        : Response.json({ error: { code: "STARTING", message: "the server is starting" } }, { status: 503 });
    },
  }) as Server;
}
