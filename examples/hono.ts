import { type ArtifactStore, createHttpHandler } from "chuk-artifacts";
import { Hono } from "hono";

/** Your Hono app, with chuk-artifacts mounted under /artifacts. */
export function createApp(store: ArtifactStore, apiKey: string): Hono {
  const app = new Hono();
  app.get("/", (c) => c.text("Hello from my app"));

  // Signed URLs, the REST API (/v1), MCP (/mcp) and the console, all under /artifacts.
  // The store's publicUrl must name this mount point, e.g. "https://example.com/artifacts".
  app.route("/artifacts", createHttpHandler(store, { apiKeys: [{ key: apiKey, userId: "alice" }] }));
  return app;
}

// To run it:
//   const store = new ArtifactStore({ storageProvider: "filesystem", publicUrl: "http://localhost:3000/artifacts" });
//   serve({ fetch: createApp(store, process.env.API_KEY!).fetch, port: 3000 }); // from "@hono/node-server"
