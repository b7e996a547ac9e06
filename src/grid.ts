import { randomBytes } from "node:crypto";
import { ValidationError } from "./errors.js";

/**
 * Grid keys: `grid/{sandboxId}/{sessionId}/{artifactId}`. Every segment is validated so that no
 * caller-supplied id can produce a key outside its prefix.
 */

export const GRID_ROOT = "grid";
export const MAX_SEGMENT_LENGTH = 128;

// Letters, digits, `_`, `-`, `.`, `@`; must start with a letter or digit, so `.`, `..` and hidden
// names are impossible, and names starting with `_` stay free for reserved scopes. `/`, `\`, `%`,
// `:`, NUL and whitespace are not in the set.
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;

export type SegmentKind = "sandboxId" | "sessionId" | "artifactId" | "userId";

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
  /** The `grid/{sandbox}/{session}/` prefix the artifact lives under. */
  sessionPrefix: string;
}

export function sessionPrefix(sandboxId: string, sessionId: string): string {
  return `${GRID_ROOT}/${validateSegment(sandboxId, "sandboxId")}/${validateSegment(sessionId, "sessionId")}/`;
}

export function buildKey(sandboxId: string, sessionId: string, artifactId: string): string {
  return sessionPrefix(sandboxId, sessionId) + validateSegment(artifactId, "artifactId");
}

/** Parses a grid key; returns null for anything that is not a well-formed, valid key. */
export function parseGridKey(key: string): ParsedGridKey | null {
  if (typeof key !== "string") return null;
  const parts = key.split("/");
  if (parts.length !== 4 || parts[0] !== GRID_ROOT) return null;
  const [, sandboxId, sessionId, artifactId] = parts as [string, string, string, string];
  try {
    validateSegment(sandboxId, "sandboxId");
    validateSegment(sessionId, "sessionId");
    validateSegment(artifactId, "artifactId");
  } catch {
    return null;
  }
  return {
    grid: GRID_ROOT,
    sandboxId,
    sessionId,
    artifactId,
    sessionPrefix: `${GRID_ROOT}/${sandboxId}/${sessionId}/`,
  };
}

/** 128 random bits, hex: unguessable and a valid segment. */
export function newArtifactId(): string {
  return randomBytes(16).toString("hex");
}

/** Anonymous session ids carry 128 random bits too. */
export function newSessionId(): string {
  return `sess-${randomBytes(16).toString("hex")}`;
}

/** The user a `user_{userId}` session implicitly belongs to, or null for other session ids. */
export function implicitOwner(sessionId: string): string | null {
  return sessionId.startsWith("user_") && sessionId.length > 5 ? sessionId.slice(5) : null;
}

/** The session a user gets when they name no session: `user_{userId}`, as in the seed's recipes. */
export function userSessionId(userId: string): string {
  return validateSegment(`user_${validateSegment(userId, "userId")}`, "sessionId");
}
