import { z } from "zod";
import { ValidationError } from "./errors.js";
import type { Scope } from "./grid.js";
import { randomHex } from "./random.js";

/** What callers see about an artifact. Timestamps are ISO-8601 strings; `ttl` null means "never". */
export interface ArtifactMetadata {
  artifactId: string;
  sessionId: string;
  sandboxId: string;
  key: string;
  mime: string;
  summary: string;
  meta: Record<string, unknown>;
  filename: string | null;
  bytes: number;
  sha256: string;
  storedAt: string;
  updatedAt: string;
  ttl: number | null;
  expiresAt: string | null;
  storageProvider: string;
  sessionProvider: string;
  /** The user that stored it, when known. */
  userId: string | null;
  /**
   * Who it belongs to: "session" (its session), "user" (its user, from any of their sessions) or
   * "sandbox" (shared: readable by every user, written only by trusted calls).
   */
  scope: Scope;
  /** 1 for the first bytes written, then one more for every write of new bytes. */
  version: number;
  /** Changes with every write (bytes or metadata): the precondition for `ifMatch`. */
  etag: string;
}

/**
 * What a storage provider persists beside the bytes. `status: "pending"` marks a presigned upload
 * slot that has not been registered yet; `upload` holds the limits that slot was signed with.
 */
export interface ArtifactRecord extends ArtifactMetadata {
  status: "ready" | "pending";
  /** Snapshot of the session's expiry when written; used by cleanup if the session store lost it. */
  sessionExpiresAt: string | null;
  upload?: { maxBytes: number | null; mime: string | null; expiresAt: string } | undefined;
  /**
   * Where this version sits in storage, as read or written: the head object's etag (the
   * precondition of the next conditional write) and the revision holding the bytes (null: the head
   * object holds them). Filled by the record layer; never part of the public metadata.
   */
  storage?: StorageVersion | undefined;
  /** This version's bytes are also in the version log (src/versions.ts): no copy needed to keep them. */
  kept?: boolean | undefined;
}

export interface StorageVersion {
  etag: string;
  rev: string | null;
}

export const artifactRecordSchema = z.object({
  artifactId: z.string(),
  sessionId: z.string(),
  sandboxId: z.string(),
  key: z.string(),
  mime: z.string(),
  summary: z.string(),
  meta: z.record(z.string(), z.unknown()),
  filename: z.string().nullable(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  storedAt: z.string(),
  updatedAt: z.string(),
  ttl: z.number().nullable(),
  expiresAt: z.string().nullable(),
  storageProvider: z.string(),
  sessionProvider: z.string(),
  userId: z.string().nullable(),
  scope: z.enum(["session", "user", "sandbox"]).optional(),
  version: z.number().int().positive().optional(),
  etag: z.string().optional(),
  kept: z.boolean().optional(),
  status: z.enum(["ready", "pending"]),
  sessionExpiresAt: z.string().nullable(),
  upload: z
    .object({ maxBytes: z.number().nullable(), mime: z.string().nullable(), expiresAt: z.string() })
    .optional(),
  storage: z.object({ etag: z.string(), rev: z.string().nullable() }).optional(),
});

/** Parses a stored record; anything malformed is treated as absent by the caller. */
export function parseRecord(json: string): ArtifactRecord | null {
  try {
    const parsed = artifactRecordSchema.safeParse(JSON.parse(json));
    return parsed.success ? (parsed.data as ArtifactRecord) : null;
  } catch {
    return null;
  }
}

/**
 * A copy no caller can change the original through: the nested `meta` (cloned only when it has
 * entries) and `upload` are copied too. For records kept to be handed out again.
 */
export function copyRecord(
  record: ArtifactRecord,
  storage: StorageVersion | undefined = record.storage && { ...record.storage },
): ArtifactRecord {
  const copy = recordWith(record, storage);
  copy.meta = hasEntries(record.meta) ? structuredClone(record.meta) : {};
  if (record.upload) copy.upload = { ...record.upload };
  return copy;
}

/** toMetadata of a record shared with others (a kept one): `meta` is copied too. */
export function copyMetadata(r: ArtifactMetadata): ArtifactMetadata {
  const copy = toMetadata(r);
  copy.meta = hasEntries(r.meta) ? structuredClone(r.meta) : {};
  return copy;
}

/** True when the object has an own enumerable key (cheaper than Object.keys for the empty case). */
export function hasEntries(value: object): boolean {
  for (const _ in value) return true;
  return false;
}

/**
 * A shallow copy of a record with `storage` set (undefined: none), written field by field. On
 * Node 20 an object spread or Object.assign of a record costs microseconds (a literal of the same
 * fields, tens of nanoseconds), and records are copied for every artifact read, listed or written.
 * Every field is present, in one order, even when undefined: records then share one shape, and the
 * code reading them stays monomorphic (a read of a record of a dozen shapes costs several times more).
 */
export function recordWith(r: ArtifactRecord, storage: StorageVersion | undefined): ArtifactRecord {
  return {
    artifactId: r.artifactId,
    sessionId: r.sessionId,
    sandboxId: r.sandboxId,
    key: r.key,
    mime: r.mime,
    summary: r.summary,
    meta: r.meta,
    filename: r.filename,
    bytes: r.bytes,
    sha256: r.sha256,
    storedAt: r.storedAt,
    updatedAt: r.updatedAt,
    ttl: r.ttl,
    expiresAt: r.expiresAt,
    storageProvider: r.storageProvider,
    sessionProvider: r.sessionProvider,
    userId: r.userId,
    scope: r.scope,
    version: r.version,
    etag: r.etag,
    status: r.status,
    sessionExpiresAt: r.sessionExpiresAt,
    upload: r.upload,
    storage,
    kept: r.kept,
  };
}

/** The public view: the record without its internal fields (field by field, as recordWith). */
export function toMetadata(r: ArtifactMetadata): ArtifactMetadata {
  return {
    artifactId: r.artifactId,
    sessionId: r.sessionId,
    sandboxId: r.sandboxId,
    key: r.key,
    mime: r.mime,
    summary: r.summary,
    meta: r.meta,
    filename: r.filename,
    bytes: r.bytes,
    sha256: r.sha256,
    storedAt: r.storedAt,
    updatedAt: r.updatedAt,
    ttl: r.ttl,
    expiresAt: r.expiresAt,
    storageProvider: r.storageProvider,
    sessionProvider: r.sessionProvider,
    userId: r.userId,
    scope: r.scope,
    version: r.version,
    etag: r.etag,
  };
}

// ---- input validation for caller-supplied metadata -------------------------------------------

export const LIMITS = {
  mimeLength: 255,
  summaryLength: 4096,
  filenameLength: 1024,
  metaBytes: 64 * 1024,
};

// type/subtype with RFC 6838 token characters, optional parameters.
const MIME =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[^"\r\n]*"|[A-Za-z0-9!#$&^_.+-]+))*$/;

export function validateMime(mime: unknown): string {
  if (typeof mime !== "string" || mime.length === 0)
    throw new ValidationError("mime must be a non-empty string");
  if (mime.length > LIMITS.mimeLength)
    throw new ValidationError(`mime is longer than ${LIMITS.mimeLength} characters`);
  if (!MIME.test(mime))
    throw new ValidationError(`mime ${JSON.stringify(mime.slice(0, 60))} is not a type/subtype`);
  return mime;
}

export function validateSummary(summary: unknown): string {
  if (typeof summary !== "string") throw new ValidationError("summary must be a string");
  if (summary.length > LIMITS.summaryLength) {
    throw new ValidationError(`summary is longer than ${LIMITS.summaryLength} characters`);
  }
  return summary;
}

/** Filenames are metadata only, never paths; control characters and absurd lengths are refused. */
export function validateFilename(filename: unknown): string | null {
  if (filename === undefined || filename === null) return null;
  if (typeof filename !== "string" || filename.length === 0) {
    throw new ValidationError("filename must be a non-empty string");
  }
  if (filename.length > LIMITS.filenameLength) {
    throw new ValidationError(`filename is longer than ${LIMITS.filenameLength} characters`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(filename))
    throw new ValidationError("filename contains control characters");
  return filename;
}

/** `meta` must be a plain JSON object of bounded size; returns a deep copy. */
export function validateMeta(meta: unknown): Record<string, unknown> {
  if (meta === undefined || meta === null) return {};
  if (typeof meta !== "object" || Array.isArray(meta))
    throw new ValidationError("meta must be a plain object");
  let json: string;
  try {
    json = JSON.stringify(meta, (_k, v) => {
      if (typeof v === "bigint" || typeof v === "function" || typeof v === "symbol") {
        throw new TypeError(`a ${typeof v} is not JSON`);
      }
      if (typeof v === "number" && !Number.isFinite(v))
        throw new TypeError("a non-finite number is not JSON");
      return v;
    });
  } catch (err) {
    throw new ValidationError(`meta is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (Buffer.byteLength(json) > LIMITS.metaBytes) {
    throw new ValidationError(`meta is larger than ${LIMITS.metaBytes} bytes of JSON`);
  }
  return JSON.parse(json) as Record<string, unknown>;
}

/** TTL in seconds; null means never expires. */
export function validateTtl(ttl: unknown, fallback: number | null): number | null {
  if (ttl === undefined) return fallback;
  if (ttl === null) return null;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0 || !Number.isInteger(ttl)) {
    throw new ValidationError("ttl must be a positive whole number of seconds, or null for never");
  }
  if (ttl > 100 * 365 * 86400) throw new ValidationError("ttl is longer than 100 years; use null for never");
  return ttl;
}

export function expiryFrom(nowMs: number, ttl: number | null): string | null {
  if (ttl === null) return null;
  // Writes in one millisecond with one ttl share the text (a memo apart from isoOf's "now").
  return expiryIso(nowMs + ttl * 1000);
}

export function isExpired(expiresAt: string | null, nowMs = Date.now()): boolean {
  if (expiresAt === null) return false;
  // Checked on every read. expiryFrom's form (toISOString: fixed width, UTC) orders as text, which
  // spares a Date.parse; any other form is parsed.
  return isIsoForm(expiresAt) ? expiresAt <= isoOf(nowMs) : Date.parse(expiresAt) <= nowMs;
}

/** YYYY-MM-DDTHH:mm:ss.sssZ, as toISOString writes a date of years 0–9999. */
function isIsoForm(text: string): boolean {
  return (
    text.length === 24 &&
    text.charCodeAt(23) === 90 /* Z */ &&
    text.charCodeAt(10) === 84 /* T */ &&
    text.charCodeAt(4) === 45 /* - */
  );
}

/** toISOString, remembered for the last instant asked: calls in one millisecond share the text. */
function lastIso(): (ms: number) => string {
  let at = Number.NaN;
  let text = "";
  return (ms) => {
    if (ms !== at) {
      at = ms;
      text = new Date(ms).toISOString();
    }
    return text;
  };
}

/** The ISO text of an instant around now (reads' expiry checks, new records' times). */
export const isoOf = lastIso();
const expiryIso = lastIso();

/** A fresh public etag: opaque, different for every write. */
export function newEtag(version: number): string {
  return `${version}-${randomHex(8)}`;
}
