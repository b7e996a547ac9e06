import type { ArtifactRecord } from "../metadata.js";
import type { SearchIndex } from "./search-index.js";
import type { UsageCounters } from "./usage.js";

/** A session: the security boundary every artifact belongs to. */
export interface SessionRecord {
  sessionId: string;
  sandboxId: string;
  /** The owner; null for sessions created without a user (bearer semantics). */
  userId: string | null;
  createdAt: string;
  lastAccessedAt: string;
  expiresAt: string;
  meta: Record<string, unknown>;
}

/**
 * The id → key index for storage drivers that cannot find an artifact by id themselves (S3). Kept
 * by the session provider; the bucket can always rebuild it (src/id-locator.ts).
 */
export interface IdIndex {
  /** The key; null when the index is complete and has no such id; undefined when it is not complete. */
  indexGet(sandboxId: string, artifactId: string): Promise<string | null | undefined>;
  indexSet(sandboxId: string, entries: [artifactId: string, key: string][]): Promise<void>;
  indexDelete(sandboxId: string, artifactId: string): Promise<void>;
  /** Starts a rebuild; the token must still be current when it finishes. */
  indexBeginRebuild(sandboxId: string): Promise<string>;
  /** Marks the index complete, unless it was invalidated or flushed since the rebuild began. */
  indexFinishRebuild(sandboxId: string, token: string): Promise<boolean>;
  /** Drops the complete-marker, so the next lookup that misses rebuilds the index. */
  indexInvalidate(sandboxId: string): Promise<void>;
  /**
   * Tombstones, for storage whose conditional writes are not atomic against a concurrent delete
   * (Ceph RGW): a delete marks the id first; an update that finds the mark after its write undoes
   * it. A mark lives `ttlMs`, longer than any write can be in flight.
   */
  markDeleted(sandboxId: string, artifactId: string, ttlMs: number): Promise<void>;
  /**
   * A conditional delete (`ifMatch`) on such storage marks the id *pending* (with its own token)
   * before it checks the etag; false when another mark is there. A write that lands meanwhile
   * cancels the pending mark, and the delete then fails: exactly one of them stands.
   */
  markDeletePending(sandboxId: string, artifactId: string, token: string, ttlMs: number): Promise<boolean>;
  /**
   * Settles the pending mark `token` in one step: into a deletion mark (`deleted`), or away. False
   * when it is no longer that pending mark (a write cancelled it, or it ran out).
   */
  settleDeleteMark(
    sandboxId: string,
    artifactId: string,
    token: string,
    deleted: boolean,
    ttlMs: number,
  ): Promise<boolean>;
  /** The id's mark: null, "deleted", or the token of a pending conditional delete. */
  deleteMark(sandboxId: string, artifactId: string): Promise<string | null>;
}

/** What deleteMark answers for a deletion; a pending mark's token (hex) never reads like it. */
export const DELETED = "deleted";

/**
 * Holds sessions, and may cache artifact records to save storage round trips. It is never the
 * only copy of an artifact record: losing everything here loses no artifact.
 *
 * Throws ProviderError (with `cause`) when the backend fails; "not there" is null/false.
 */
export interface SessionProvider extends IdIndex {
  readonly name: string;
  /** Seen by every process that uses the same backend (so its cache is coherent across them). */
  readonly shared: boolean;

  get(sandboxId: string, sessionId: string): Promise<SessionRecord | null>;

  /** Creates the session only if absent (atomic); false when it already existed. */
  create(record: SessionRecord): Promise<boolean>;

  /** Overwrites an existing session (extend, touch). */
  update(record: SessionRecord): Promise<void>;

  delete(sandboxId: string, sessionId: string): Promise<boolean>;

  /** Every session of a sandbox, expired ones included until removed, paginated. */
  list(
    sandboxId: string,
    options: { limit: number; cursor?: string | null },
  ): Promise<{ sessions: SessionRecord[]; cursor: string | null }>;

  /** Record cache, keyed by artifact id within a sandbox. `ttlSeconds` bounds how long it may live. */
  cacheGet(sandboxId: string, artifactId: string): Promise<ArtifactRecord | null>;
  cacheGetMany(sandboxId: string, artifactIds: string[]): Promise<(ArtifactRecord | null)[]>;
  cacheSet(record: ArtifactRecord, ttlSeconds: number): Promise<void>;
  cacheSetMany(records: ArtifactRecord[], ttlSeconds: number): Promise<void>;
  cacheDelete(sandboxId: string, artifactId: string): Promise<void>;

  /**
   * Usage counters for quotas (src/sessions/usage.ts). Optional: a provider without them gets
   * counters in the store's own process, so its quotas hold within one process only.
   */
  readonly usage?: UsageCounters;
  /** The search index (src/sessions/search-index.ts). Optional: without it a search scans storage. */
  readonly search?: SearchIndex;
  /**
   * Sends `message` to every process subscribed to `channel` (Redis pub/sub), on the provider's
   * own connection: an artifact change's announcement then shares a socket write with the
   * commands issued around it. Optional: the Redis change events use it (src/sessions/redis-events.ts).
   */
  publish?(channel: string, message: string): Promise<void>;

  health(): Promise<{ ok: boolean; detail: string }>;
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}
