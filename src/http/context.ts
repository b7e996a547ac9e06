import type { Context } from "hono";
import { z } from "zod";
import { ValidationError } from "../errors.js";
import type { AccessContext } from "../store.js";
import type { AuthEnv, Principal } from "./auth.js";
import { readJsonObject } from "./streams.js";

/**
 * How a request's principal becomes the store's access context: a user passes their userId into
 * every call (the store enforces ownership); an admin passes none and reaches every session.
 */

export interface RestOptions {
  maxJsonBytes: number;
  maxUploadBytes: number | null;
}

export type RestContext = Context<AuthEnv>;

export function principalOf(c: RestContext): Principal {
  return c.get("principal");
}

/** Context for reading or changing an existing artifact. */
export function readContext(c: RestContext): AccessContext {
  const p = principalOf(c);
  return p.admin ? {} : { userId: p.userId };
}

/** Context for creating artifacts: the named session, else the caller's own `user_{id}` session. */
export function writeContext(c: RestContext, sessionId: string | undefined): AccessContext {
  const p = principalOf(c);
  if (sessionId === undefined) return { userId: p.userId };
  return p.admin ? { sessionId } : { sessionId, userId: p.userId };
}

/** A JSON body checked against `schema`; unknown fields are refused. */
export async function jsonBody<T extends z.ZodType>(
  c: RestContext,
  schema: T,
  maxBytes: number,
): Promise<z.infer<T>> {
  const raw = await readJsonObject(c.req.raw, maxBytes);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new ValidationError(
      `invalid request body: ${where}${issue?.message ?? "does not match the schema"}`,
    );
  }
  return parsed.data;
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

export const metaSchema = z.record(z.string(), z.unknown());
export const ttlSchema = z.union([z.number().int().positive(), z.null()]);
