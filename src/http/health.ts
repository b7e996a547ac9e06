import { Hono } from "hono";
import type { ArtifactStore } from "../store.js";

/** Liveness (the process answers) and readiness (both providers answer a real round trip). */
export function healthRoutes(store: ArtifactStore): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const checks = await store.validateConfiguration();
    const ready = checks.storage.status === "ok" && checks.session.status === "ok";
    // Provider detail can name hosts and paths: report status and provider names only.
    const view = (check: typeof checks.storage) => ({ status: check.status, provider: check.provider });
    return c.json(
      {
        status: ready ? "ready" : "unavailable",
        storage: view(checks.storage),
        session: view(checks.session),
      },
      ready ? 200 : 503,
    );
  });
  return app;
}
