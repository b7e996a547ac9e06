import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { SessionBreaker } from "../sessions/breaker.js";
import type { ArtifactStore } from "../store.js";
import { errors } from "./routes.js";
import { Liveness, Readiness } from "./schemas.js";

/**
 * Liveness (the process answers) and readiness (both providers answer a real round trip).
 *
 * Readiness has three answers: "ready" (200); "degraded" (200) when storage answers but the
 * session store behind its circuit breaker (Redis) does not — the instance still serves reads,
 * listings and new artifacts from storage, so a load balancer should keep it; "unavailable" (503)
 * when storage does not answer, or a session store without a breaker does not.
 */

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
  summary: "Readiness: storage and sessions answer a real round trip (degraded: sessions down, storage up)",
  security: [],
  responses: {
    200: { description: "Ready or degraded", content: { "application/json": { schema: Readiness } } },
    403: errors.host,
    503: { description: "Storage is down", content: { "application/json": { schema: Readiness } } },
  },
});

export function healthRoutes(store: ArtifactStore): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(healthz, (c) => c.json({ status: "ok" as const }, 200));
  app.openapi(readyz, async (c) => {
    const checks = await store.validateConfiguration();
    const breaker = await sessionBreaker(store);
    const storageOk = checks.storage.status === "ok";
    const sessionOk = checks.session.status === "ok";
    const status: "ready" | "degraded" | "unavailable" = !storageOk
      ? "unavailable"
      : sessionOk
        ? "ready"
        : breaker
          ? "degraded"
          : "unavailable";
    // Provider detail (and the breaker's last error) can name hosts and paths: report status,
    // provider names and the breaker's state only.
    const view = (check: typeof checks.storage) => ({ status: check.status, provider: check.provider });
    const circuit = breaker?.status();
    const body = {
      status,
      storage: view(checks.storage),
      session: { ...view(checks.session), ...(circuit && { state: circuit.state, since: circuit.since }) },
    };
    return status === "unavailable" ? c.json(body, 503) : c.json(body, 200);
  });
  return app;
}

async function sessionBreaker(store: ArtifactStore): Promise<SessionBreaker | null> {
  try {
    const { sessions } = await store.backends();
    return sessions instanceof SessionBreaker ? sessions : null;
  } catch {
    return null;
  }
}
