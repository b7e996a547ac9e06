import { Hono } from "hono";
import { PAGE } from "./console/page.js";
import { SCRIPT } from "./console/script.js";
import { STYLE } from "./console/style.js";

/**
 * The web console: one page, one stylesheet and one script, served as they are (no build step),
 * talking to the REST API with a key the user pastes. A strict CSP allows only this origin's
 * script and stylesheet; previews are Blobs the script typed itself (blob: for images, media and
 * PDF frames), so an artifact never runs as a page on this origin. Uploads may go to another
 * origin (S3 presigned URLs), hence connect-src *.
 */

const SECURITY_HEADERS = {
  "content-security-policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src *",
    "img-src 'self' data: blob:",
    "media-src blob:",
    "frame-src blob:",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

export function consoleRoutes(): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    // Absolute, so the page works at "/" and under a mount prefix ("/artifacts") alike.
    const page = PAGE.replaceAll("{{BASE}}", c.req.path.replace(/\/$/, ""));
    return c.body(page, 200, { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8" });
  });
  app.get("/console.js", (c) =>
    c.body(SCRIPT, 200, { ...SECURITY_HEADERS, "content-type": "text/javascript; charset=utf-8" }),
  );
  app.get("/console.css", (c) =>
    c.body(STYLE, 200, { ...SECURITY_HEADERS, "content-type": "text/css; charset=utf-8" }),
  );
  return app;
}
