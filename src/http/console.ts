import { Hono } from "hono";

/** The web console: one page. */
export function consoleRoutes(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.html("<!doctype html><title>chuk-artifacts</title><p>chuk-artifacts</p>"));
  return app;
}
