import { z } from "@hono/zod-openapi";
import { artifactRecordSchema } from "../metadata.js";

/**
 * The request and response shapes of the HTTP API, written once: the routes validate requests
 * with them and /openapi.json is generated from them. Named schemas become components.
 */

const isoTime = z.string().openapi({ format: "date-time" });

export const metaSchema = z.record(z.string(), z.unknown());
export const ttlSchema = z.union([z.number().int().positive(), z.null()]);

export const ErrorBody = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi("Error", { description: 'Every error: `{ "error": { "code", "message" } }`.' });

// The record schema storage providers parse, less its internal fields: one definition of the shape.
export const ArtifactMetadata = artifactRecordSchema
  .omit({ status: true, sessionExpiresAt: true, upload: true, storage: true, kept: true })
  .openapi("ArtifactMetadata");

export const VersionList = z
  .object({
    artifactId: z.string(),
    versions: z.array(
      z.object({
        version: z.number().int(),
        bytes: z.number().int(),
        sha256: z.string(),
        storedAt: z.string(),
        etag: z.string(),
      }),
    ),
  })
  .openapi("VersionList");

export const VersionParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" } }),
  version: z.string().openapi({ param: { name: "version", in: "path" }, description: "1, 2, …" }),
});

export const VersionQuery = z.object({
  version: z
    .string()
    .optional()
    .openapi({ param: { name: "version", in: "query" }, description: "An earlier version (1, 2, …)." }),
});

export const CheckpointCreate = z.strictObject({ name: z.string().optional() }).openapi("CheckpointCreate");

export const Checkpoint = z
  .object({
    checkpointId: z.string(),
    sessionId: z.string(),
    name: z.string().nullable(),
    createdAt: z.string(),
    artifacts: z.array(z.object({ artifactId: z.string(), version: z.number().int() })),
  })
  .openapi("Checkpoint");

export const CheckpointList = z.object({ items: z.array(Checkpoint) }).openapi("CheckpointList");

export const CheckpointParams = z.object({
  sessionId: z.string().openapi({ param: { name: "sessionId", in: "path" } }),
  checkpointId: z.string().openapi({ param: { name: "checkpointId", in: "path" } }),
});

export const CheckpointRestore = z
  .object({
    checkpointId: z.string(),
    restored: z.array(z.string()),
    unchanged: z.array(z.string()),
    deleted: z.array(z.string()),
    missing: z.array(z.string()),
  })
  .openapi("CheckpointRestore");

export const Page = z
  .object({
    sessionId: z.string(),
    items: z.array(ArtifactMetadata),
    cursor: z.string().nullable().openapi({ description: "Pass back for the next page; null at the end." }),
  })
  .openapi("Page");

// Only these fields may change; key, sessionId, sha256, bytes and the rest are refused (400).
export const MetadataUpdate = z
  .strictObject({
    summary: z.string().optional(),
    meta: metaSchema.optional(),
    filename: z.string().nullable().optional(),
    mime: z.string().optional(),
    ttl: ttlSchema.optional(),
    merge: z
      .boolean()
      .optional()
      .openapi({ description: "Merge meta into the existing meta (default), or replace it." }),
  })
  .openapi("MetadataUpdate");

export const CopyRequest = z.strictObject({
  newFilename: z.string().optional(),
  newMeta: metaSchema.optional(),
  summary: z.string().optional(),
  targetSessionId: z.string().optional(),
});

export const MoveRequest = z.strictObject({
  newFilename: z.string().optional(),
  newMeta: metaSchema.optional(),
  targetSessionId: z.string().optional(),
});

export const PresignRequest = z.strictObject({
  expires: z.number().int().optional().openapi({ description: "Seconds, 1 to 604800; default 3600." }),
});

export const PresignedDownload = z.object({ url: z.string(), expiresAt: isoTime });

/** Where a new artifact goes; only "session" (the default) takes a `sessionId`. */
const uploadScope = z
  .enum(["session", "user", "sandbox"])
  .optional()
  .openapi({
    description:
      '"session" (default: `sessionId`, else the caller\'s own session), "user" (the caller\'s own, ' +
      'across sessions) or "sandbox" (shared with every user; admin keys only, 403 otherwise).',
  });

export const UploadRequest = z
  .strictObject({
    sessionId: z.string().optional(),
    scope: uploadScope.openapi({
      description:
        "Fixed when the URL is signed (it is part of the reserved key the URL signs). " +
        '"session" (default), "user" (the caller\'s own, across sessions) or "sandbox" (admin keys only).',
    }),
    filename: z.string().nullable().optional(),
    mimeType: z
      .string()
      .nullable()
      .optional()
      .openapi({ description: "The Content-Type the upload must declare." }),
    expires: z.number().int().optional().openapi({ description: "Seconds, 1 to 604800; default 3600." }),
    maxBytes: z.number().int().nonnegative().nullable().optional(),
  })
  .openapi("UploadRequest");

export const PresignedUpload = z
  .object({
    url: z.string(),
    artifactId: z.string(),
    key: z.string(),
    expiresAt: isoTime,
    headers: z.record(z.string(), z.string()).openapi({ description: "Headers the PUT must send." }),
  })
  .openapi("PresignedUpload");

export const RegisterRequest = z.strictObject({
  mime: z.string().optional(),
  summary: z.string().optional(),
  filename: z.string().nullable().optional(),
  meta: metaSchema.optional(),
  ttl: ttlSchema.optional(),
});

export const MultipartUpload = z
  .object({
    artifactId: z.string(),
    uploadId: z.string(),
    key: z.string(),
    expiresAt: isoTime,
    minPartBytes: z
      .number()
      .int()
      .openapi({ description: "Every part but the last must be at least this big." }),
  })
  .openapi("MultipartUpload");

export const PartUrlRequest = z.strictObject({
  uploadId: z.string(),
  partNumber: z.number().int().openapi({ minimum: 1, maximum: 10000 }),
  expires: z.number().int().optional(),
});

export const PartUrl = z.object({ partNumber: z.number().int(), url: z.string(), expiresAt: isoTime });

export const PartReceipt = z
  .object({ partNumber: z.number().int(), etag: z.string(), bytes: z.number().int() })
  .openapi("PartReceipt");

export const CompleteRequest = z.strictObject({
  uploadId: z.string(),
  parts: z.array(z.strictObject({ partNumber: z.number().int(), etag: z.string() })),
});

export const Completed = z.object({
  artifactId: z.string(),
  uploadId: z.string(),
  completed: z.literal(true),
});

export const AbortRequest = z.strictObject({ uploadId: z.string() });

export const SignedUploadReceipt = z.object({ bytes: z.number().int(), sha256: z.string() });

export const SessionCreate = z
  .strictObject({
    sessionId: z
      .string()
      .optional()
      .openapi({ description: "The name to claim; without it an unguessable id is made." }),
    ttlHours: z.number().positive().optional(),
    meta: metaSchema.optional(),
    userId: z.string().optional().openapi({ description: "Admins only: the owner (default: the caller)." }),
  })
  .openapi("SessionCreate");

export const Session = z
  .object({
    sessionId: z.string(),
    sandboxId: z.string(),
    userId: z.string().nullable(),
    createdAt: isoTime,
    lastAccessedAt: isoTime,
    expiresAt: isoTime,
    meta: metaSchema,
  })
  .openapi("Session");

export const Whoami = z.object({ userId: z.string(), admin: z.boolean(), sessionId: z.string() });

const check = z.object({ status: z.enum(["ok", "error"]), provider: z.string() });
/** The session store behind a circuit breaker (Redis) also says the breaker's state and since when. */
const sessionCheck = check.extend({
  state: z.enum(["closed", "open", "half-open"]).optional(),
  since: z.string().optional(),
});
export const Readiness = z
  .object({ status: z.enum(["ready", "degraded", "unavailable"]), storage: check, session: sessionCheck })
  .openapi("Readiness");

export const Liveness = z.object({ status: z.literal("ok") });

export const ArtifactIdParam = z.object({
  id: z.string().openapi({
    param: { name: "id", in: "path" },
    description: "Artifact id: letters, digits and _ - . @, starting with a letter or digit, no '..'.",
  }),
});

export const SessionIdParam = z.object({
  sessionId: z.string().openapi({ param: { name: "sessionId", in: "path" } }),
});

export const ListQuery = z.object({
  limit: z
    .string()
    .optional()
    .openapi({ param: { name: "limit", in: "query" }, description: "1 to 1000; default 100." }),
  cursor: z
    .string()
    .optional()
    .openapi({
      param: { name: "cursor", in: "query" },
      description: "The `cursor` of the previous page; absent for the first.",
    }),
});

/** Upload fields given in the query string of a raw upload (multipart forms carry them as fields). */
export const UploadQuery = z.object({
  sessionId: z.string().optional(),
  scope: uploadScope,
  filename: z.string().optional().openapi({ description: "Metadata only, never a path." }),
  mime: z.string().optional(),
  summary: z.string().optional(),
  ttl: z.string().optional().openapi({ description: 'Seconds, or "never".' }),
  meta: z.string().optional().openapi({ description: "A JSON object." }),
});

/**
 * The multipart/form-data upload, as a plain schema: a zod schema here would make the router
 * parse the whole form into memory before the handler streams it.
 */
const text = { type: "string" as const };
export const UploadForm = {
  type: "object" as const,
  properties: {
    sessionId: text,
    scope: { type: "string" as const, enum: ["session", "user", "sandbox"] },
    filename: text,
    mime: text,
    summary: text,
    ttl: text,
    meta: text,
    file: { type: "string" as const, format: "binary" },
  },
  required: ["file"],
};

/** Raw bytes, streamed by the handler (a plain schema, so nothing parses the body first). */
export const Binary = { type: "string" as const, format: "binary" };

export const UsageQuery = z.object({
  sessionId: z
    .string()
    .optional()
    .openapi({ description: "A session of the caller's; absent: the caller's whole usage." }),
  userId: z.string().optional().openapi({ description: "Admins only: another user's usage." }),
});

const UsageNumbers = z.object({ bytes: z.number().int(), artifacts: z.number().int() });
const Limit = z.object({ bytes: z.number().int().optional(), artifacts: z.number().int().optional() });

export const UsageReport = z
  .object({
    scope: z.enum(["user", "session"]),
    id: z.string(),
    usage: UsageNumbers,
    limit: Limit.nullable().openapi({ description: "The quota of this scope; null when none is set." }),
  })
  .openapi("Usage");

export const SearchQueryParams = ListQuery.extend({
  sessionId: z
    .string()
    .optional()
    .openapi({ description: "Search one session of the caller's; absent: all of theirs." }),
  userId: z.string().optional().openapi({ description: "Admins only: search another user's artifacts." }),
  scope: z
    .enum(["session", "user", "sandbox"])
    .optional()
    .openapi({
      description:
        '"user": only the user\'s own-scope artifacts; "sandbox": the shared artifacts (any user); absent: ' +
        "the caller's sessions and own scope (or the one `sessionId`).",
    }),
  mime: z.string().optional().openapi({ description: 'A mime type or family, e.g. "image/*".' }),
  filename: z
    .string()
    .optional()
    .openapi({ description: 'A glob: "*" within a folder, "**" across, "?" one character.' }),
  meta: z
    .string()
    .optional()
    .openapi({ description: 'A JSON object of meta values that must all match, e.g. {"team":"red"}.' }),
  storedAfter: z.string().optional().openapi({ description: "ISO 8601: stored at or after." }),
  storedBefore: z.string().optional().openapi({ description: "ISO 8601: stored before." }),
  text: z
    .string()
    .optional()
    .openapi({ description: "Words found in the filename, summary or meta values." }),
});

export const SearchResults = z
  .object({
    items: z.array(ArtifactMetadata),
    cursor: z.string().nullable().openapi({ description: "Pass back for the next page; null at the end." }),
  })
  .openapi("SearchResults");
