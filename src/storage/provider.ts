import type { ArtifactRecord, StorageVersion } from "../metadata.js";

/** What a storage provider can do, so the store and servers pick the right path. */
export interface StorageCapabilities {
  /** Survives a process restart. */
  persistent: boolean;
  /** Several processes (or hosts) see the same artifacts. */
  shared: boolean;
  /** Issues URLs the backend itself verifies (SigV4); otherwise the store signs URLs to its own HTTP handler. */
  nativePresign: boolean;
  /** Native multipart upload with per-part URLs. */
  nativeMultipart: boolean;
}

/** A body opened for reading. `sha256` is the checksum recorded with these exact bytes. */
export interface OpenedBody {
  stream: AsyncIterable<Uint8Array>;
  /** Bytes in `stream` (the range length for ranged reads). */
  length: number;
  /** Size of the whole artifact. */
  totalBytes: number;
  sha256: string;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface ListPage {
  records: ArtifactRecord[];
  /** Opaque; pass back to get the next page. null when there is no more. */
  cursor: string | null;
}

export interface PutOptions {
  /** Refuse (BodyTooLargeError, a ValidationError) past this many bytes; nothing is committed. */
  maxBytes?: number | null;
  /**
   * The key has never been written (a newly generated artifact id), so there is no previous version
   * to look up or clean up; providers may skip that read.
   */
  fresh?: boolean;
  /**
   * Replace exactly the version the record was read at: losing to a concurrent write is a
   * ConflictError instead of a retry on the newer version (last writer wins otherwise).
   */
  exact?: boolean;
  /** The record the caller read and is replacing: the version a version log keeps (src/versions.ts). */
  previous?: ArtifactRecord;
}

export interface PresignGetOptions {
  expires: number;
  filename?: string | null;
  mime?: string;
  /** The sha256 of the version the caller's record names; a provider may use it to skip re-reading the record. */
  sha256?: string;
  /** The revision the caller's record names (null: the head holds the bytes; undefined: not known). */
  rev?: string | null;
}

export interface PresignPutOptions {
  expires: number;
  mime?: string | null;
  /** Fail closed: the signed request must not accept more than this. */
  maxBytes?: number | null;
}

export interface StoredSession {
  userId: string | null;
  createdAt: string;
  expiresAt: string;
}

export interface MultipartUpload {
  uploadId: string;
}

/** A record as storage keeps it (shared: never changed by a reader), and where its bytes are. */
export interface RecordView {
  record: ArtifactRecord;
  storage: StorageVersion;
}

/**
 * One storage backend. Keys are grid keys already validated by the caller. Implementations keep
 * each artifact's record with its bytes, so the storage alone is the source of truth.
 *
 * Every method throws ProviderError (with `cause`) when the backend fails, and ValidationError only
 * for a body past `maxBytes`; "not there" is a null/false result, never an error.
 */
export interface StorageProvider {
  readonly name: string;
  readonly capabilities: StorageCapabilities;

  /**
   * Streams `body` into storage and commits it atomically together with `record`, whose `bytes`
   * and `sha256` the provider fills in from what it actually wrote. A reader sees the previous
   * artifact or this one, never a mix. Also makes `locate(record.sandboxId, record.artifactId)` work.
   */
  put(record: ArtifactRecord, body: AsyncIterable<Uint8Array>, options?: PutOptions): Promise<ArtifactRecord>;

  /**
   * Replaces the record of an existing body (metadata-only update), or writes a bodiless pending
   * record; returns it with the storage version written.
   */
  putRecord(record: ArtifactRecord, options?: { fresh?: boolean }): Promise<ArtifactRecord>;

  getRecord(key: string): Promise<ArtifactRecord | null>;

  /**
   * Commits a presigned upload whose bytes a client wrote: measures the body actually stored (size
   * and sha256), deletes it and throws BodyTooLargeError past `maxBytes`, and otherwise commits
   * `record` (status "ready") with the measured values. Null when no body was uploaded.
   */
  adoptUpload(record: ArtifactRecord, options: { maxBytes: number | null }): Promise<ArtifactRecord | null>;

  /**
   * Opens the bytes; null when there is no body at `key`. `expected` is the sha256 the caller's
   * record names: a hint a provider may use to skip re-reading the record, never a filter.
   */
  openBody(
    key: string,
    range?: ByteRange,
    expected?: { sha256: string; rev?: string | null },
  ): Promise<OpenedBody | null>;

  /**
   * The record at `key` with its full body opened, in one read where the layout allows; null when
   * there is no artifact. The body matches the record's sha256 (the caller still checks it).
   */
  openArtifact(key: string): Promise<{ record: ArtifactRecord; body: OpenedBody } | null>;

  /** Copies bytes server-side to `record.key`, committing `record` with them. */
  copy(sourceKey: string, record: ArtifactRecord): Promise<ArtifactRecord>;

  /** Removes bytes, record and index entry. False when nothing was there. */
  delete(key: string, options?: { ifMatch?: string }): Promise<boolean>;

  /** Records under a prefix (`grid/{sandbox}/{session}/` or `grid/{sandbox}/`), in key order, paginated. */
  list(prefix: string, options: { limit: number; cursor?: string | null }): Promise<ListPage>;

  /** The key of an artifact from its id alone (the id → key index); null if unknown. */
  locate(sandboxId: string, artifactId: string): Promise<string | null>;

  /**
   * getRecord() answered in the same turn where storage is in process (memory), else undefined:
   * the caller then awaits the async form. Spares an in-memory read a promise per step. The view's
   * record is the one storage keeps: read it in place, copy what is handed out. viewNow takes keys
   * the record layer built or located (grid keys), and does not check them again.
   */
  viewNow?(key: string): RecordView | null | undefined;
  /** locate() then viewNow() in one step, in the same turn (see viewNow); null if the id is unknown. */
  viewOfIdNow?(sandboxId: string, artifactId: string): RecordView | null | undefined;
  /** The bytes of a view just read with viewNow, in the same turn; undefined where not at hand. */
  chunksNow?(view: RecordView): readonly Uint8Array[] | undefined;

  /** Native signed URLs (only when `capabilities.nativePresign`). */
  presignGet?(key: string, options: PresignGetOptions): Promise<string>;
  presignPut?(key: string, options: PresignPutOptions): Promise<string>;

  /** Native multipart (only when `capabilities.nativeMultipart`). */
  createMultipart?(key: string, options: { mime?: string | null }): Promise<MultipartUpload>;
  presignPart?(key: string, uploadId: string, partNumber: number, expires: number): Promise<string>;
  completeMultipart?(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<void>;
  abortMultipart?(key: string, uploadId: string): Promise<void>;

  /**
   * A session's owner and expiry, kept with the artifacts so ownership outlives the session
   * provider (a Redis flush) even for a session that has no artifact yet.
   */
  putSession(sandboxId: string, sessionId: string, facts: StoredSession): Promise<void>;
  getSession(sandboxId: string, sessionId: string): Promise<StoredSession | null>;
  deleteSession(sandboxId: string, sessionId: string): Promise<void>;

  /** A cheap round trip that proves the backend answers and is writable. */
  health(): Promise<{ ok: boolean; detail: string }>;

  /** Provider-specific facts for getStats (bucket, root, …); never secrets. */
  describe(): Record<string, unknown>;

  close(): Promise<void>;
}
