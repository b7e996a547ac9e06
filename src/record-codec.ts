import { z } from "zod";
import { parseGridKey } from "./grid.js";
import { type ArtifactRecord, artifactRecordSchema, copyRecord, hasEntries, recordWith } from "./metadata.js";
import { ParsedMemo } from "./parsed-memo.js";
import type { ObjectHead, ParsedSlot } from "./storage/driver.js";

/** What decoding a head reads: its meta text and, from a driver that keeps them, its slot. */
type HeadText = Pick<ObjectHead, "meta" | "parsed">;

/**
 * How an artifact's record is kept in its head object (the object at its grid key). The head's
 * `meta` text is one of:
 *
 *   {"v":1,"r":{…record…}}            the record, and the head's bytes are the artifact's bytes
 *   {"v":1,"r":{…record…},"rev":"…"}  the record; the bytes are in revision object `{key}~{rev}`
 *   {"v":1,"rev":"…"}                 the record is too large for meta: it is the head's body (JSON)
 *
 * Fields the key already says (sandbox, session, artifact id, key) are not stored. The text is
 * pure ASCII (non-ASCII escaped as JSON \u escapes), so it can travel as S3 user metadata.
 */

const storedRecordSchema = artifactRecordSchema.omit({
  artifactId: true,
  sessionId: true,
  sandboxId: true,
  key: true,
});

const headMetaSchema = z.object({
  v: z.literal(1),
  r: z.unknown().optional(),
  rev: z
    .string()
    .regex(/^([0-9a-f]{16}|v\d{10})$/)
    .optional(),
});

/** `~` is in no valid id, so no artifact key can spell a revision's key. */
export function revKey(key: string, rev: string): string {
  return `${key}~${rev}`;
}

/** A revision that is a version object of the version log (src/versions.ts), not a bare body. */
export function isVersionRev(rev: string): boolean {
  return rev.startsWith("v");
}

export interface DecodedHead {
  /** Null when the record is the head's body (read it with decodeRecordBody). */
  record: ArtifactRecord | null;
  /** The revision holding the bytes; null when the head object holds them. */
  rev: string | null;
}

type Stored = Omit<ArtifactRecord, "artifactId" | "sessionId" | "sandboxId" | "key" | "storage">;

/** The fields the key does not say, field by field (a rest copy is slow on Node 20, see recordWith). */
function stored(r: ArtifactRecord): Omit<Stored, "scope"> {
  return {
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
    version: r.version,
    etag: r.etag,
    status: r.status,
    sessionExpiresAt: r.sessionExpiresAt,
    upload: r.upload,
    kept: r.kept,
  };
}

/** JSON with every non-ASCII character escaped, so the text is ASCII and still plain JSON. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function encodeHeadMeta(record: ArtifactRecord | null, rev: string | null): string {
  const head: Record<string, unknown> = { v: 1 };
  if (record) head.r = stored(record);
  if (rev) head.rev = rev;
  return asciiJson(head);
}

/** The record as a head object's body, for records too large to be meta. */
export function encodeRecordBody(record: ArtifactRecord): Buffer {
  return Buffer.from(asciiJson(stored(record)), "utf8");
}

function withKey(value: unknown, key: string): ArtifactRecord | null {
  const parsed = parseGridKey(key);
  if (!parsed) return null;
  const checked = storedRecordSchema.safeParse(value);
  if (!checked.success) return null;
  const stored = checked.data as Partial<Stored> & Stored;
  return {
    artifactId: parsed.artifactId,
    sessionId: parsed.sessionId,
    sandboxId: parsed.sandboxId,
    key,
    ...stored,
    // The key says the scope; records written before versions existed are version 1.
    scope: parsed.scope,
    version: stored.version ?? 1,
    etag: stored.etag ?? `1-${stored.sha256.slice(0, 16) || "pending"}`,
  };
}

/**
 * Heads decoded lately, by key with the meta text they were decoded from: an object is read far
 * more often than written, and parsing and checking its record costs more than the rest of a read
 * on the memory driver. Each answer is a copy, so no caller can change what another reads.
 */
const recent = new ParsedMemo<DecodedHead>(4096);

/**
 * Null for anything malformed (treated as absent, as a torn or foreign object would be). With the
 * object's ParsedSlot (a driver that keeps objects in process), the slot remembers the answer, and
 * the meta text is not even read (a memory head makes it on demand). With `once` (a listing), the
 * answer is decoded afresh and not remembered.
 */
export function decodeHeadMeta(head: HeadText, key: string, once = false): DecodedHead | null {
  if (head.parsed) {
    const kept = slotHead(head, head.parsed, key);
    return kept && copyHead(kept);
  }
  const meta = head.meta;
  // A listing decodes each head once: remembering it would only push out heads read again.
  if (once) {
    const fresh = parseHeadMeta(meta, key);
    // Fresh, so no copy: only laid out field by field as every record is (recordWith).
    return fresh && { record: fresh.record && recordWith(fresh.record, undefined), rev: fresh.rev };
  }
  const hit = recent.get(key, meta);
  if (hit) return copyHead(hit);
  const decoded = parseHeadMeta(meta, key);
  if (!decoded) return null;
  recent.set(key, meta, decoded);
  return copyHead(decoded);
}

/**
 * decodeHeadMeta without the copy, for a reader that only looks (a listing's view): the slot's
 * answer where the driver keeps one, else decoded afresh. Never to change or hand out.
 */
export function sharedHead(head: HeadText, key: string): DecodedHead | null {
  if (head.parsed) return slotHead(head, head.parsed, key);
  const meta = head.meta;
  // Revisions, documents and other bare objects carry no meta: not worth a failed JSON.parse.
  return meta === "" ? null : parseHeadMeta(meta, key);
}

/**
 * What the head's slot keeps (decoded now if it was not yet), shared with every reader: to read
 * in place, never to change or hand out (decodeHeadMeta gives copies).
 */
export function slotHead(head: HeadText, slot: ParsedSlot, key: string): DecodedHead | null {
  if (slot.value === undefined) slot.value = parseHeadMeta(head.meta, key);
  return slot.value as DecodedHead | null;
}

/**
 * A slot already holding what decodeHeadMeta would make of encodeHeadMeta(record, rev): written
 * with the object, so a driver that keeps slots never parses what this process wrote.
 */
export function parsedSlotOf(record: ArtifactRecord, rev: string | null): ParsedSlot {
  const kept = recordWith(record, undefined);
  // As the JSON round trip would leave it: a copy of plain data, never the caller's object.
  kept.meta = hasEntries(record.meta) ? JSON.parse(JSON.stringify(record.meta)) : {};
  if (record.upload) kept.upload = { ...record.upload };
  return { value: { record: kept, rev } satisfies DecodedHead, view: undefined };
}

/** The meta text of a head whose slot parsedSlotOf filled (the same text encodeHeadMeta made then). */
export function slotMeta(slot: ParsedSlot): string {
  const { record, rev } = slot.value as DecodedHead;
  return encodeHeadMeta(record, rev);
}

function copyHead({ record, rev }: DecodedHead): DecodedHead {
  return { record: record && copyRecord(record), rev };
}

function parseHeadMeta(meta: string, key: string): DecodedHead | null {
  let raw: unknown;
  try {
    raw = JSON.parse(meta);
  } catch {
    return null;
  }
  const head = headMetaSchema.safeParse(raw);
  if (!head.success) return null;
  const rev = head.data.rev ?? null;
  if (head.data.r === undefined) return rev ? { record: null, rev } : null;
  const record = withKey(head.data.r, key);
  return record ? { record, rev } : null;
}

export function decodeRecordBody(body: Uint8Array, key: string): ArtifactRecord | null {
  try {
    return withKey(JSON.parse(Buffer.from(body).toString("utf8")), key);
  } catch {
    return null;
  }
}
