import { ValidationError } from "./errors.js";
import { randomHex } from "./random.js";

/**
 * Grid keys: `grid/{sandboxId}/{owner}/{artifactId}`, where `{owner}` says the artifact's scope:
 *
 *   grid/{sandbox}/{sessionId}/{id}       scope "session": a session id (starts with a letter or digit)
 *   grid/{sandbox}/_u-{userId}/{id}       scope "user": the user's own, across all their sessions
 *   grid/{sandbox}/_shared/{id}           scope "sandbox": shared by every user of the sandbox
 *
 * No session id can start with `_`, so the reserved forms never collide with a session. Every
 * segment is validated so that no caller-supplied id can produce a key outside its prefix.
 */

export const GRID_ROOT = "grid";
export const MAX_SEGMENT_LENGTH = 128;

// Letters, digits, `_`, `-`, `.`, `@`; must start with a letter or digit, so `.`, `..` and hidden
// names are impossible, and names starting with `_` stay free for reserved scopes. `/`, `\`, `%`,
// `:`, NUL and whitespace are not in the set.
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;

export type Scope = "session" | "user" | "sandbox";
export const SCOPES: readonly Scope[] = ["session", "user", "sandbox"];
const USER_MARK = "_u-";
const SHARED = "_shared";

export type SegmentKind = "sandboxId" | "sessionId" | "artifactId" | "userId";

/** validateSegment without the error, for checks on a hot path. */
export function isSegment(value: string): boolean {
  return (
    value.length > 0 && value.length <= MAX_SEGMENT_LENGTH && SEGMENT.test(value) && !value.includes("..")
  );
}

/** Throws ValidationError unless `value` is a safe grid segment. Returns it unchanged. */
export function validateSegment(value: unknown, kind: SegmentKind): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new ValidationError(`${kind} must be a non-empty string`);
  }
  if (value.length > MAX_SEGMENT_LENGTH) {
    throw new ValidationError(`${kind} is longer than ${MAX_SEGMENT_LENGTH} characters`);
  }
  if (!SEGMENT.test(value) || value.includes("..")) {
    throw new ValidationError(
      `${kind} ${JSON.stringify(value.slice(0, 40))} is not allowed: use letters, digits and _ - . @ ` +
        "(starting with a letter or digit, no '..')",
    );
  }
  return value;
}

export interface ParsedGridKey {
  grid: typeof GRID_ROOT;
  sandboxId: string;
  sessionId: string;
  artifactId: string;
  /** The `grid/{sandbox}/{owner}/` prefix the artifact lives under. */
  sessionPrefix: string;
  scope: Scope;
  /** The owning user of a user-scope key; null otherwise. */
  scopeUserId: string | null;
}

/** The `{owner}` segment of a scope: a session id, `_u-{userId}` or `_shared`. */
export function scopeSegment(scope: Scope, ids: { sessionId?: string; userId?: string | null }): string {
  if (scope === "sandbox") return SHARED;
  if (scope === "user") return `${USER_MARK}${validateSegment(ids.userId, "userId")}`;
  return validateSegment(ids.sessionId, "sessionId");
}

/** The prefix every artifact of a scope's owner sits under. */
export function scopePrefix(
  sandboxId: string,
  scope: Scope,
  ids: { sessionId?: string; userId?: string | null },
): string {
  return `${GRID_ROOT}/${validateSegment(sandboxId, "sandboxId")}/${scopeSegment(scope, ids)}/`;
}

/** Which scope an `{owner}` segment names, or null when it is no valid one. */
export function parseScopeSegment(segment: string): { scope: Scope; userId: string | null } | null {
  try {
    if (segment === SHARED) return { scope: "sandbox", userId: null };
    if (segment.startsWith(USER_MARK)) {
      return { scope: "user", userId: validateSegment(segment.slice(USER_MARK.length), "userId") };
    }
    validateSegment(segment, "sessionId");
    return { scope: "session", userId: null };
  } catch {
    return null;
  }
}

export function validateScope(scope: unknown): Scope {
  if (scope === undefined) return "session";
  if (typeof scope !== "string" || !(SCOPES as readonly string[]).includes(scope)) {
    throw new ValidationError(`scope must be one of ${SCOPES.join(", ")}`);
  }
  return scope as Scope;
}

export function sessionPrefix(sandboxId: string, sessionId: string): string {
  return `${GRID_ROOT}/${validateSegment(sandboxId, "sandboxId")}/${validateSegment(sessionId, "sessionId")}/`;
}

export function buildKey(sandboxId: string, sessionId: string, artifactId: string): string {
  return sessionPrefix(sandboxId, sessionId) + validateSegment(artifactId, "artifactId");
}

/**
 * buildKey without checking the segments: only for a same-turn lookup in an in-process driver (a
 * map read), whose record then proves them (its own ids must be exactly these). Never a key to
 * write to, or one that reaches a path or a request.
 */
export function lookupKey(sandboxId: string, sessionId: string, artifactId: string): string {
  return `${GRID_ROOT}/${sandboxId}/${sessionId}/${artifactId}`;
}

/** The key of another artifact beside `key` (same sandbox and owner segment). */
export function keyBeside(key: string, artifactId: string): string {
  const parsed = parseGridKey(key);
  if (!parsed) throw new ValidationError(`not a grid key: ${key}`);
  return parsed.sessionPrefix + validateSegment(artifactId, "artifactId");
}

/** Parses a grid key; returns null for anything that is not a well-formed, valid key. */
export function parseGridKey(key: string): ParsedGridKey | null {
  if (typeof key !== "string") return null;
  const known = parsedKeys.get(key);
  if (known) return known;
  const parsed = parseKey(key);
  if (!parsed) return null;
  // A key is parsed several times per operation (read, access check, listing): remember a
  // bounded number of valid keys (never a caller's invalid text); frozen, as callers share them.
  if (parsedKeys.size >= PARSED_KEYS_MAX) parsedKeys.clear();
  parsedKeys.set(key, Object.freeze(parsed));
  return parsed;
}

const PARSED_KEYS_MAX = 16_384;
const parsedKeys = new Map<string, Readonly<ParsedGridKey>>();

function parseKey(key: string): ParsedGridKey | null {
  // Exactly `grid/{sandbox}/{owner}/{artifact}`, found by position (no array of parts).
  const start = GRID_ROOT.length + 1;
  if (!key.startsWith(`${GRID_ROOT}/`)) return null;
  const second = key.indexOf("/", start);
  const third = second === -1 ? -1 : key.indexOf("/", second + 1);
  if (third === -1 || key.indexOf("/", third + 1) !== -1) return null;
  const sandboxId = key.slice(start, second);
  const sessionId = key.slice(second + 1, third);
  const artifactId = key.slice(third + 1);
  if (!isSegment(sandboxId) || !isSegment(artifactId)) return null;
  const owner = parseScopeSegment(sessionId);
  if (!owner) return null;
  return {
    grid: GRID_ROOT,
    sandboxId,
    sessionId,
    artifactId,
    sessionPrefix: key.slice(0, third + 1),
    scope: owner.scope,
    scopeUserId: owner.userId,
  };
}

/** 128 random bits, hex: unguessable and a valid segment. */
export function newArtifactId(): string {
  return randomHex(16);
}

/** Anonymous session ids carry 128 random bits too. */
export function newSessionId(): string {
  return `sess-${randomHex(16)}`;
}

/** The user a `user_{userId}` session implicitly belongs to, or null for other session ids. */
export function implicitOwner(sessionId: string): string | null {
  return sessionId.startsWith("user_") && sessionId.length > 5 ? sessionId.slice(5) : null;
}

/** The session a user gets when they name no session: `user_{userId}`, as in the seed's recipes. */
export function userSessionId(userId: string): string {
  return validateSegment(`user_${validateSegment(userId, "userId")}`, "sessionId");
}
