import { buildKey, newArtifactId } from "../../src/grid.js";
import type { ArtifactRecord } from "../../src/metadata.js";
import type { SessionRecord } from "../../src/sessions/provider.js";

/**
 * Valid records for the contract suites. Every field is set to a distinct, non-default value so
 * a round trip that drops or rewrites any of them is caught.
 */

export interface RecordPlace {
  sandboxId: string;
  sessionId: string;
  artifactId?: string;
}

/** A "ready" artifact record at `grid/{sandboxId}/{sessionId}/{artifactId}` (a new id unless given). */
export function makeRecord(place: RecordPlace, overrides: Partial<ArtifactRecord> = {}): ArtifactRecord {
  const artifactId = place.artifactId ?? newArtifactId();
  const stored = Date.now();
  const record: ArtifactRecord = {
    artifactId,
    sessionId: place.sessionId,
    sandboxId: place.sandboxId,
    key: buildKey(place.sandboxId, place.sessionId, artifactId),
    mime: "text/plain; charset=utf-8",
    summary: "a contract-test artifact — naïve ✓",
    meta: { kind: "test", nested: { n: 1, list: [1, "two", null, true] }, unicode: "żółć ✓" },
    filename: "reports/q1 summary (final) ✓.txt",
    bytes: 0,
    sha256: "",
    storedAt: new Date(stored).toISOString(),
    updatedAt: new Date(stored + 1).toISOString(),
    ttl: 900,
    expiresAt: new Date(stored + 900_000).toISOString(),
    storageProvider: "contract-storage",
    sessionProvider: "contract-sessions",
    userId: "alice@example.com",
    status: "ready",
    sessionExpiresAt: new Date(stored + 86_400_000).toISOString(),
    scope: "session",
    version: 1,
    etag: "1-contract",
  };
  return { ...record, ...overrides };
}

/** A presigned-upload slot: status "pending", with the limits it was signed with, no body yet. */
export function makePendingRecord(place: RecordPlace, maxBytes: number | null = null): ArtifactRecord {
  return makeRecord(place, {
    status: "pending",
    upload: {
      maxBytes,
      mime: "application/octet-stream",
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    },
  });
}

/** A session record; `expiresAt` may be put in the past to model an expired session. */
export function makeSession(
  sandboxId: string,
  sessionId: string,
  overrides: Partial<SessionRecord> = {},
): SessionRecord {
  const now = Date.now();
  return {
    sessionId,
    sandboxId,
    userId: "alice@example.com",
    createdAt: new Date(now).toISOString(),
    lastAccessedAt: new Date(now + 1).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    meta: { purpose: "contract ✓", nested: { depth: [1, 2, 3] } },
    ...overrides,
  };
}

/**
 * A record without what the record layer stamps on every write (the storage version, the public
 * etag, whether the version log holds it), for comparing contents. The versions suite checks those.
 */
export function plain(
  record: ArtifactRecord | null | undefined,
): Omit<ArtifactRecord, "etag"> | null | undefined {
  if (!record) return record;
  const { storage: _version, etag: _etag, kept: _kept, ...rest } = record;
  // Records carry every optional field, undefined when unset (one shape for all): same as absent.
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as typeof rest;
}
