import { OpenAPIHono } from "@hono/zod-openapi";
import { ConflictError } from "../errors.js";
import { userSessionId } from "../grid.js";
import type { ArtifactStore } from "../store.js";
import type { AuthEnv } from "./auth.js";
import {
  checkSessionVisible,
  intQuery,
  limitJsonBodies,
  principalOf,
  type RestContext,
  type RestOptions,
  readContext,
  refuseInvalid,
} from "./context.js";
import { etagOf, serveArtifact } from "./download.js";
import { HttpError } from "./errors.js";
import * as routes from "./routes.js";
import { asData, requestChunks } from "./streams.js";

/**
 * The REST API over existing artifacts (read, change, copy, move, delete, list, presign). Uploads
 * live in uploads.ts. Every route runs behind bearer auth; the caller's context goes into every
 * store call, so ownership is the store's rule, not this file's. Routes, parameters and bodies are
 * declared in routes.ts; the router checks requests against them before a handler runs.
 */

export function restRoutes(store: ArtifactStore, options: RestOptions): OpenAPIHono<AuthEnv> {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: refuseInvalid });
  limitJsonBodies(app, options.maxJsonBytes, [
    routes.update,
    routes.copy,
    routes.move,
    routes.presign,
    routes.createCheckpoint,
  ]);

  app.openapi(routes.whoami, (c) => {
    const p = principalOf(c);
    return c.json({ userId: p.userId, admin: p.admin, sessionId: userSessionId(p.userId) }, 200);
  });

  // The caller's own session, or ?sessionId= for another one they own (any, for an admin).
  // ?scope=user: the caller's own user-scope artifacts; ?scope=sandbox: the shared ones.
  app.openapi(routes.listOwn, async (c) => {
    const scope = c.req.query("scope");
    if (scope === "user" || scope === "sandbox") {
      const page = { limit: intQuery(c, "limit") ?? 100, cursor: c.req.query("cursor") || null };
      const userId = principalOf(c).userId;
      const found = scope === "user" ? await store.listByUser(userId, page) : await store.listShared(page);
      return c.json(
        { sessionId: scope === "user" ? `_u-${userId}` : "_shared", items: [...found], cursor: found.cursor },
        200,
      );
    }
    const sessionId = c.req.query("sessionId") ?? userSessionId(principalOf(c).userId);
    return c.json(await listPage(c, sessionId), 200);
  });

  app.openapi(routes.listSession, async (c) => c.json(await listPage(c, c.req.param("sessionId")), 200));

  // Claims a session name for the caller (admins may name another owner).
  app.openapi(routes.createSession, async (c) => {
    const { userId, ...rest } = c.req.valid("json");
    const p = principalOf(c);
    if (userId !== undefined && !p.admin && userId !== p.userId) {
      throw new HttpError(403, "ACCESS_DENIED", "only an admin may create a session for another user");
    }
    const session = await store.createSession({ ...stripUndefined(rest), userId: userId ?? p.userId });
    return c.json(session, 201, { location: `sessions/${session.sessionId}/artifacts` });
  });

  async function listPage(c: RestContext, sessionId: string) {
    await checkSessionVisible(store, c, sessionId, "read");
    const limit = intQuery(c, "limit") ?? 100;
    const cursor = c.req.query("cursor") || null;
    const page = await store.listBySession(sessionId, { ...readContext(c), limit, cursor });
    return { sessionId, items: [...page], cursor: page.cursor };
  }

  app.openapi(routes.download, (c) => {
    const id = c.req.param("id");
    // Field by field: object spreads are slow on Node 20, and this is the download's hot path.
    const { userId } = readContext(c);
    const { version } = versionQuery(c);
    return serveArtifact(c.req.raw, {
      metadata: () => store.metadata(id, { userId, version }),
      open: (range) => store.openStream(id, { userId, version, range }),
    });
  });

  // Replaces the content, streamed; size and sha256 are recomputed.
  app.openapi(routes.replace, async (c) => {
    const id = c.req.param("id");
    const mime = c.req.header("content-type");
    const metadata = await preconditioned(c, (ifMatch) =>
      store.updateFile(id, {
        ...readContext(c),
        ...ifMatch,
        data: asData(requestChunks(c.req.raw, options.maxUploadBytes)),
        ...(mime !== undefined && { mime: mime.trim() }),
      }),
    );
    return c.json(metadata, 200, { etag: etagOf(metadata) });
  });

  app.openapi(routes.metadata, async (c) => {
    const metadata = await store.metadata(c.req.param("id"), { ...readContext(c), ...versionQuery(c) });
    return c.json(metadata, 200, { etag: etagOf(metadata) });
  });

  app.openapi(routes.update, async (c) => {
    const changes = c.req.valid("json");
    const metadata = await preconditioned(c, (ifMatch) =>
      store.updateMetadata(c.req.param("id"), { ...stripUndefined(changes), ...readContext(c), ...ifMatch }),
    );
    return c.json(metadata, 200, { etag: etagOf(metadata) });
  });

  app.openapi(routes.listVersions, async (c) => {
    const id = c.req.param("id");
    return c.json({ artifactId: id, versions: await store.listVersions(id, readContext(c)) }, 200);
  });

  app.openapi(routes.restoreVersion, async (c) => {
    const version = Number(c.req.param("version"));
    const metadata = await store.restoreVersion(c.req.param("id"), version, readContext(c));
    return c.json(metadata, 200, { etag: etagOf(metadata) });
  });

  app.openapi(routes.createCheckpoint, async (c) => {
    const sessionId = c.req.param("sessionId");
    await checkSessionVisible(store, c, sessionId, "read");
    const body = (await c.req.json().catch(() => ({}))) as { name?: string };
    const checkpoint = await store.createCheckpoint(sessionId, {
      ...readContext(c),
      ...(body.name !== undefined && { name: body.name }),
    });
    return c.json(checkpoint, 201);
  });

  app.openapi(routes.listCheckpoints, async (c) => {
    const sessionId = c.req.param("sessionId");
    await checkSessionVisible(store, c, sessionId, "read");
    return c.json({ items: await store.listCheckpoints(sessionId, readContext(c)) }, 200);
  });

  app.openapi(routes.restoreCheckpoint, async (c) => {
    const sessionId = c.req.param("sessionId");
    await checkSessionVisible(store, c, sessionId, "read");
    return c.json(await store.restoreCheckpoint(sessionId, c.req.param("checkpointId"), readContext(c)), 200);
  });

  app.openapi(routes.copy, async (c) => {
    const body = c.req.valid("json");
    const context = readContext(c);
    const copyId = await store.copyFile(c.req.param("id"), { ...stripUndefined(body), ...context });
    return c.json(await store.metadata(copyId, context), 201, { location: `artifacts/${copyId}` });
  });

  app.openapi(routes.move, async (c) => {
    const body = c.req.valid("json");
    return c.json(
      await store.moveFile(c.req.param("id"), { ...stripUndefined(body), ...readContext(c) }),
      200,
    );
  });

  app.openapi(routes.remove, async (c) => {
    const removed = await preconditioned(c, (ifMatch) =>
      store.delete(c.req.param("id"), { ...readContext(c), ...ifMatch }),
    );
    if (!removed) throw new HttpError(404, "ARTIFACT_NOT_FOUND", `artifact ${c.req.param("id")} not found`);
    return c.body(null, 204);
  });

  app.openapi(routes.presign, async (c) => {
    const { expires } = c.req.valid("json");
    const seconds = expires ?? 3600;
    const url = await store.presign(c.req.param("id"), { ...readContext(c), expires: seconds });
    return c.json({ url, expiresAt: new Date(Date.now() + seconds * 1000).toISOString() }, 200);
  });

  app.openapi(routes.usage, async (c) => {
    const who = await ownArea(c);
    const usage = await store.getUsage(who.kind === "session" ? { sessionId: who.id } : { userId: who.id });
    return c.json({ scope: who.kind, id: who.id, usage, limit: store.quotaLimits?.[who.kind] ?? null }, 200);
  });

  app.openapi(routes.search, async (c) => {
    const q = c.req.valid("query");
    const who = await ownArea(c);
    let meta: Record<string, unknown> | undefined;
    if (q.meta !== undefined) {
      try {
        meta = JSON.parse(q.meta) as Record<string, unknown>;
      } catch {
        throw new HttpError(400, "VALIDATION_ERROR", "meta must be a JSON object");
      }
    }
    // ?scope=user: only the user's own-scope artifacts; ?scope=sandbox: the shared ones, for anyone.
    const area =
      q.scope === "sandbox"
        ? { scope: "sandbox" as const }
        : q.scope === "user"
          ? { scope: "user" as const, userId: who.kind === "user" ? who.id : principalOf(c).userId }
          : who.kind === "session"
            ? { sessionId: who.id }
            : { userId: who.id };
    if (q.scope !== undefined && q.scope !== "session" && q.sessionId !== undefined)
      throw new HttpError(400, "VALIDATION_ERROR", `scope ${q.scope} takes no sessionId`);
    const { items, cursor } = await store.search(
      stripUndefined({
        ...area,
        mime: q.mime,
        filename: q.filename,
        meta,
        storedAfter: q.storedAfter,
        storedBefore: q.storedBefore,
        text: q.text,
      }),
      { limit: intQuery(c, "limit") ?? 100, cursor: q.cursor || null },
    );
    return c.json({ items, cursor }, 200);
  });

  /** ?sessionId= (one of the caller's sessions), ?userId= (admins), else the caller's whole area. */
  async function ownArea(c: RestContext): Promise<{ kind: "user" | "session"; id: string }> {
    const p = principalOf(c);
    const sessionId = c.req.query("sessionId");
    const userId = c.req.query("userId");
    if (userId !== undefined && !p.admin && userId !== p.userId) {
      throw new HttpError(403, "ACCESS_DENIED", "only an admin may look at another user's artifacts");
    }
    if (sessionId !== undefined) {
      await checkSessionVisible(store, c, sessionId, "read");
      return { kind: "session", id: sessionId };
    }
    return { kind: "user", id: userId ?? p.userId };
  }

  return app;
}

/** `?version=` as the store takes it (a bad value is the store's ValidationError). */
function versionQuery(c: RestContext): { version?: number } {
  const raw = c.req.query("version");
  return raw === undefined || raw === "" ? {} : { version: Number(raw) };
}

/**
 * Runs a write with the request's `If-Match` (an etag, quoted or not; `*` is any version): an
 * etag the artifact no longer has is 412 and nothing was written.
 */
async function preconditioned<T>(
  c: RestContext,
  write: (ifMatch: { ifMatch?: string }) => Promise<T>,
): Promise<T> {
  const header = c.req.header("if-match")?.trim();
  if (header === undefined || header === "*") return write({});
  const ifMatch = header.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
  try {
    return await write({ ifMatch });
  } catch (err) {
    if (err instanceof ConflictError) throw new HttpError(412, "PRECONDITION_FAILED", err.message);
    throw err;
  }
}

/** Drops absent fields, so `undefined` never reaches the store as "set to undefined". */
export function stripUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}
