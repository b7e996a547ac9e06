import { Hono } from "hono";
import { z } from "zod";
import { userSessionId } from "../grid.js";
import type { ArtifactStore } from "../store.js";
import type { AuthEnv } from "./auth.js";
import {
  intQuery,
  jsonBody,
  metaSchema,
  principalOf,
  type RestOptions,
  readContext,
  ttlSchema,
} from "./context.js";
import { serveArtifact } from "./download.js";
import { HttpError } from "./errors.js";
import { asData, requestChunks } from "./streams.js";

/**
 * The REST API over existing artifacts (read, change, copy, move, delete, list, presign). Uploads
 * live in uploads.ts. Every route runs behind bearer auth; the caller's context goes into every
 * store call, so ownership is the store's rule, not this file's.
 */

// Only these fields may change; key, sessionId, sha256, bytes and the rest are refused (400).
const updateSchema = z.strictObject({
  summary: z.string().optional(),
  meta: metaSchema.optional(),
  filename: z.string().nullable().optional(),
  mime: z.string().optional(),
  ttl: ttlSchema.optional(),
  merge: z.boolean().optional(),
});

const copySchema = z.strictObject({
  newFilename: z.string().optional(),
  newMeta: metaSchema.optional(),
  summary: z.string().optional(),
  targetSessionId: z.string().optional(),
});

const moveSchema = z.strictObject({
  newFilename: z.string().optional(),
  newMeta: metaSchema.optional(),
  targetSessionId: z.string().optional(),
});

const presignSchema = z.strictObject({ expires: z.number().int().optional() });

export function restRoutes(store: ArtifactStore, options: RestOptions): Hono<AuthEnv> {
  const app = new Hono<AuthEnv>();
  const json = <T extends z.ZodType>(c: Parameters<typeof principalOf>[0], schema: T) =>
    jsonBody(c, schema, options.maxJsonBytes);

  app.get("/whoami", (c) => {
    const p = principalOf(c);
    return c.json({ userId: p.userId, admin: p.admin, sessionId: userSessionId(p.userId) });
  });

  // The caller's own session, or ?sessionId= for another one they own (any, for an admin).
  app.get("/artifacts", async (c) => {
    const sessionId = c.req.query("sessionId") ?? userSessionId(principalOf(c).userId);
    return c.json(await listPage(c, sessionId));
  });

  app.get("/sessions/:sessionId/artifacts", async (c) => c.json(await listPage(c, c.req.param("sessionId"))));

  async function listPage(c: Parameters<typeof principalOf>[0], sessionId: string) {
    const limit = intQuery(c, "limit") ?? 100;
    const cursor = c.req.query("cursor") || null;
    const page = await store.listBySession(sessionId, { ...readContext(c), limit, cursor });
    return { sessionId, items: [...page], cursor: page.cursor };
  }

  app.get("/artifacts/:id", (c) => {
    const id = c.req.param("id");
    const context = readContext(c);
    return serveArtifact(c.req.raw, {
      metadata: () => store.metadata(id, context),
      open: (range) => store.openStream(id, { ...context, range }),
    });
  });

  // Replaces the content, streamed; size and sha256 are recomputed.
  app.put("/artifacts/:id", async (c) => {
    const id = c.req.param("id");
    const mime = c.req.header("content-type");
    const metadata = await store.updateFile(id, {
      ...readContext(c),
      data: asData(requestChunks(c.req.raw, options.maxUploadBytes)),
      ...(mime !== undefined && { mime: mime.trim() }),
    });
    return c.json(metadata);
  });

  app.get("/artifacts/:id/metadata", async (c) =>
    c.json(await store.metadata(c.req.param("id"), readContext(c))),
  );

  app.patch("/artifacts/:id", async (c) => {
    const changes = await json(c, updateSchema);
    return c.json(
      await store.updateMetadata(c.req.param("id"), { ...stripUndefined(changes), ...readContext(c) }),
    );
  });

  app.post("/artifacts/:id/copy", async (c) => {
    const body = await json(c, copySchema);
    const context = readContext(c);
    const copyId = await store.copyFile(c.req.param("id"), { ...stripUndefined(body), ...context });
    return c.json(await store.metadata(copyId, context), 201, { location: `artifacts/${copyId}` });
  });

  app.post("/artifacts/:id/move", async (c) => {
    const body = await json(c, moveSchema);
    return c.json(await store.moveFile(c.req.param("id"), { ...stripUndefined(body), ...readContext(c) }));
  });

  app.delete("/artifacts/:id", async (c) => {
    const removed = await store.delete(c.req.param("id"), readContext(c));
    if (!removed) throw new HttpError(404, "ARTIFACT_NOT_FOUND", `artifact ${c.req.param("id")} not found`);
    return c.body(null, 204);
  });

  app.post("/artifacts/:id/presign", async (c) => {
    const { expires } = await json(c, presignSchema);
    const seconds = expires ?? 3600;
    const url = await store.presign(c.req.param("id"), { ...readContext(c), expires: seconds });
    return c.json({ url, expiresAt: new Date(Date.now() + seconds * 1000).toISOString() });
  });

  return app;
}

/** Drops absent fields, so `undefined` never reaches the store as "set to undefined". */
export function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}
