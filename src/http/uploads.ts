import { OpenAPIHono } from "@hono/zod-openapi";
import { ValidationError } from "../errors.js";
import type { ArtifactStore, StoreOptions } from "../store.js";
import type { AuthEnv } from "./auth.js";
import {
  limitJsonBodies,
  metaValue,
  type RestContext,
  type RestOptions,
  readContext,
  refuseInvalid,
  ttlValue,
  uploadContext,
} from "./context.js";
import { boundaryOf, type FormPart, formParts, partText } from "./formdata.js";
import { stripUndefined } from "./rest.js";
import * as routes from "./routes.js";
import { asData, requestChunks } from "./streams.js";

/**
 * Ways in: a direct upload (raw body or multipart/form-data, streamed to storage), the presigned
 * upload flow (reserve, client PUT, register) and multipart uploads for large files.
 */

// Text fields of an upload form; each must come before the file part, which is stored as it streams.
const FORM_FIELDS = new Set(["sessionId", "scope", "filename", "mime", "summary", "ttl", "meta"]);
const MAX_FIELD_BYTES = 80 * 1024;

export function uploadRoutes(store: ArtifactStore, options: RestOptions): OpenAPIHono<AuthEnv> {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: refuseInvalid });
  limitJsonBodies(app, options.maxJsonBytes, [
    routes.reserveUpload,
    routes.registerUpload,
    routes.startMultipart,
    routes.partUrl,
    routes.completeMultipart,
    routes.abortMultipart,
  ]);

  app.openapi(routes.upload, async (c) => {
    const contentType = c.req.header("content-type") ?? "";
    const id = /^multipart\/form-data\b/i.test(contentType)
      ? await storeForm(c, boundaryOf(contentType))
      : await storeRaw(c, contentType);
    const metadata = await store.metadata(id, readContext(c));
    return c.json(metadata, 201, { location: `artifacts/${id}` });
  });

  /** Raw body; fields from the query string, the type from ?mime= or Content-Type. */
  async function storeRaw(c: RestContext, contentType: string): Promise<string> {
    const q = (name: string) => c.req.query(name);
    const place = await uploadContext(store, c, { sessionId: q("sessionId"), scope: q("scope") });
    return store.store(asData(requestChunks(c.req.raw, options.maxUploadBytes)), {
      ...place,
      ...fields({
        mime: q("mime") ?? (contentType.trim() || undefined),
        summary: q("summary"),
        filename: q("filename"),
        ttl: q("ttl"),
        meta: q("meta"),
      }),
    });
  }

  async function storeForm(c: RestContext, boundary: string): Promise<string> {
    const given: Record<string, string> = {};
    const body = requestChunks(c.req.raw, options.maxUploadBytes)[Symbol.asyncIterator]();
    try {
      for await (const part of formParts({ [Symbol.asyncIterator]: () => body }, boundary)) {
        if (part.name === "file") return await storeFilePart(c, part, given);
        if (!FORM_FIELDS.has(part.name)) throw new ValidationError(`unknown form field ${part.name}`);
        given[part.name] = await partText(part, MAX_FIELD_BYTES);
      }
    } catch (err) {
      await readRest(body, REFUSED_FORM_READ_MAX);
      throw err;
    }
    throw new ValidationError('the form has no "file" part');
  }

  async function storeFilePart(
    c: RestContext,
    part: FormPart,
    given: Record<string, string>,
  ): Promise<string> {
    // A scope in the query counts as well, as for a raw body; a form field wins.
    const scope = given.scope ?? c.req.query("scope");
    const place = await uploadContext(store, c, { sessionId: given.sessionId, scope });
    return store.store(asData(part.body), {
      ...place,
      ...fields({
        mime: given.mime ?? part.contentType ?? undefined,
        summary: given.summary,
        filename: given.filename ?? part.filename ?? undefined,
        ttl: given.ttl,
        meta: given.meta,
      }),
    });
  }

  // The scope is fixed here: it is a segment of the reserved key, which the upload URL signs.
  app.openapi(routes.reserveUpload, async (c) => {
    const { sessionId, scope, ...rest } = c.req.valid("json");
    const place = await uploadContext(store, c, { sessionId, scope });
    const upload = await store.presignUpload({ ...stripUndefined(rest), ...place });
    return c.json(upload, 201);
  });

  app.openapi(routes.registerUpload, async (c) => {
    const body = c.req.valid("json");
    const metadata = await store.registerUploadedArtifact(c.req.param("id"), {
      ...stripUndefined(body),
      ...readContext(c),
    });
    return c.json(metadata, 201, { location: `artifacts/${metadata.artifactId}` });
  });

  app.openapi(routes.startMultipart, async (c) => {
    const { sessionId, scope, ...rest } = c.req.valid("json");
    const place = await uploadContext(store, c, { sessionId, scope });
    const upload = await store.createMultipartUpload({ ...stripUndefined(rest), ...place });
    return c.json(upload, 201);
  });

  app.openapi(routes.partUrl, async (c) => {
    const { uploadId, partNumber, expires } = c.req.valid("json");
    const part = await store.presignUploadPart(c.req.param("id"), uploadId, partNumber, {
      ...readContext(c),
      ...(expires !== undefined && { expires }),
    });
    return c.json({ partNumber, ...part }, 200);
  });

  app.openapi(routes.completeMultipart, async (c) => {
    const { uploadId, parts } = c.req.valid("json");
    await store.completeMultipartUpload(c.req.param("id"), uploadId, parts, readContext(c));
    return c.json({ artifactId: c.req.param("id"), uploadId, completed: true as const }, 200);
  });

  app.openapi(routes.abortMultipart, async (c) => {
    const { uploadId } = c.req.valid("json");
    await store.abortMultipartUpload(c.req.param("id"), uploadId, readContext(c));
    return c.body(null, 204);
  });

  return app;
}

/** Upload fields given as strings (query or form) turned into store options. */
function fields(raw: {
  mime: string | undefined;
  summary: string | undefined;
  filename: string | undefined;
  ttl: string | undefined;
  meta: string | undefined;
}): Pick<StoreOptions, "mime" | "summary" | "filename" | "ttl" | "meta"> {
  const ttl = ttlValue(raw.ttl);
  const meta = metaValue(raw.meta);
  return {
    ...(raw.mime !== undefined && { mime: raw.mime }),
    ...(raw.summary !== undefined && { summary: raw.summary }),
    ...(raw.filename !== undefined && { filename: raw.filename }),
    ...(ttl !== undefined && { ttl }),
    ...(meta !== undefined && { meta }),
  };
}

/** What is read of a refused form's remaining body before the refusal is answered. */
const REFUSED_FORM_READ_MAX = 1024 * 1024;

/**
 * Reads (and drops) the rest of a refused form, up to `maxBytes`, before the refusal is sent: the
 * Node adapter closes a connection whose body is still unread soon after the response, and a
 * client still sending its file would see a reset instead of the status that says why.
 */
async function readRest(body: AsyncIterator<Uint8Array>, maxBytes: number): Promise<void> {
  let read = 0;
  try {
    while (read <= maxBytes) {
      const next = await body.next();
      if (next.done) return;
      read += next.value.byteLength;
    }
  } catch {
    // The body itself failed (too large, the client gone): nothing more to read.
  }
}
