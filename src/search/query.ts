import { ValidationError } from "../errors.js";
import { type Scope, scopeSegment, validateScope, validateSegment } from "../grid.js";
import { isExpired } from "../metadata.js";
import type { IndexEntry } from "../sessions/search-index.js";
import { compileGlob } from "./glob.js";
import { haystackOf, metaTerm, mimeTerm, typeTerm, wordRuns } from "./terms.js";

/**
 * What to find. `sessionId`, `userId` or `scope` names the area searched; the rest filter it:
 * a session's artifacts (`sessionId`); a user's, from all their sessions and their own scope
 * (`userId`); only a user's own-scope artifacts (`scope: "user"` with `userId`); the sandbox's
 * shared artifacts, which every user may read (`scope: "sandbox"`).
 */
export interface SearchQuery {
  sessionId?: string;
  userId?: string;
  scope?: Scope;
  /** A mime type, or a family: "image/*". */
  mime?: string;
  /** A glob over the filename: `*` any characters but `/`, `**` any characters, `?` one character. */
  filename?: string;
  /** Every key must equal the artifact's meta value (compared as JSON). */
  meta?: Record<string, unknown>;
  /** ISO 8601 time or Date: stored at or after it. */
  storedAfter?: string | Date;
  /** ISO 8601 time or Date: stored before it. */
  storedBefore?: string | Date;
  /** Case-insensitive words, each found in the filename, summary or a meta value. */
  text?: string;
}

export interface SearchOptions {
  /** Results per page, 1–1000. Default 100. */
  limit?: number;
  cursor?: string | null;
}

/** A validated query: the area and a predicate over metadata. */
export interface CompiledQuery {
  area: { kind: "session" | "user"; id: string };
  /** With `area` a session named by `sessionId`: the user the session must belong to. */
  userId: string | null;
  after: number | null;
  before: number | null;
  matches(m: IndexEntry, now: number): boolean;
  /**
   * Conditions the index can answer from postings (src/search/terms.ts), every one necessary: a
   * match has one of `terms`, or one indexed word that contains `inWord`.
   */
  postings: PostingCondition[];
}

export type PostingCondition = { terms: string[] } | { inWord: string };

export const SEARCH_LIMIT_MAX = 1000;
const QUERY_FIELDS = new Set([
  "sessionId",
  "userId",
  "scope",
  "mime",
  "filename",
  "meta",
  "storedAfter",
  "storedBefore",
  "text",
]);

export function compileQuery(query: SearchQuery): CompiledQuery {
  if (typeof query !== "object" || query === null)
    throw new ValidationError("the search query must be an object");
  const unknown = Object.keys(query).filter((k) => !QUERY_FIELDS.has(k));
  if (unknown.length > 0) throw new ValidationError(`unknown search fields: ${unknown.join(", ")}`);
  const sessionId = query.sessionId === undefined ? null : validateSegment(query.sessionId, "sessionId");
  const userId = query.userId === undefined ? null : validateSegment(query.userId, "userId");
  const { area, owner } = areaOf(query.scope, sessionId, userId);
  const after = time(query.storedAfter, "storedAfter");
  const before = time(query.storedBefore, "storedBefore");
  const tests: ((m: IndexEntry) => boolean)[] = [];
  const postings: PostingCondition[] = [];
  if (query.mime !== undefined) {
    const mime = text(query.mime, "mime");
    tests.push(mimeTest(mime));
    postings.push(...mimePostings(mime));
  }
  if (query.filename !== undefined) {
    const glob = text(query.filename, "filename");
    const matchName = compileGlob(glob);
    tests.push((m) => m.filename !== null && matchName(m.filename));
    postings.push(...globPostings(glob));
  }
  if (query.meta !== undefined) {
    if (typeof query.meta !== "object" || query.meta === null || Array.isArray(query.meta))
      throw new ValidationError("meta must be an object of key: value");
    const wanted = Object.entries(query.meta).map(([k, v]) => [k, JSON.stringify(v)] as const);
    tests.push((m) => wanted.every(([k, v]) => Object.hasOwn(m.meta, k) && JSON.stringify(m.meta[k]) === v));
    for (const [k, v] of Object.entries(query.meta)) {
      const term = metaTerm(k, v);
      if (term !== null) postings.push({ terms: [term] });
    }
  }
  if (query.text !== undefined) {
    const words = text(query.text, "text").toLowerCase().split(/\s+/).filter(Boolean);
    tests.push((m) => {
      const hay = haystackOf(m);
      return words.every((w) => hay.includes(w));
    });
    for (const word of words) for (const run of wordRuns(word)) postings.push({ inWord: run });
  }
  return {
    area,
    userId: owner,
    after,
    before,
    matches(m, now) {
      if (area.kind === "user" && m.userId !== area.id) return false;
      if (m.expiresAt !== null && isExpired(m.expiresAt, now)) return false;
      if (after !== null || before !== null) {
        const at = Date.parse(m.storedAt);
        if (after !== null && at < after) return false;
        if (before !== null && at >= before) return false;
      }
      for (const t of tests) if (!t(m)) return false;
      return true;
    },
    postings,
  };
}

/**
 * The area a query searches (index areas: src/search/search.ts) and the user a named session must
 * belong to. Own-scope and shared artifacts are indexed as the session of their grid segment
 * (`_u-{userId}`, `_shared`), which no real session id can spell.
 */
function areaOf(
  rawScope: unknown,
  sessionId: string | null,
  userId: string | null,
): { area: CompiledQuery["area"]; owner: string | null } {
  if (rawScope === undefined) {
    if (sessionId !== null) return { area: { kind: "session", id: sessionId }, owner: userId };
    if (userId !== null) return { area: { kind: "user", id: userId }, owner: null };
    throw new ValidationError("search needs a sessionId, a userId or a scope");
  }
  const scope = validateScope(rawScope);
  if (scope === "session") {
    if (sessionId === null) throw new ValidationError('scope "session" needs a sessionId');
    return { area: { kind: "session", id: sessionId }, owner: userId };
  }
  if (sessionId !== null) throw new ValidationError(`scope "${scope}" takes no sessionId`);
  if (scope === "user" && userId === null) throw new ValidationError('scope "user" needs a userId');
  // Any user may search the shared artifacts; a user's own scope is named by that user's id.
  return { area: { kind: "session", id: scopeSegment(scope, { userId }) }, owner: null };
}

export function validateSearchOptions(options: SearchOptions): { limit: number; cursor: string | null } {
  const limit = options.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_LIMIT_MAX)
    throw new ValidationError(`limit must be a whole number from 1 to ${SEARCH_LIMIT_MAX}`);
  return { limit, cursor: options.cursor ? decodeSearchCursor(options.cursor) : null };
}

/** A page cursor is the position (search-index.ts) of the last result returned, base64url. */
export function encodeSearchCursor(position: string): string {
  return Buffer.from(position).toString("base64url");
}

function decodeSearchCursor(raw: string): string {
  const position = Buffer.from(raw, "base64url").toString("latin1");
  if (!/^\d{13}\|[\x20-\x7e]{1,128}$/.test(position)) throw new ValidationError("invalid search cursor");
  return position;
}

function mimeTest(pattern: string): (m: IndexEntry) => boolean {
  const p = pattern.toLowerCase();
  if (p === "*" || p === "*/*") return () => true;
  if (p.endsWith("/*")) {
    const family = p.slice(0, -1);
    return (m) => m.mime.toLowerCase().startsWith(family);
  }
  return (m) => m.mime.toLowerCase().split(";")[0]!.trim() === p;
}

function mimePostings(pattern: string): PostingCondition[] {
  const p = pattern.toLowerCase();
  if (p === "*" || p === "*/*") return [];
  if (p.endsWith("/*")) {
    const term = typeTerm(p.slice(0, -1));
    return term === null ? [] : [{ terms: [term] }];
  }
  return [{ terms: [mimeTerm(p)] }];
}

/**
 * The fixed text of a glob is in every filename it matches, and the filename is part of what
 * `text` searches: its ASCII letter-and-digit runs are word conditions. (Only ASCII: lowercasing
 * those is the same character by character and in a whole text, so they are found as indexed.)
 */
function globPostings(glob: string): PostingCondition[] {
  const out: PostingCondition[] = [];
  for (const literal of glob.split(/[*?]+/))
    for (const run of wordRuns(literal.toLowerCase())) if (/^[a-z0-9]+$/.test(run)) out.push({ inWord: run });
  return out;
}

function text(value: unknown, name: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 1024)
    throw new ValidationError(`${name} must be a non-empty string of at most 1024 characters`);
  return value;
}

function time(value: unknown, name: string): number | null {
  if (value === undefined) return null;
  const ms =
    value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) throw new ValidationError(`${name} must be an ISO 8601 time`);
  return ms;
}
