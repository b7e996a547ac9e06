import { OpenAPIHono } from "@hono/zod-openapi";
import { type Context, Hono } from "hono";
import { parseGridKey } from "../grid.js";
import { SIGNED_PATH } from "../signing.js";
import type { ArtifactStore } from "../store.js";
import {
  type ApiKey,
  ApiKeyring,
  type AuthEnv,
  type Authenticate,
  bearerAuth,
  type ClientAddress,
  FailureLimiter,
  forwardedAddress,
  socketAddress,
} from "./auth.js";
import { consoleRoutes } from "./console.js";
import { errorResponse, HttpError } from "./errors.js";
import { healthRoutes } from "./health.js";
import { AllowedHosts, hostCheck, originCheck } from "./host-check.js";
import { mcpRoutes } from "./mcp.js";
import { serveOpenApi } from "./openapi.js";
import { requestId } from "./request-id.js";
import { restRoutes } from "./rest.js";
import { signedRoutes } from "./signed.js";
import { limitUploads, UploadSlots } from "./upload-slots.js";
import { uploadRoutes } from "./uploads.js";

export interface HttpHandlerOptions {
  /** Bearer keys for the REST API and /mcp, each mapped to a user (admins reach every session). */
  apiKeys?: ApiKey[];
  /** Your own authentication, tried when no API key matches (e.g. a session cookie of your app). */
  authenticate?: Authenticate;
  /** Largest upload body in bytes (direct uploads, signed PUTs, parts). Default 5 GiB; null for none. */
  maxUploadBytes?: number | null;
  /** Largest JSON request body in bytes. Default 1 MiB. */
  maxJsonBytes?: number;
  /** Failed authentications allowed per client address and window before 429. Default 10 per minute. */
  authFailures?: { limit: number; windowMs: number };
  /**
   * The client address for rate limiting. Default: the socket's peer address under Node adapters
   * (@hono/node-server, Express), or the X-Forwarded-For client when the peer is in `trustProxy`;
   * elsewhere give one (e.g. from your platform's trusted header).
   */
  clientAddress?: ClientAddress;
  /** Addresses of reverse proxies whose X-Forwarded-For is believed. Default none. */
  trustProxy?: string[];
  /**
   * Host names (or host:port) this server answers to; requests naming another Host, and /v1 or
   * /mcp requests from another Origin, get 403 (the DNS-rebinding guard). Default: no check;
   * `chuk-artifacts serve` turns it on for loopback binds. LOOPBACK_HOSTS lists the loopback names.
   */
  allowedHosts?: string[];
  /**
   * Uploads in flight at once (direct uploads and replacements per user, signed PUTs per session),
   * and in total; past either, 429 with Retry-After. Default 16 and 256.
   */
  maxUploads?: { perKey: number; total: number };
  /** Serve the web console at GET /. Default true. */
  console?: boolean;
  /** Where server-side faults are logged (never request headers or bodies). Default console.error. */
  log?: (line: string) => void;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 ** 3;
export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024;
export const DEFAULT_MAX_UPLOADS = { perKey: 16, total: 256 };

/** Signed PUTs carry no key: their uploads are counted per session, read from the signed key. */
function signedUploadOwner(c: Context): string {
  const key = c.req.path.slice(c.req.path.indexOf(SIGNED_PATH) + SIGNED_PATH.length);
  return `session:${parseGridKey(key)?.sessionId ?? ""}`;
}

/**
 * The HTTP surface of a store as a Hono app; its `fetch` is a web-standard handler to mount in
 * Hono, Express, Fastify or Next.js. Routes: signed URLs (/signed/…), the REST API (/v1), /mcp,
 * /healthz, /readyz, /openapi.json and the console (/).
 */
export function createHttpHandler(store: ArtifactStore, options: HttpHandlerOptions = {}): OpenAPIHono {
  const log = options.log ?? ((line: string) => console.error(line));
  const limits = {
    maxUploadBytes: options.maxUploadBytes === undefined ? DEFAULT_MAX_UPLOAD_BYTES : options.maxUploadBytes,
    maxJsonBytes: options.maxJsonBytes ?? DEFAULT_MAX_JSON_BYTES,
  };
  const auth = bearerAuth({
    keyring: new ApiKeyring(options.apiKeys ?? []),
    authenticate: options.authenticate,
    limiter: new FailureLimiter(options.authFailures?.limit ?? 10, options.authFailures?.windowMs ?? 60_000),
    clientAddress:
      options.clientAddress ?? (options.trustProxy ? forwardedAddress(options.trustProxy) : socketAddress),
    audit: store.audit,
  });
  const hosts = options.allowedHosts ? new AllowedHosts(options.allowedHosts) : null;
  const uploads = new UploadSlots(
    options.maxUploads?.perKey ?? DEFAULT_MAX_UPLOADS.perKey,
    options.maxUploads?.total ?? DEFAULT_MAX_UPLOADS.total,
  );

  const app = new OpenAPIHono();
  app.onError((err) => errorResponse(err, log));
  app.notFound((c) =>
    errorResponse(new HttpError(404, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`)),
  );

  app.use("*", requestId(store.audit));
  // Before every route: a request that names a host this server is not is refused outright.
  if (hosts) app.use("*", hostCheck(hosts));
  app.route("/", healthRoutes(store));
  app.on("PUT", `${SIGNED_PATH}*`, limitUploads(uploads, signedUploadOwner));
  app.route("/", signedRoutes(store, limits));

  const v1 = new OpenAPIHono<AuthEnv>();
  if (hosts) v1.use("*", originCheck(hosts));
  v1.use("*", auth);
  const perUser = limitUploads(uploads, (c) => (c as unknown as Context<AuthEnv>).get("principal").userId);
  v1.on("POST", "/artifacts", perUser);
  v1.on("PUT", "/artifacts/:id", perUser);
  v1.route("/", restRoutes(store, limits));
  v1.route("/", uploadRoutes(store, limits));
  app.route("/v1", v1);

  const mcp = new Hono<AuthEnv>();
  if (hosts) mcp.use("*", originCheck(hosts));
  mcp.use("*", auth);
  mcp.route("/", mcpRoutes(store));
  app.route("/mcp", mcp);

  if (options.console !== false) app.route("/", consoleRoutes());
  serveOpenApi(app, { console: options.console !== false });
  return app;
}
