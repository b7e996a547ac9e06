import { randomBytes } from "node:crypto";
import { type ArtifactRecord, parseRecord } from "../metadata.js";

/**
 * What the record object holds: the ArtifactRecord and the name of the immutable body revision it
 * describes (null for a pending upload slot). One PUT of this object commits a write, so the
 * record's sha256 and bytes always describe exactly the bytes of `body`.
 */
export interface Envelope {
  record: ArtifactRecord;
  body: string | null;
}

const REVISION = /^[0-9a-f]{16}$/;

/** A fresh body revision name; every write of bytes gets its own. */
export function newRevision(): string {
  return randomBytes(8).toString("hex");
}

export function serializeEnvelope(envelope: Envelope): string {
  return JSON.stringify(envelope);
}

/** Parses a stored envelope for `key`; anything malformed or for another key reads as absent. */
export function parseEnvelope(text: string, key: string): Envelope | null {
  let raw: { record?: unknown; body?: unknown };
  try {
    raw = JSON.parse(text) as typeof raw;
  } catch {
    return null;
  }
  const record = parseRecord(JSON.stringify(raw.record ?? null));
  if (!record || record.key !== key) return null;
  const body = typeof raw.body === "string" && REVISION.test(raw.body) ? raw.body : null;
  return { record, body };
}
