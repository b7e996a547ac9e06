import { z } from "zod";

/**
 * The `outputSchema` of every tool: what `structuredContent` holds on success. A failed call
 * (`isError: true`) has no structuredContent; its `_meta["chuk-artifacts/error"]` holds
 * `{ kind, code, message }`.
 */

const iso = z.string().describe("ISO 8601 time");

export const artifactViewSchema = z.object({
  artifactId: z.string(),
  uri: z.string().describe("artifact://session/id"),
  filename: z.string().nullable(),
  mime: z.string(),
  bytes: z.number().int(),
  summary: z.string(),
  meta: z.record(z.string(), z.unknown()),
  sha256: z.string(),
  storedAt: iso,
  updatedAt: iso,
  expiresAt: iso.nullable(),
  version: z.number().int().describe("1, 2, …: one more for every write of new content"),
  etag: z.string().describe("Changes with every write"),
});

const artifactResult = z.object({ artifact: artifactViewSchema });

const downloadSchema = z.object({
  url: z.string().describe("Signed URL: a plain GET returns the whole file"),
  expiresAt: iso,
});

export const outputSchemas = {
  upload_file: artifactResult,
  write_file: artifactResult,
  read_file: z.object({
    artifact: artifactViewSchema,
    encoding: z.enum(["text", "base64"]),
    offset: z.number().int(),
    length: z.number().int(),
    totalBytes: z.number().int(),
    nextOffset: z.number().int().nullable(),
    more: z.string().optional(),
    download: downloadSchema
      .optional()
      .describe("Present when the read stopped at the server's byte limit: the whole file by URL"),
  }),
  list_files: z.object({
    sessionId: z.string(),
    files: z.array(artifactViewSchema),
    nextCursor: z.string().nullable(),
  }),
  search_files: z.object({
    files: z.array(artifactViewSchema),
    nextCursor: z.string().nullable(),
  }),
  get_metadata: z.object({ artifact: artifactViewSchema.extend({ ttl: z.number().nullable() }) }),
  update_metadata: artifactResult,
  copy_file: z.object({ artifact: artifactViewSchema, copiedFrom: z.string() }),
  move_file: artifactResult,
  delete_file: z.object({ deleted: z.literal(true), artifactId: z.string() }),
  presign_download: z.object({
    url: z.string(),
    method: z.literal("GET"),
    expiresAt: iso,
    artifact: artifactViewSchema,
  }),
  presign_upload: z.object({
    url: z.string(),
    method: z.literal("PUT"),
    headers: z.record(z.string(), z.string()),
    artifactId: z.string(),
    uri: z.string(),
    expiresAt: iso,
    next: z.string(),
  }),
  register_upload: artifactResult,
  list_versions: z.object({
    artifactId: z.string(),
    versions: z.array(
      z.object({
        version: z.number().int(),
        bytes: z.number().int(),
        sha256: z.string(),
        storedAt: iso,
        etag: z.string(),
      }),
    ),
  }),
} satisfies Record<string, z.ZodObject>;

export type ToolName = keyof typeof outputSchemas;
