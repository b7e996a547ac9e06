import { randomBytes } from "node:crypto";
import type {
  CallToolResult,
  ContentBlock,
  McpServer,
  ServerContext,
  ToolAnnotations,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import { currentAuditScope } from "../audit/event.js";
import { collect } from "../body.js";
import { ArtifactNotFoundError, ValidationError } from "../errors.js";
import { parseGridKey, type Scope } from "../grid.js";
import type { ArtifactMetadata } from "../metadata.js";
import {
  decodeBase64,
  decodeText,
  guessMime,
  isImageMime,
  isTextMime,
  isUtf8,
  utf8Slice,
} from "./content.js";
import { TooLargeError, toolError } from "./errors.js";
import { listArtifacts } from "./listing.js";
import { outputSchemas, type ToolName } from "./schemas.js";
import { artifactView, type ConnectionContext, MAX_LIST_PAGE_SIZE, resourceLink } from "./server.js";
import { artifactIdFrom } from "./uri.js";

// ---- argument schemas shared by several tools -----------------------------------------------------

const MAX_PRESIGN_SECONDS = 7 * 86400;

const artifactId = z
  .string()
  .min(1)
  .max(512)
  .describe("The artifact's id (from a listing or an earlier result), or its artifact://session/id URI");
const filename = z
  .string()
  .min(1)
  .max(1024)
  .describe("File name kept as metadata; may contain folders such as docs/report.md (never a disk path)");
const mime = z
  .string()
  .min(3)
  .max(255)
  .describe("MIME type, e.g. text/markdown, application/json, image/png");
const summary = z.string().max(4096).describe("A one-line description of the file");
const meta = z.record(z.string(), z.unknown()).describe("Your own JSON fields to keep with the file");
const ttl = z
  .number()
  .int()
  .positive()
  .nullable()
  .describe("Seconds until the file expires; null keeps it until deleted; omitted uses the server's default");
const version = z
  .number()
  .int()
  .min(1)
  .optional()
  .describe("An earlier version (1, 2, …; see list_versions); omitted: the current one");
const scope = z
  .enum(["session", "user", "sandbox"])
  .optional()
  .describe(
    'Where the new file goes: "session" (default: this session), "user" (yours, kept across ' +
      'sessions) or "sandbox" (shared with every user; admin connections only)',
  );
const expiresIn = z
  .number()
  .int()
  .min(1)
  .max(MAX_PRESIGN_SECONDS)
  .describe("Seconds the URL stays valid (default 3600)");

type Shape = z.ZodRawShape;

interface ToolSpec<S extends Shape> {
  title: string;
  description: string;
  input: S;
  annotations: ToolAnnotations;
  run(args: z.output<z.ZodObject<S, z.core.$strict>>): Promise<CallToolResult>;
}

/** A successful result: the structured result, mirrored as JSON text, then links to artifacts. */
function ok(
  structured: Record<string, unknown>,
  links: ContentBlock[],
  before: ContentBlock[] = [],
): CallToolResult {
  return {
    content: [...before, { type: "text", text: JSON.stringify(structured, null, 2) }, ...links],
    structuredContent: structured,
  };
}

function defined<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Registers every artifact tool of one connection onto `server`. */
export function registerTools(server: McpServer, ctx: ConnectionContext): void {
  const { store, access } = ctx;
  const view = (m: ArtifactMetadata) => artifactView(ctx, m);
  const link = (m: ArtifactMetadata) => resourceLink(ctx, m);
  const idOf = (ref: string) => artifactIdFrom(ref, ctx.sessionId, ctx.userId);
  /** A tool's name as this server registers it, for descriptions and hints. */
  const t = (name: string) => ctx.toolPrefix + name;
  /**
   * Where a new file of `scope` goes. Only "session" names the connection's session; "sandbox"
   * drops the user only for an admin connection, so the store refuses anyone else's.
   */
  const placed = (where: Scope | undefined) => {
    if (where === undefined || where === "session") return access;
    return where === "sandbox" && ctx.admin ? { scope: where } : { scope: where, userId: ctx.userId };
  };
  /** Context to finish an upload: an admin connection acts as a trusted call within its session. */
  const finishing = ctx.admin ? { sessionId: ctx.sessionId } : access;

  // Audit events name the HTTP request carrying a call; over stdio, this connection and the call's id.
  const connection = randomBytes(4).toString("hex");
  const auditScope = (request: ServerContext) => ({
    userId: ctx.userId,
    requestId: currentAuditScope()?.requestId ?? `mcp-${connection}-${String(request.mcpReq.id)}`,
  });
  /** The page arguments of list_files and search_files. */
  const paging = {
    limit: z
      .number()
      .int()
      .min(1)
      .max(MAX_LIST_PAGE_SIZE)
      .optional()
      .describe(`Files per page (default ${ctx.listPageSize})`),
    cursor: z.string().max(4096).optional().describe("nextCursor from the previous page"),
  };

  const define = <S extends Shape>(name: ToolName, spec: ToolSpec<S>) => {
    server.registerTool(
      ctx.toolPrefix + name,
      {
        title: spec.title,
        description: spec.description,
        inputSchema: z.strictObject(spec.input),
        outputSchema: outputSchemas[name],
        annotations: { openWorldHint: false, ...spec.annotations },
      },
      async (args: z.output<z.ZodObject<S, z.core.$strict>>, request: ServerContext) => {
        try {
          return await store.audit.scoped(auditScope(request), () => spec.run(args));
        } catch (err) {
          return toolError(err, ctx.log);
        }
      },
    );
  };

  define("upload_file", {
    title: "Upload a file (base64)",
    description:
      "Stores a file from base64-encoded bytes in this session (or, with scope, as yours across sessions " +
      "or shared) and returns its id and artifact:// URI. " +
      `For text use ${t("write_file")} instead; for files over ${ctx.maxUploadBytes} bytes use ${t("presign_upload")}.`,
    input: {
      contentBase64: z.string().describe("The file's bytes, base64-encoded"),
      filename: filename.optional(),
      mime: mime.optional().describe("MIME type; guessed from the filename when omitted"),
      summary: summary.optional(),
      meta: meta.optional(),
      ttl: ttl.optional(),
      scope,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
    run: async (args) => {
      const bytes = decodeBase64(
        args.contentBase64,
        ctx.maxUploadBytes,
        "contentBase64",
        t("presign_upload"),
      );
      const id = await store.store(bytes, {
        ...placed(args.scope),
        ...defined({ filename: args.filename, summary: args.summary, meta: args.meta, ttl: args.ttl }),
        mime: args.mime ?? guessMime(args.filename) ?? "application/octet-stream",
      });
      const m = await store.metadata(id, access);
      return ok({ artifact: view(m) }, [link(m)]);
    },
  });

  define("write_file", {
    title: "Write a text file",
    description:
      "Stores text as a file in this session (UTF-8) and returns its id and artifact:// URI. Give " +
      "artifactId to replace the content of an existing file instead, keeping its id.",
    input: {
      content: z.string().describe("The file's text"),
      filename: filename.optional(),
      mime: mime.optional().describe("MIME type; guessed from the filename, else text/plain"),
      summary: summary.optional(),
      meta: meta.optional().describe("Your own JSON fields; replaces existing ones when artifactId is given"),
      ttl: ttl.optional(),
      artifactId: artifactId.optional().describe("Replace the content of this existing file"),
      scope: scope.describe(
        'Where a new file goes: "session" (default: this session), "user" (yours, kept across ' +
          'sessions) or "sandbox" (shared with every user; admin connections only). Not with artifactId',
      ),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
    run: async (args) => {
      const size = Buffer.byteLength(args.content, "utf8");
      if (size > ctx.maxUploadBytes) {
        throw new TooLargeError(
          `content is ${size} bytes, over this server's limit of ${ctx.maxUploadBytes} bytes for one call; ` +
            `use ${t("presign_upload")} for large files`,
        );
      }
      const fields = defined({
        filename: args.filename,
        summary: args.summary,
        meta: args.meta,
        ttl: args.ttl,
      });
      const guessed = args.mime ?? guessMime(args.filename);
      let m: ArtifactMetadata;
      if (args.artifactId !== undefined && args.scope !== undefined)
        throw new ValidationError("scope places a new file; an existing file keeps its own (drop scope)");
      if (args.artifactId !== undefined) {
        m = await store.updateFile(idOf(args.artifactId), {
          ...access,
          ...fields,
          ...(guessed !== undefined && { mime: guessed }),
          data: args.content,
        });
      } else {
        const id = await store.writeFile(args.content, {
          ...placed(args.scope),
          ...fields,
          mime: guessed ?? "text/plain; charset=utf-8",
        });
        m = await store.metadata(id, access);
      }
      return ok({ artifact: view(m) }, [link(m)]);
    },
  });

  define("read_file", {
    title: "Read a file",
    description:
      "Returns a file's content: text as text, images as images, other binary files as a base64 " +
      `embedded resource. At most ${ctx.maxReadBytes} bytes per call: a bigger file comes back as its ` +
      "first part plus a signed URL (download) for the whole file; or pass offset and length and " +
      "follow nextOffset.",
    input: {
      artifactId,
      version,
      offset: z.number().int().min(0).optional().describe("First byte to read (default 0)"),
      length: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(`Bytes to read (default: to the end, at most ${ctx.maxReadBytes})`),
      encoding: z
        .enum(["auto", "text", "base64"])
        .optional()
        .describe("auto (default): text for text types, base64 otherwise; text or base64 to force one"),
    },
    annotations: { readOnlyHint: true, idempotentHint: true },
    run: async (args) => {
      const id = idOf(args.artifactId);
      const max = ctx.maxReadBytes;
      const at = { ...access, ...defined({ version: args.version }) };
      const first = await store.metadata(id, at);
      const name = first.filename ?? id;
      const ranged = args.offset !== undefined || args.length !== undefined;
      const start = args.offset ?? 0;
      if (args.length !== undefined && args.length > max) {
        throw new TooLargeError(
          `length ${args.length} is over this server's read limit of ${max} bytes per call; read in parts of at most ${max} bytes`,
        );
      }
      const cut = !ranged && first.bytes > max;
      if (start > 0 && start >= first.bytes) {
        throw new ValidationError(`offset ${start} is at or past the end of ${name} (${first.bytes} bytes)`);
      }
      const wanted = Math.min(args.length ?? max, first.bytes - start);
      ctx.spend(wanted);
      let m = first;
      let bytes: Buffer;
      if (start === 0 && wanted === first.bytes) {
        bytes = await store.retrieve(id, at);
      } else {
        const opened = await store.openStream(id, { ...at, range: { start, end: start + wanted - 1 } });
        m = opened.metadata;
        bytes = await collect(opened.body.stream);
      }

      const encoding = args.encoding ?? "auto";
      let text: string | null = null;
      let skip = 0;
      let end = bytes.length;
      if (encoding === "text" || (encoding === "auto" && isTextMime(m.mime))) {
        if (isUtf8(m.mime)) ({ skip, end } = utf8Slice(bytes, start === 0, start + bytes.length >= m.bytes));
        text = decodeText(bytes.subarray(skip, end), m.mime, encoding === "auto");
        if (text === null) {
          skip = 0;
          end = bytes.length;
        }
      }
      const offset = start + skip;
      const length = end - skip;
      const nextOffset = offset + length < m.bytes ? offset + length : null;
      const whole = offset === 0 && length === m.bytes;
      let data: ContentBlock;
      if (text !== null) data = { type: "text", text };
      else if (whole && encoding === "auto" && isImageMime(m.mime))
        data = { type: "image", data: bytes.toString("base64"), mimeType: m.mime };
      else
        data = {
          type: "resource",
          resource: { uri: ctx.uri(m.artifactId), mimeType: m.mime, blob: bytes.toString("base64") },
        };
      const structured = {
        artifact: view(m),
        encoding: text !== null ? "text" : "base64",
        offset,
        length,
        totalBytes: m.bytes,
        nextOffset,
        ...(nextOffset !== null && {
          more: cut
            ? `${name} is ${m.bytes} bytes, over this server's limit of ${max} per read: this is its first part. ` +
              `Fetch the whole file from download.url, or call ${t("read_file")} with offset ${nextOffset} for the next part.`
            : `This is part of the file: call ${t("read_file")} with offset ${nextOffset} for the rest.`,
        }),
      };
      if (!cut) return ok(structured, [link(m)], [data]);
      // The handoff for large files: a signed URL for the whole file, in the result itself.
      const seconds = 3600;
      const url = await store.presign(id, { ...at, expires: seconds });
      const download = { url, expiresAt: new Date(Date.now() + seconds * 1000).toISOString() };
      const urlLink: ContentBlock = {
        type: "resource_link",
        uri: url,
        name: m.filename ?? m.artifactId,
        mimeType: m.mime,
        size: m.bytes,
        description: `The whole file (${m.bytes} bytes) by signed URL, valid until ${download.expiresAt}`,
      };
      return ok({ ...structured, download }, [link(m), urlLink], [data]);
    },
  });

  define("list_files", {
    title: "List files",
    description:
      "Lists the files of this session, a page at a time: pass nextCursor back as cursor for the next " +
      "page (a page may hold fewer than limit files and still have a nextCursor). prefix keeps only " +
      "filenames that start with it, like a directory (docs/).",
    input: {
      prefix: z.string().max(1024).optional().describe("Only filenames starting with this, e.g. docs/"),
      ...paging,
    },
    annotations: { readOnlyHint: true, idempotentHint: true },
    run: async (args) => {
      const page = await listArtifacts(ctx, {
        limit: args.limit ?? ctx.listPageSize,
        cursor: args.cursor ?? null,
        ...(args.prefix !== undefined && { prefix: args.prefix }),
      });
      return ok(
        { sessionId: ctx.sessionId, files: page.items.map(view), nextCursor: page.cursor },
        page.items.map(link),
      );
    },
  });

  define("search_files", {
    title: "Search files",
    description:
      "Finds files by type, name, meta fields, date and words, newest first. Searches this session, or " +
      "with allSessions every session of your user; scope user searches your own files kept across " +
      "sessions, scope sandbox the files shared with everyone. mime takes a family such as image/*; filename a glob " +
      "(* within a folder, ** across folders, e.g. reports/*.pdf); meta values must all match; text words " +
      "must all appear in the filename, summary or meta. Pass nextCursor back as cursor for the next page.",
    input: {
      mime: z.string().min(1).max(255).optional().describe("A MIME type or family, e.g. image/*"),
      filename: z.string().min(1).max(1024).optional().describe("A filename glob, e.g. reports/*.pdf"),
      meta: meta.optional().describe("Meta fields that must all equal these values"),
      storedAfter: z.string().max(64).optional().describe("ISO 8601: stored at or after this time"),
      storedBefore: z.string().max(64).optional().describe("ISO 8601: stored before this time"),
      text: z.string().min(1).max(1024).optional().describe("Words to find in filename, summary or meta"),
      allSessions: z.boolean().optional().describe("Search every session of your user, not only this one"),
      scope: z
        .enum(["user", "sandbox"])
        .optional()
        .describe("user: only your own files kept across sessions; sandbox: the files shared with everyone"),
      ...paging,
    },
    annotations: { readOnlyHint: true, idempotentHint: true },
    run: async (args) => {
      const { allSessions, scope, limit, cursor, ...filters } = args;
      const page = await store.search(
        {
          ...(scope !== undefined
            ? { scope, userId: access.userId }
            : allSessions
              ? { userId: access.userId }
              : { sessionId: access.sessionId, userId: access.userId }),
          ...defined(filters),
        },
        { limit: limit ?? ctx.listPageSize, cursor: cursor ?? null },
      );
      return ok({ files: page.items.map(view), nextCursor: page.cursor }, page.items.map(link));
    },
  });

  define("get_metadata", {
    title: "Get file metadata",
    description:
      "Returns a file's metadata: name, MIME type, size, sha256, summary, your meta fields, times.",
    input: { artifactId, version },
    annotations: { readOnlyHint: true, idempotentHint: true },
    run: async (args) => {
      const m = await store.metadata(idOf(args.artifactId), {
        ...access,
        ...defined({ version: args.version }),
      });
      return ok({ artifact: { ...view(m), ttl: m.ttl } }, [link(m)]);
    },
  });

  define("update_metadata", {
    title: "Update file metadata",
    description:
      "Changes a file's summary, meta fields, filename, MIME type or expiry. meta is merged into the " +
      "existing fields unless replaceMeta is true. Id, size, sha256, session and times cannot be changed.",
    input: {
      artifactId,
      summary: summary.optional(),
      meta: meta.optional(),
      replaceMeta: z
        .boolean()
        .optional()
        .describe("Replace all meta fields instead of merging (default false)"),
      filename: filename.optional(),
      mime: mime.optional(),
      ttl: ttl.optional(),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
    run: async (args) => {
      const m = await store.updateMetadata(idOf(args.artifactId), {
        ...access,
        ...defined({
          summary: args.summary,
          meta: args.meta,
          filename: args.filename,
          mime: args.mime,
          ttl: args.ttl,
        }),
        merge: args.replaceMeta !== true,
      });
      return ok({ artifact: view(m) }, [link(m)]);
    },
  });

  define("copy_file", {
    title: "Copy a file",
    description:
      "Copies a file within this session; the copy gets a new id. Optionally rename it or add meta.",
    input: {
      artifactId,
      newFilename: filename.optional().describe("Name of the copy (default: the same name)"),
      summary: summary.optional(),
      meta: meta.optional().describe("Fields merged into the copy's meta"),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
    run: async (args) => {
      const sourceId = idOf(args.artifactId);
      const copyId = await store.copyFile(sourceId, {
        ...access,
        ...defined({ newFilename: args.newFilename, summary: args.summary, newMeta: args.meta }),
      });
      const [copy, source] = await Promise.all([
        store.metadata(copyId, access),
        store.metadata(sourceId, access),
      ]);
      return ok({ artifact: view(copy), copiedFrom: sourceId }, [link(copy), link(source)]);
    },
  });

  define("move_file", {
    title: "Rename (move) a file",
    description:
      "Renames a file within this session, e.g. into a folder (drafts/a.md → final/a.md); its id stays.",
    input: {
      artifactId,
      newFilename: filename.describe("The new name, folders included"),
      meta: meta.optional().describe("Fields merged into the file's meta"),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
    run: async (args) => {
      const m = await store.moveFile(idOf(args.artifactId), {
        ...access,
        newFilename: args.newFilename,
        ...(args.meta !== undefined && { newMeta: args.meta }),
      });
      return ok({ artifact: view(m) }, [link(m)]);
    },
  });

  define("delete_file", {
    title: "Delete a file",
    description: "Deletes a file from this session for good.",
    input: { artifactId },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
    run: async (args) => {
      const id = idOf(args.artifactId);
      if (!(await store.delete(id, access))) {
        throw new ArtifactNotFoundError(`artifact ${id} not found in session ${ctx.sessionId}`);
      }
      return ok({ deleted: true, artifactId: id }, []);
    },
  });

  define("presign_download", {
    title: "Get a download URL",
    description:
      "Returns a signed URL anyone holding it can GET the file from until it expires, without MCP: " +
      "use it for big files or to hand a file to a person or another program.",
    input: { artifactId, version, expiresIn: expiresIn.optional() },
    annotations: { readOnlyHint: true, idempotentHint: false },
    run: async (args) => {
      const id = idOf(args.artifactId);
      const seconds = args.expiresIn ?? 3600;
      const at = { ...access, ...defined({ version: args.version }) };
      const url = await store.presign(id, { ...at, expires: seconds });
      const m = await store.metadata(id, at);
      const expiresAt = new Date(Date.now() + seconds * 1000).toISOString();
      return ok({ url, method: "GET", expiresAt, artifact: view(m) }, [link(m)]);
    },
  });

  define("list_versions", {
    title: "List a file's versions",
    description:
      "Lists the versions kept of a file, newest first: every write of new content is a new version. " +
      `Read an earlier one with ${t("read_file")}'s version argument.`,
    input: { artifactId },
    annotations: { readOnlyHint: true, idempotentHint: true },
    run: async (args) => {
      const id = idOf(args.artifactId);
      return ok({ artifactId: id, versions: await store.listVersions(id, access) }, []);
    },
  });

  define("presign_upload", {
    title: "Get an upload URL",
    description:
      "Reserves a new file and returns a signed URL to PUT its bytes to (with the returned headers), " +
      `for files too big to send as base64. After the PUT, call ${t("register_upload")} with the artifactId ` +
      "to make the file visible.",
    input: {
      filename: filename.optional(),
      mime: mime.optional().describe("MIME type the upload must declare as Content-Type"),
      maxBytes: z.number().int().min(0).optional().describe("Refuse uploads larger than this"),
      expiresIn: expiresIn.optional(),
      scope: scope.describe(
        '"session" (default: this session), "user" (yours, kept across sessions) or "sandbox" ' +
          "(shared with every user; admin connections only). Fixed now: the URL signs it",
      ),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
    run: async (args) => {
      const upload = await store.presignUpload({
        ...placed(args.scope),
        ...defined({ filename: args.filename, mimeType: args.mime, maxBytes: args.maxBytes }),
        expires: args.expiresIn ?? 3600,
      });
      return ok(
        {
          url: upload.url,
          method: "PUT",
          headers: upload.headers,
          artifactId: upload.artifactId,
          uri: ctx.uri(upload.artifactId, parseGridKey(upload.key)?.sessionId),
          expiresAt: upload.expiresAt,
          next: `PUT the bytes to url with these headers, then call ${t("register_upload")} with artifactId ${upload.artifactId}`,
        },
        [],
      );
    },
  });

  define("register_upload", {
    title: "Register an uploaded file",
    description:
      `Makes a file uploaded to a ${t("presign_upload")} URL visible, recording its real size and sha256; ` +
      "optionally sets its name, MIME type, summary, meta and expiry.",
    input: {
      artifactId,
      filename: filename.optional(),
      mime: mime.optional(),
      summary: summary.optional(),
      meta: meta.optional(),
      ttl: ttl.optional(),
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
    run: async (args) => {
      const m = await store.registerUploadedArtifact(idOf(args.artifactId), {
        ...finishing,
        ...defined({
          filename: args.filename,
          mime: args.mime,
          summary: args.summary,
          meta: args.meta,
          ttl: args.ttl,
        }),
      });
      return ok({ artifact: view(m) }, [link(m)]);
    },
  });
}
