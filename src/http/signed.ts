import { Hono } from "hono";
import { cors } from "hono/cors";
import { routePath } from "hono/route";
import { parseGridKey } from "../grid.js";
import { SIGNED_PATH, type SignedGrant, type SignedMethod } from "../signing.js";
import type { ArtifactStore } from "../store.js";
import { serveArtifact } from "./download.js";
import { HttpError } from "./errors.js";
import { requestChunks } from "./streams.js";

/**
 * The endpoints behind URLs the store signs for providers without native presigning (DESIGN §5):
 * GET/HEAD download, PUT upload (single or one multipart part). The key is taken from the raw,
 * undecoded path and must be a valid grid key; the signature covers method, key, expiry and limits.
 */
export function signedRoutes(store: ArtifactStore, options: { maxUploadBytes: number | null }): Hono {
  const app = new Hono();

  // Browsers on any origin may use a signed URL (as with S3): the signature is the credential,
  // no cookies are involved, so any origin is allowed. Preflights go through Hono's cors; the
  // answers carry the two constant headers themselves (the middleware on every request built and
  // copied a second Response each time), errors get them here.
  const preflight = cors({
    origin: "*",
    allowMethods: ["GET", "HEAD", "PUT"],
    allowHeaders: ["content-type", "range", "if-none-match"],
    exposeHeaders: CORS_HEADERS["access-control-expose-headers"].split(","),
    maxAge: 3600,
  });
  app.use(`${SIGNED_PATH}*`, async (c, next) => {
    if (c.req.method === "OPTIONS") return preflight(c, next);
    await next();
    if (c.error) for (const [name, value] of Object.entries(CORS_HEADERS)) c.res.headers.set(name, value);
  });

  // Hono answers HEAD with the GET route; serveArtifact tells them apart.
  app.get(`${SIGNED_PATH}*`, async (c) => {
    const grant = verified(store, c.req.raw, routePath(c), "GET");
    return serveArtifact(
      c.req.raw,
      {
        metadata: () => store.signedMetadata(grant.key, grant.version),
        open: (range) => store.openSigned(grant.key, range, grant.version),
      },
      CORS_HEADERS,
    );
  });

  app.put(`${SIGNED_PATH}*`, async (c) => {
    const request = c.req.raw;
    const grant = verified(store, request, routePath(c), "PUT");
    const limit = smallest(grant.maxBytes ?? null, options.maxUploadBytes);
    if (grant.uploadId != null) {
      const part = await store.receiveSignedPart(grant, requestChunks(request, limit));
      return c.json(part, 200, { ...CORS_HEADERS, etag: part.etag });
    }
    checkContentType(request.headers.get("content-type"), grant.mime ?? null);
    const stored = await store.receiveSignedUpload(grant, requestChunks(request, limit));
    return c.json({ bytes: stored.bytes, sha256: stored.sha256 }, 200, {
      ...CORS_HEADERS,
      etag: `"${stored.sha256}"`,
    });
  });

  return app;
}

const CORS_HEADERS = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "etag,content-range,content-length,accept-ranges,content-disposition",
};

function verified(store: ArtifactStore, request: Request, route: string, method: SignedMethod): SignedGrant {
  const url = new URL(request.url);
  const prefix = route.replace(/\*$/, "");
  const key = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : "";
  // Raw path: an encoded "." or "/" is not decoded into the key, it makes the key invalid.
  if (parseGridKey(key) === null)
    throw new HttpError(400, "INVALID_KEY", "the URL does not name a valid artifact key");
  const result = store.signer.verify(request.method === "HEAD" ? "HEAD" : method, key, url.searchParams);
  if (!result.ok) {
    const parsed = parseGridKey(key)!;
    const code = result.reason === "expired" ? "URL_EXPIRED" : "SIGNATURE_INVALID";
    store.audit.emit("access.denied", parsed, { operation: `signed ${method}`, code });
    if (result.reason === "expired") throw new HttpError(410, code, "this signed URL has expired");
    throw new HttpError(403, code, "the signature does not match this request");
  }
  return result.grant;
}

/** The upload must declare the type it was signed for (compared without parameters, case-insensitively). */
function checkContentType(given: string | null, signed: string | null): void {
  if (signed === null) return;
  const essence = (v: string) => v.split(";")[0]!.trim().toLowerCase();
  if (given === null || essence(given) !== essence(signed)) {
    throw new HttpError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      `this upload URL was signed for Content-Type ${signed}; send exactly that type`,
    );
  }
}

function smallest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
