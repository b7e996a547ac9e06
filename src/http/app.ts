import { OpenAPIHono } from "@hono/zod-openapi";
import { Hono } from "hono";
import type { ArtifactStore } from "../store.js";
import {
  type ApiKey,
  ApiKeyring,
  type AuthEnv,
  type Authenticate,
  bearerAuth,
  type ClientAddress,
  FailureLimiter,
  socketAddress,
} from "./auth.js";
import { consoleRoutes } from "./console.js";
import { errorResponse, HttpError } from "./errors.js";
import { healthRoutes } from "./health.js";
import { mcpRoutes } from "./mcp.js";
import { serveOpenApi } from "./openapi.js";
import { restRoutes } from "./rest.js";
import { signedRoutes } from "./signed.js";
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
   * (@hono/node-server, Express); elsewhere give one (e.g. from your platform's trusted header).
   */
  clientAddress?: ClientAddress;
  /** Serve the web console at GET /. Default true. */
  console?: boolean;
  /** Where server-side faults are logged (never request headers or bodies). Default console.error. */
  log?: (line: string) => void;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 ** 3;
export const DEFAULT_MAX_JSON_BYTES = 1024 * 1024;

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
    clientAddress: options.clientAddress ?? socketAddress,
  });

  const app = new OpenAPIHono();
  app.onError((err) => errorResponse(err, log));
  app.notFound((c) =>
    errorResponse(new HttpError(404, "NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`)),
  );

  app.route("/", healthRoutes(store));
  app.route("/", signedRoutes(store, limits));

  const v1 = new OpenAPIHono<AuthEnv>();
  v1.use("*", auth);
  v1.route("/", restRoutes(store, limits));
  v1.route("/", uploadRoutes(store, limits));
  app.route("/v1", v1);

  const mcp = new Hono<AuthEnv>();
  mcp.use("*", auth);
  mcp.route("/", mcpRoutes(store));
  app.route("/mcp", mcp);

  if (options.console !== false) app.route("/", consoleRoutes());
  serveOpenApi(app, { console: options.console !== false });
  return app;
}
