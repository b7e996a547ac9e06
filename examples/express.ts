import { getRequestListener } from "@hono/node-server";
import { type ArtifactStore, createHttpHandler } from "chuk-artifacts";
import express from "express";

/** Your Express app, with chuk-artifacts mounted under /artifacts. */
export function createApp(store: ArtifactStore, apiKey: string): express.Express {
  const app = express();
  app.get("/", (_req, res) => {
    res.send("Hello from my app");
  });

  // The handler is a web-standard fetch function; getRequestListener adapts it to (req, res).
  // Mount it before any body parser (it streams request bodies itself). Express strips
  // "/artifacts" from the path; the store's publicUrl must keep it, e.g. "https://example.com/artifacts".
  const artifacts = createHttpHandler(store, { apiKeys: [{ key: apiKey, userId: "alice" }] });
  app.use("/artifacts", getRequestListener(artifacts.fetch));
  return app;
}

// To run it:
//   const store = new ArtifactStore({ storageProvider: "filesystem", publicUrl: "http://localhost:3000/artifacts" });
//   createApp(store, process.env.API_KEY!).listen(3000);
