/**
 * The HTTP API as an OpenAPI 3.1 document, written by hand and served at /openapi.json. A test
 * checks that every route of the handler is described here and nothing else is.
 */

const json = (schema: object) => ({ "application/json": { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const err = (name: string) => ({ $ref: `#/components/responses/${name}` });

const artifactId = {
  name: "artifactId",
  in: "path",
  required: true,
  description: "Artifact id: letters, digits and _ - . @, starting with a letter or digit, no '..'.",
  schema: { type: "string", maxLength: 128 },
};

const common = {
  "400": err("BadRequest"),
  "401": err("Unauthorized"),
  "403": err("Forbidden"),
  "429": err("TooManyRequests"),
  "502": err("BackendFailed"),
};

const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "chuk-artifacts",
    version: "0.1.0",
    description:
      "Session-scoped artifact storage. The REST API (/v1) and /mcp need `Authorization: Bearer <key>`; " +
      "each key acts for one user, who reaches only their own sessions (an admin key reaches all). " +
      "Signed URLs (/signed/…) carry their own HMAC signature and need no key. Errors are always " +
      '`{ "error": { "code", "message" } }`. After 10 failed authentications a minute from one ' +
      "address, requests from it get 429 until the minute ends.",
    license: { name: "MIT" },
  },
  security: [{ bearer: [] }],
  paths: {
    "/healthz": {
      get: {
        summary: "Liveness: the process answers",
        security: [],
        responses: {
          "200": {
            description: "Alive",
            content: json({ type: "object", properties: { status: { const: "ok" } } }),
          },
        },
      },
    },
    "/readyz": {
      get: {
        summary: "Readiness: storage and sessions answer a real round trip",
        security: [],
        responses: {
          "200": { description: "Ready", content: json(ref("Readiness")) },
          "503": { description: "A provider is down", content: json(ref("Readiness")) },
        },
      },
    },
    "/openapi.json": {
      get: {
        summary: "This document",
        security: [],
        responses: { "200": { description: "The OpenAPI document", content: json({ type: "object" }) } },
      },
    },
    "/": {
      get: {
        summary: "The web console (HTML); paste an API key to upload, browse, preview, share and delete",
        security: [],
        responses: {
          "200": { description: "HTML page", content: { "text/html": { schema: { type: "string" } } } },
        },
      },
    },
    "/console.js": {
      get: {
        summary: "The web console's script",
        security: [],
        responses: {
          "200": {
            description: "JavaScript module",
            content: { "text/javascript": { schema: { type: "string" } } },
          },
        },
      },
    },
    "/console.css": {
      get: {
        summary: "The web console's stylesheet",
        security: [],
        responses: {
          "200": { description: "CSS", content: { "text/css": { schema: { type: "string" } } } },
        },
      },
    },
    "/signed/{key}": {
      description:
        "Signed URLs answer CORS for any origin (preflight OPTIONS included): the signature is the credential.",
      parameters: [
        {
          name: "key",
          in: "path",
          required: true,
          description:
            "The grid key `grid/{sandbox}/{session}/{artifact}`, exactly as signed (never percent-encoded).",
          schema: { type: "string" },
        },
        {
          name: "m",
          in: "query",
          required: true,
          schema: { enum: ["GET", "PUT"] },
          description: "Signed method.",
        },
        {
          name: "exp",
          in: "query",
          required: true,
          schema: { type: "integer" },
          description: "Expiry, Unix seconds.",
        },
        {
          name: "max",
          in: "query",
          schema: { type: "integer" },
          description: "PUT: the most bytes accepted.",
        },
        {
          name: "ct",
          in: "query",
          schema: { type: "string" },
          description: "PUT: the Content-Type required.",
        },
        { name: "upload", in: "query", schema: { type: "string" }, description: "PUT: multipart upload id." },
        {
          name: "part",
          in: "query",
          schema: { type: "integer" },
          description: "PUT: multipart part number.",
        },
        {
          name: "sig",
          in: "query",
          required: true,
          schema: { type: "string" },
          description: "HMAC-SHA256, base64url.",
        },
      ],
      get: {
        summary: "Download through a signed URL (memory and filesystem storage; S3 URLs go to S3)",
        description:
          "Streams the artifact. A single `Range` gives 206 with Content-Range (several ranges or bad syntax are " +
          "ignored); a range past the end gives 416. ETag is the quoted sha256; `If-None-Match` gives 304. HEAD " +
          "answers the headers only. A full download is checked against the sha256 as it streams.",
        security: [],
        parameters: [
          {
            name: "Range",
            in: "header",
            schema: { type: "string", examples: ["bytes=0-1023", "bytes=-500"] },
          },
          { name: "If-None-Match", in: "header", schema: { type: "string" } },
        ],
        responses: {
          "200": {
            description: "The bytes",
            content: { "*/*": { schema: { type: "string", format: "binary" } } },
          },
          "206": { description: "The requested range" },
          "304": { description: "Not modified" },
          "400": err("BadRequest"),
          "403": err("Forbidden"),
          "404": err("NotFound"),
          "410": err("Gone"),
          "416": err("RangeNotSatisfiable"),
        },
      },
      put: {
        summary: "Upload through a signed upload URL (a whole body, or one part of a multipart upload)",
        description:
          "The body streams to storage. It must declare the signed Content-Type (415 otherwise) and stay within the " +
          "signed size (413 otherwise; nothing is stored). A URL whose artifact is registered already answers 409. " +
          "Afterwards call POST /v1/uploads/{artifactId}/register (or complete the multipart upload).",
        security: [],
        requestBody: { required: true, content: { "*/*": { schema: { type: "string", format: "binary" } } } },
        responses: {
          "200": {
            description:
              "Stored; the ETag header is the quoted sha256 (pass it back when completing a multipart upload)",
            content: json({
              oneOf: [
                { type: "object", properties: { bytes: { type: "integer" }, sha256: { type: "string" } } },
                ref("PartReceipt"),
              ],
            }),
          },
          "400": err("BadRequest"),
          "403": err("Forbidden"),
          "404": err("NotFound"),
          "409": err("Conflict"),
          "410": err("Gone"),
          "413": err("PayloadTooLarge"),
          "415": err("UnsupportedMediaType"),
        },
      },
    },
    "/v1/whoami": {
      get: {
        summary: "The user the key acts for",
        responses: {
          "200": {
            description: "The principal",
            content: json({
              type: "object",
              properties: {
                userId: { type: "string" },
                admin: { type: "boolean" },
                sessionId: { type: "string" },
              },
            }),
          },
          "401": err("Unauthorized"),
          "429": err("TooManyRequests"),
        },
      },
    },
    "/v1/artifacts": {
      get: {
        summary:
          "List a session: the caller's own (`user_{userId}`) unless `sessionId` names another they may see",
        parameters: [
          { name: "sessionId", in: "query", schema: { type: "string" } },
          { $ref: "#/components/parameters/limit" },
          { $ref: "#/components/parameters/cursor" },
        ],
        responses: { "200": { description: "A page", content: json(ref("Page")) }, ...common },
      },
      post: {
        summary: "Upload an artifact (streamed)",
        description:
          "Either a raw body (fields in the query; the type from `mime` or Content-Type), or multipart/form-data with " +
          "text fields `sessionId`, `filename`, `mime`, `summary`, `ttl`, `meta` *before* a `file` part (its filename " +
          "and type are the defaults). Without `sessionId` the artifact goes to the caller's own session.",
        parameters: [
          { name: "sessionId", in: "query", schema: { type: "string" } },
          {
            name: "filename",
            in: "query",
            schema: { type: "string" },
            description: "Metadata only, never a path.",
          },
          { name: "mime", in: "query", schema: { type: "string" } },
          { name: "summary", in: "query", schema: { type: "string" } },
          { name: "ttl", in: "query", schema: { type: "string" }, description: 'Seconds, or "never".' },
          { name: "meta", in: "query", schema: { type: "string" }, description: "A JSON object." },
        ],
        requestBody: {
          required: true,
          content: {
            "application/octet-stream": { schema: { type: "string", format: "binary" } },
            "multipart/form-data": {
              schema: {
                type: "object",
                properties: {
                  sessionId: { type: "string" },
                  filename: { type: "string" },
                  mime: { type: "string" },
                  summary: { type: "string" },
                  ttl: { type: "string" },
                  meta: { type: "string" },
                  file: { type: "string", format: "binary" },
                },
                required: ["file"],
              },
            },
          },
        },
        responses: {
          "201": { description: "Stored", content: json(ref("ArtifactMetadata")) },
          ...common,
          "413": err("PayloadTooLarge"),
        },
      },
    },
    "/v1/sessions/{sessionId}/artifacts": {
      get: {
        summary: "List a session's artifacts in key order, a page at a time",
        parameters: [
          { name: "sessionId", in: "path", required: true, schema: { type: "string" } },
          { $ref: "#/components/parameters/limit" },
          { $ref: "#/components/parameters/cursor" },
        ],
        responses: { "200": { description: "A page", content: json(ref("Page")) }, ...common },
      },
    },
    "/v1/artifacts/{artifactId}": {
      parameters: [artifactId],
      get: {
        summary: "Download (streamed; Range, If-None-Match and HEAD as for signed URLs)",
        parameters: [
          { name: "Range", in: "header", schema: { type: "string" } },
          { name: "If-None-Match", in: "header", schema: { type: "string" } },
        ],
        responses: {
          "200": {
            description: "The bytes",
            content: { "*/*": { schema: { type: "string", format: "binary" } } },
          },
          "206": { description: "The requested range" },
          "304": { description: "Not modified" },
          ...common,
          "404": err("NotFound"),
          "410": err("Gone"),
          "416": err("RangeNotSatisfiable"),
        },
      },
      put: {
        summary:
          "Replace the content (streamed); size and sha256 are recomputed, Content-Type becomes the mime",
        requestBody: { required: true, content: { "*/*": { schema: { type: "string", format: "binary" } } } },
        responses: {
          "200": { description: "Replaced", content: json(ref("ArtifactMetadata")) },
          ...common,
          "404": err("NotFound"),
          "410": err("Gone"),
          "413": err("PayloadTooLarge"),
        },
      },
      patch: {
        summary: "Update metadata; system fields (key, sessionId, sha256, bytes, …) are refused with 400",
        requestBody: { required: true, content: json(ref("MetadataUpdate")) },
        responses: {
          "200": { description: "Updated", content: json(ref("ArtifactMetadata")) },
          ...common,
          "404": err("NotFound"),
          "410": err("Gone"),
          "413": err("PayloadTooLarge"),
        },
      },
      delete: {
        summary: "Delete",
        responses: { "204": { description: "Deleted" }, ...common, "404": err("NotFound") },
      },
    },
    "/v1/artifacts/{artifactId}/metadata": {
      parameters: [artifactId],
      get: {
        summary: "Metadata",
        responses: {
          "200": { description: "Metadata", content: json(ref("ArtifactMetadata")) },
          ...common,
          "404": err("NotFound"),
          "410": err("Gone"),
        },
      },
    },
    "/v1/artifacts/{artifactId}/copy": {
      parameters: [artifactId],
      post: {
        summary: "Copy within the same session (another target session is 403)",
        requestBody: {
          content: json({
            type: "object",
            additionalProperties: false,
            properties: {
              newFilename: { type: "string" },
              newMeta: { type: "object" },
              summary: { type: "string" },
              targetSessionId: { type: "string" },
            },
          }),
        },
        responses: {
          "201": { description: "The copy", content: json(ref("ArtifactMetadata")) },
          ...common,
          "404": err("NotFound"),
          "410": err("Gone"),
        },
      },
    },
    "/v1/artifacts/{artifactId}/move": {
      parameters: [artifactId],
      post: {
        summary: "Rename and/or add meta keys, within the session",
        requestBody: {
          required: true,
          content: json({
            type: "object",
            additionalProperties: false,
            properties: {
              newFilename: { type: "string" },
              newMeta: { type: "object" },
              targetSessionId: { type: "string" },
            },
          }),
        },
        responses: {
          "200": { description: "Moved", content: json(ref("ArtifactMetadata")) },
          ...common,
          "404": err("NotFound"),
          "410": err("Gone"),
        },
      },
    },
    "/v1/artifacts/{artifactId}/presign": {
      parameters: [artifactId],
      post: {
        summary: "A signed download URL (S3: native SigV4; memory/filesystem: this server's /signed/)",
        requestBody: {
          content: json({
            type: "object",
            additionalProperties: false,
            properties: { expires: { type: "integer", minimum: 1, maximum: 604800, default: 3600 } },
          }),
        },
        responses: {
          "200": {
            description: "The URL",
            content: json({
              type: "object",
              properties: { url: { type: "string" }, expiresAt: { type: "string" } },
            }),
          },
          ...common,
          "404": err("NotFound"),
          "410": err("Gone"),
        },
      },
    },
    "/v1/uploads": {
      post: {
        summary: "Reserve an artifact and get a URL to PUT its bytes to",
        requestBody: { content: json(ref("UploadRequest")) },
        responses: {
          "201": { description: "The upload URL", content: json(ref("PresignedUpload")) },
          ...common,
        },
      },
    },
    "/v1/uploads/{artifactId}/register": {
      parameters: [artifactId],
      post: {
        summary: "Make an uploaded artifact visible, recording the size and sha256 of what was uploaded",
        requestBody: {
          content: json({
            type: "object",
            additionalProperties: false,
            properties: {
              mime: { type: "string" },
              summary: { type: "string" },
              filename: { type: ["string", "null"] },
              meta: { type: "object" },
              ttl: { type: ["integer", "null"] },
            },
          }),
        },
        responses: {
          "201": { description: "Registered", content: json(ref("ArtifactMetadata")) },
          ...common,
          "404": err("NotFound"),
          "409": err("Conflict"),
          "413": err("PayloadTooLarge"),
        },
      },
    },
    "/v1/multipart": {
      post: {
        summary: "Start a multipart upload (S3-native on S3; parts kept by this server elsewhere)",
        requestBody: { content: json(ref("UploadRequest")) },
        responses: { "201": { description: "Started", content: json(ref("MultipartUpload")) }, ...common },
      },
    },
    "/v1/multipart/{artifactId}/parts": {
      parameters: [artifactId],
      post: {
        summary: "A URL to PUT one part to; the PUT answers with the part's ETag",
        requestBody: {
          required: true,
          content: json({
            type: "object",
            additionalProperties: false,
            required: ["uploadId", "partNumber"],
            properties: {
              uploadId: { type: "string" },
              partNumber: { type: "integer", minimum: 1, maximum: 10000 },
              expires: { type: "integer", minimum: 1 },
            },
          }),
        },
        responses: {
          "200": {
            description: "The part URL",
            content: json({
              type: "object",
              properties: {
                partNumber: { type: "integer" },
                url: { type: "string" },
                expiresAt: { type: "string" },
              },
            }),
          },
          ...common,
          "404": err("NotFound"),
          "409": err("Conflict"),
        },
      },
    },
    "/v1/multipart/{artifactId}/complete": {
      parameters: [artifactId],
      post: {
        summary: "Join the parts (ascending partNumber, each with its ETag); then register the upload",
        requestBody: {
          required: true,
          content: json({
            type: "object",
            additionalProperties: false,
            required: ["uploadId", "parts"],
            properties: {
              uploadId: { type: "string" },
              parts: {
                type: "array",
                items: {
                  type: "object",
                  required: ["partNumber", "etag"],
                  properties: { partNumber: { type: "integer" }, etag: { type: "string" } },
                },
              },
            },
          }),
        },
        responses: {
          "200": {
            description: "Completed",
            content: json({
              type: "object",
              properties: {
                artifactId: { type: "string" },
                uploadId: { type: "string" },
                completed: { const: true },
              },
            }),
          },
          ...common,
          "404": err("NotFound"),
          "409": err("Conflict"),
          "413": err("PayloadTooLarge"),
        },
      },
    },
    "/v1/multipart/{artifactId}/abort": {
      parameters: [artifactId],
      post: {
        summary: "Abandon a multipart upload: its parts and its reserved artifact are removed",
        requestBody: {
          required: true,
          content: json({
            type: "object",
            additionalProperties: false,
            required: ["uploadId"],
            properties: { uploadId: { type: "string" } },
          }),
        },
        responses: {
          "204": { description: "Aborted" },
          ...common,
          "404": err("NotFound"),
          "409": err("Conflict"),
        },
      },
    },
    "/mcp": {
      post: {
        summary: "MCP over Streamable HTTP (JSON-RPC), working in the key's user session",
        requestBody: { required: true, content: json({ type: "object" }) },
        responses: {
          "200": { description: "JSON-RPC response", content: json({ type: "object" }) },
          "401": err("Unauthorized"),
          "429": err("TooManyRequests"),
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer", description: "An API key mapped to a user." },
    },
    parameters: {
      limit: {
        name: "limit",
        in: "query",
        schema: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
      },
      cursor: {
        name: "cursor",
        in: "query",
        schema: { type: "string" },
        description: "The `cursor` of the previous page; absent for the first.",
      },
    },
    responses: {
      BadRequest: {
        description: "Invalid input (VALIDATION_ERROR, INVALID_KEY)",
        content: json(ref("Error")),
      },
      Unauthorized: { description: "Missing or invalid API key (UNAUTHORIZED)", content: json(ref("Error")) },
      Forbidden: {
        description:
          "Another user's session or artifact (ACCESS_DENIED), or a bad signature (SIGNATURE_INVALID)",
        content: json(ref("Error")),
      },
      NotFound: {
        description: "No such artifact or upload (ARTIFACT_NOT_FOUND, SESSION_ERROR)",
        content: json(ref("Error")),
      },
      Conflict: {
        description: "Already registered, or nothing uploaded yet (CONFLICT)",
        content: json(ref("Error")),
      },
      Gone: {
        description: "Expired artifact (ARTIFACT_EXPIRED) or URL (URL_EXPIRED)",
        content: json(ref("Error")),
      },
      PayloadTooLarge: {
        description: "Body over a limit; nothing stored (PAYLOAD_TOO_LARGE)",
        content: json(ref("Error")),
      },
      UnsupportedMediaType: {
        description: "Content-Type differs from the signed one (UNSUPPORTED_MEDIA_TYPE)",
        content: json(ref("Error")),
      },
      RangeNotSatisfiable: {
        description: "Range past the end (RANGE_NOT_SATISFIABLE); Content-Range: bytes */size",
        content: json(ref("Error")),
      },
      TooManyRequests: {
        description: "Too many failed authentications; see Retry-After",
        content: json(ref("Error")),
      },
      BackendFailed: {
        description:
          "Storage or sessions failed (PROVIDER_ERROR), or stored bytes failed their checksum (ARTIFACT_CORRUPTED, 500)",
        content: json(ref("Error")),
      },
    },
    schemas: {
      Error: {
        type: "object",
        required: ["error"],
        properties: {
          error: {
            type: "object",
            required: ["code", "message"],
            properties: { code: { type: "string" }, message: { type: "string" } },
          },
        },
      },
      ArtifactMetadata: {
        type: "object",
        properties: {
          artifactId: { type: "string" },
          sessionId: { type: "string" },
          sandboxId: { type: "string" },
          key: { type: "string" },
          mime: { type: "string" },
          summary: { type: "string" },
          meta: { type: "object" },
          filename: { type: ["string", "null"] },
          bytes: { type: "integer" },
          sha256: { type: "string" },
          storedAt: { type: "string", format: "date-time" },
          updatedAt: { type: "string", format: "date-time" },
          ttl: { type: ["integer", "null"] },
          expiresAt: { type: ["string", "null"], format: "date-time" },
          storageProvider: { type: "string" },
          sessionProvider: { type: "string" },
          userId: { type: ["string", "null"] },
        },
      },
      MetadataUpdate: {
        type: "object",
        additionalProperties: false,
        properties: {
          summary: { type: "string" },
          meta: { type: "object" },
          filename: { type: ["string", "null"] },
          mime: { type: "string" },
          ttl: { type: ["integer", "null"] },
          merge: {
            type: "boolean",
            default: true,
            description: "Merge meta into the existing meta, or replace it.",
          },
        },
      },
      Page: {
        type: "object",
        properties: {
          sessionId: { type: "string" },
          items: { type: "array", items: ref("ArtifactMetadata") },
          cursor: { type: ["string", "null"], description: "Pass back for the next page; null at the end." },
        },
      },
      UploadRequest: {
        type: "object",
        additionalProperties: false,
        properties: {
          sessionId: { type: "string" },
          filename: { type: ["string", "null"] },
          mimeType: { type: ["string", "null"], description: "The Content-Type the upload must declare." },
          expires: { type: "integer", minimum: 1, maximum: 604800, default: 3600 },
          maxBytes: { type: ["integer", "null"], minimum: 0 },
        },
      },
      PresignedUpload: {
        type: "object",
        properties: {
          url: { type: "string" },
          artifactId: { type: "string" },
          key: { type: "string" },
          expiresAt: { type: "string" },
          headers: { type: "object", description: "Headers the PUT must send." },
        },
      },
      MultipartUpload: {
        type: "object",
        properties: {
          artifactId: { type: "string" },
          uploadId: { type: "string" },
          key: { type: "string" },
          expiresAt: { type: "string" },
          minPartBytes: {
            type: "integer",
            description: "Every part but the last must be at least this big.",
          },
        },
      },
      PartReceipt: {
        type: "object",
        properties: { partNumber: { type: "integer" }, etag: { type: "string" }, bytes: { type: "integer" } },
      },
      Readiness: {
        type: "object",
        properties: {
          status: { enum: ["ready", "unavailable"] },
          storage: {
            type: "object",
            properties: { status: { enum: ["ok", "error"] }, provider: { type: "string" } },
          },
          session: {
            type: "object",
            properties: { status: { enum: ["ok", "error"] }, provider: { type: "string" } },
          },
        },
      },
    },
  },
};

export function openApiDocument(): typeof OPENAPI {
  return OPENAPI;
}
