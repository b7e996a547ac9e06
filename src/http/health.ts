import { Hono } from "hono";
import { SessionBreaker } from "../sessions/breaker.js";
import type { ArtifactStore } from "../store.js";

/**
 * Liveness (the process answers) and readiness (both providers answer a real round trip).
 *
 * Readiness has three answers: "ready" (200); "degraded" (200) when storage answers but the
 * session store behind its circuit breaker (Redis) does not — the instance still serves reads,
 * listings and new artifacts from storage, so a load balancer should keep it; "unavailable" (503)
 * when storage does not answer, or a session store without a breaker does not.
 */
export function healthRoutes(store: ArtifactStore): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const checks = await store.validateConfiguration();
    const breaker = await sessionBreaker(store);
    const storageOk = checks.storage.status === "ok";
    const sessionOk = checks.session.status === "ok";
    const status = !storageOk ? "unavailable" : sessionOk ? "ready" : breaker ? "degraded" : "unavailable";
    // Provider detail (and the breaker's last error) can name hosts and paths: report status,
    // provider names and the breaker's state only.
    const view = (check: typeof checks.storage) => ({ status: check.status, provider: check.provider });
    const circuit = breaker?.status();
    return c.json(
      {
        status,
        storage: view(checks.storage),
        session: { ...view(checks.session), ...(circuit && { state: circuit.state, since: circuit.since }) },
      },
      status === "unavailable" ? 503 : 200,
    );
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
