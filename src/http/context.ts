import type { Context, Hono, MiddlewareHandler } from "hono";
import type { z } from "zod";
import { BodyTooLargeError } from "../body.js";
import { ValidationError } from "../errors.js";
import { implicitOwner, type Scope, validateScope } from "../grid.js";
import type { AccessContext, ArtifactStore } from "../store.js";
import type { AuthEnv, Principal } from "./auth.js";
import { HttpError } from "./errors.js";
import { requestChunks } from "./streams.js";

/**
 * How a request's principal becomes the store's access context: a user passes their userId into
 * every call (the store enforces ownership); an admin passes none and reaches every session.
 */

export interface RestOptions {
  maxJsonBytes: number;
  maxUploadBytes: number | null;
}

// biome-ignore lint/suspicious/noExplicitAny: handlers of typed routes carry their own input types
export type RestContext = Context<AuthEnv, any, any>;

export function principalOf(c: RestContext): Principal {
  return c.get("principal");
}

/** Context for reading or changing an existing artifact. */
export function readContext(c: RestContext): AccessContext {
  const p = principalOf(c);
  return p.admin ? {} : { userId: p.userId };
}

/**
 * Context for creating an artifact of scope "user" (the caller's own) or "sandbox" (shared: only
 * an admin writes there; anyone else's call carries their userId, which the store refuses).
 */
export function scopedContext(
  c: RestContext,
  scope: "user" | "sandbox",
): AccessContext & { scope: "user" | "sandbox" } {
  const p = principalOf(c);
  return scope === "sandbox" && p.admin ? { scope } : { scope, userId: p.userId };
}

/**
 * Where a new artifact of any upload route goes: scope "user" or "sandbox" (see scopedContext), or
 * a session: the named one, checked visible to the caller, else the caller's own. Only scope
 * "session" names a session; the store refuses a sandbox write by a non-admin before anything is
 * stored or reserved.
 */
export async function uploadContext(
  store: ArtifactStore,
  c: RestContext,
  given: { sessionId?: string | undefined; scope?: string | undefined },
): Promise<AccessContext & { scope?: Scope }> {
  const scope = validateScope(given.scope === "" ? undefined : given.scope);
  if (scope !== "session") {
    if (given.sessionId !== undefined)
      throw new ValidationError(`sessionId names a session; an artifact of scope "${scope}" belongs to none`);
    return scopedContext(c, scope);
  }
  if (given.sessionId !== undefined) await checkSessionVisible(store, c, given.sessionId, "write");
  return writeContext(c, given.sessionId);
}

/** Context for creating artifacts: the named session, else the caller's own `user_{id}` session. */
export function writeContext(c: RestContext, sessionId: string | undefined): AccessContext {
  const p = principalOf(c);
  if (sessionId === undefined) return { userId: p.userId };
  return p.admin ? { sessionId } : { sessionId, userId: p.userId };
}

/**
 * Refuses a session the caller may not use with the same 404 whether it does not exist or belongs
 * to someone else, so session names cannot be probed. A caller's own `user_{id}` session counts as
 * theirs before it exists. For a write, an unknown name is left to the store, which creates it for
 * the caller, unless the store requires sessions to be created first. Admins reach every session.
 */
export async function checkSessionVisible(
  store: ArtifactStore,
  c: RestContext,
  sessionId: string,
  purpose: "read" | "write",
): Promise<void> {
  const p = principalOf(c);
  if (p.admin) return;
  const session = await store.getSessionInfo(sessionId);
  if (!session && purpose === "write" && !store.config.requireExplicitSessions) return;
  const owner = session ? (session.userId ?? implicitOwner(sessionId)) : implicitOwner(sessionId);
  if (owner !== p.userId) {
    store.audit.emit(
      "access.denied",
      { sessionId },
      { operation: `${purpose} session`, code: "SESSION_NOT_FOUND" },
    );
    throw new HttpError(404, "SESSION_NOT_FOUND", `session ${sessionId} not found`);
  }
}

/**
 * How a route's zod check failing becomes an answer: a 400 naming the first bad field. Passed to
 * every OpenAPIHono as its default hook.
 */
export function refuseInvalid(result: { success: boolean; error?: z.ZodError }): void {
  if (result.success) return;
  const issue = result.error?.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  throw new ValidationError(`invalid request: ${where}${issue?.message ?? "does not match the schema"}`);
}

/**
 * Caps the JSON body of the routes given (413 past `maxBytes`), before the router parses it. Only
 * JSON routes: upload routes stream their bodies under their own limit.
 */
export function limitJsonBodies(
  app: Hono<AuthEnv>,
  maxBytes: number,
  routes: { method: string; path: string }[],
): void {
  const limit: MiddlewareHandler = async (c, next) => {
    // A declared length is judged before the body is touched, so the connection stays usable.
    const declared = c.req.header("content-length");
    if (declared === undefined || c.req.header("transfer-encoding") !== undefined) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of requestChunks(c.req.raw, maxBytes)) chunks.push(chunk);
      c.req.raw = new Request(c.req.raw, { body: Buffer.concat(chunks) });
    } else if (Number(declared) > maxBytes) {
      throw new BodyTooLargeError(`the JSON body is larger than the limit of ${maxBytes} bytes`);
    }
    await next();
  };
  for (const route of routes) app.on(route.method.toUpperCase(), honoPath(route.path), limit);
}

/** An OpenAPI path (`/a/{id}`) in Hono's form (`/a/:id`). */
export function honoPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ":$1");
}

/** An optional whole-number query parameter. */
export function intQuery(c: RestContext, name: string): number | undefined {
  const value = c.req.query(name);
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new ValidationError(`${name} must be a whole number`);
  return n;
}

/** `ttl`: seconds, or "never". */
export function ttlValue(value: string | undefined): number | null | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "never") return null;
  if (!/^\d+$/.test(value)) throw new ValidationError('ttl must be a whole number of seconds or "never"');
  return Number(value);
}

/** `meta` given as a JSON object in a query parameter or form field. */
export function metaValue(value: string | undefined): Record<string, unknown> | undefined {
  if (value === undefined || value === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ValidationError("meta must be a JSON object");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new ValidationError("meta must be a JSON object");
  return parsed as Record<string, unknown>;
}
