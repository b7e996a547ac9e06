import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { errors } from "./routes.js";
import { Binary, PartReceipt, SignedUploadReceipt } from "./schemas.js";

/**
 * /openapi.json, generated from the app's route definitions: the REST API and health routes
 * describe themselves (routes.ts, health.ts); the routes served by plain handlers (signed URLs,
 * /mcp, the console) are declared here. A test checks the document lists every route the app
 * has and nothing else, and lints it with an independent OpenAPI linter.
 */

const DESCRIPTION =
  "Session-scoped artifact storage. The REST API (/v1) and /mcp need `Authorization: Bearer <key>`; " +
  "each key acts for one user, who reaches only their own sessions (an admin key reaches all). " +
  "Signed URLs (/signed/…) carry their own HMAC signature and need no key. Errors are always " +
  '`{ "error": { "code", "message" } }`. Failed authentications are limited per client address ' +
  "(429 with Retry-After); a request with a valid key is never refused for them. Requests whose " +
  "Host (or, on /v1 and /mcp, Origin) is not allowed get 403 (on by default on loopback).";

const bytes = { "*/*": { schema: Binary } };
const json = <T>(schema: T) => ({ "application/json": { schema } });

const signedParams = z.object({
  key: z.string().openapi({
    param: { name: "key", in: "path" },
    description:
      "The grid key `grid/{sandbox}/{session}/{artifact}`, exactly as signed (never percent-encoded).",
  }),
});

const signedQuery = z.object({
  m: z.enum(["GET", "PUT"]).openapi({ description: "Signed method." }),
  exp: z.string().openapi({ description: "Expiry, Unix seconds." }),
  max: z.string().optional().openapi({ description: "PUT: the most bytes accepted." }),
  ct: z.string().optional().openapi({ description: "PUT: the Content-Type required." }),
  upload: z.string().optional().openapi({ description: "PUT: multipart upload id." }),
  part: z.string().optional().openapi({ description: "PUT: multipart part number." }),
  sig: z.string().openapi({ description: "HMAC-SHA256, base64url." }),
});

const downloadHeaders = z.object({
  range: z.string().optional().openapi({ example: "bytes=0-1023" }),
  "if-none-match": z.string().optional(),
});

const signedGet = createRoute({
  operationId: "signedGet",
  method: "get",
  path: "/signed/{key}",
  summary: "Download through a signed URL (memory and filesystem storage; S3 URLs go to S3)",
  description:
    "Streams the artifact. A single `Range` gives 206 with Content-Range (several ranges or bad syntax are " +
    "ignored); a range past the end gives 416. ETag is the quoted sha256; `If-None-Match` gives 304. HEAD " +
    "answers the headers only. Any origin may use it (CORS): the signature is the credential.",
  security: [],
  request: { params: signedParams, query: signedQuery, headers: downloadHeaders },
  responses: {
    200: { description: "The bytes", content: bytes },
    206: { description: "The requested range" },
    304: { description: "Not modified" },
    400: errors[400],
    403: errors[403],
    404: errors[404],
    410: errors[410],
    416: errors[416],
  },
});

const signedPut = createRoute({
  operationId: "signedPut",
  method: "put",
  path: "/signed/{key}",
  summary: "Upload through a signed upload URL (a whole body, or one part of a multipart upload)",
  description:
    "The body streams to storage. It must declare the signed Content-Type (415 otherwise) and stay within the " +
    "signed size (413 otherwise; nothing is stored). An upload URL works once: a second PUT answers 409. " +
    "Afterwards call POST /v1/uploads/{id}/register (or complete the multipart upload).",
  security: [],
  request: {
    params: signedParams,
    query: signedQuery,
    body: { required: true, content: bytes },
  },
  responses: {
    200: {
      description:
        "Stored; the ETag header is the quoted sha256 (pass it back when completing a multipart upload)",
      content: json(z.union([SignedUploadReceipt, PartReceipt])),
    },
    400: errors[400],
    403: errors[403],
    404: errors[404],
    409: errors[409],
    410: errors[410],
    413: errors[413],
    415: errors[415],
    429: errors[429],
  },
});

const mcp = createRoute({
  operationId: "mcp",
  method: "post",
  path: "/mcp",
  summary: "MCP over Streamable HTTP (JSON-RPC), working in the key's user session",
  security: [{ bearer: [] }],
  request: { body: { required: true, content: { "application/json": { schema: { type: "object" } } } } },
  responses: {
    200: {
      description: "JSON-RPC response",
      content: { "application/json": { schema: { type: "object" } } },
    },
    401: errors[401],
    403: errors.host,
    429: errors[429],
  },
});

const CONSOLE_PATHS: Record<string, string> = {
  "text/html": "/",
  "text/javascript": "/console.js",
  "text/css": "/console.css",
};

const html = (operationId: string, summary: string, type: string) =>
  createRoute({
    operationId,
    method: "get",
    path: CONSOLE_PATHS[type]!,
    summary,
    security: [],
    responses: {
      200: { description: summary, content: { [type]: { schema: { type: "string" } } } },
      403: errors.host,
    },
  });

const openApiRoute = createRoute({
  operationId: "openApiDocument",
  method: "get",
  path: "/openapi.json",
  summary: "This document",
  security: [],
  responses: {
    200: { description: "The OpenAPI document", content: json({ type: "object" }) },
    403: errors.host,
  },
});

/** Declares the routes with plain handlers, then serves the generated document at /openapi.json. */
export function serveOpenApi(app: OpenAPIHono, options: { console: boolean }): void {
  const registry = app.openAPIRegistry;
  registry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key mapped to a user.",
  });
  for (const route of [signedGet, signedPut, mcp, openApiRoute]) registry.registerPath(route);
  if (options.console) {
    registry.registerPath(
      html(
        "consolePage",
        "The web console (HTML): paste an API key to upload, browse, preview, share and delete",
        "text/html",
      ),
    );
    registry.registerPath(html("consoleScript", "The web console's script", "text/javascript"));
    registry.registerPath(html("consoleStyle", "The web console's stylesheet", "text/css"));
  }
  let document: unknown = null;
  app.get("/openapi.json", (c) => {
    document ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "chuk-artifacts",
        version: "0.1.0",
        description: DESCRIPTION,
        license: { name: "MIT", url: "https://opensource.org/licenses/MIT" },
      },
      servers: [{ url: "/" }],
      security: [{ bearer: [] }],
    });
    return c.json(document as object);
  });
}
