import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { ArtifactStore } from "../store.js";
import { errors } from "./routes.js";
import { Liveness, Readiness } from "./schemas.js";

/** Liveness (the process answers) and readiness (both providers answer a real round trip). */

const healthz = createRoute({
  operationId: "healthz",
  method: "get",
  path: "/healthz",
  summary: "Liveness: the process answers",
  security: [],
  responses: {
    200: { description: "Alive", content: { "application/json": { schema: Liveness } } },
    403: errors.host,
  },
});

const readyz = createRoute({
  operationId: "readyz",
  method: "get",
  path: "/readyz",
  summary: "Readiness: storage and sessions answer a real round trip",
  security: [],
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: Readiness } } },
    403: errors.host,
    503: { description: "A provider is down", content: { "application/json": { schema: Readiness } } },
  },
});

export function healthRoutes(store: ArtifactStore): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(healthz, (c) => c.json({ status: "ok" as const }, 200));
  app.openapi(readyz, async (c) => {
    const checks = await store.validateConfiguration();
    const ready = checks.storage.status === "ok" && checks.session.status === "ok";
    // Provider detail can name hosts and paths: report status and provider names only.
    const view = (check: typeof checks.storage) => ({ status: check.status, provider: check.provider });
    const body = {
      status: ready ? ("ready" as const) : ("unavailable" as const),
      storage: view(checks.storage),
      session: view(checks.session),
    };
    return ready ? c.json(body, 200) : c.json(body, 503);
  });
  return app;
}
