import type { ByteRange } from "./provider.js";

/**
 * A storage driver moves bytes and small objects under keys, and nothing else. What an artifact is
 * — a record kept with its bytes, revisions for large bodies, the id index, conditional commits —
 * is written once above the drivers, in src/records.ts. A new backend is one driver file plus the
 * unchanged contract suites (test/storage-contract.test.ts, test/head-meta.test.ts).
 *
 * Keys are `/`-separated strings the record layer builds from validated segments; a driver still
 * refuses anything that could leave its namespace. "Not there" is null/false, never an error;
 * a backend failure is a ProviderError with `cause`.
 */

export interface DriverCapabilities {
  /** Survives a process restart. */
  persistent: boolean;
  /** Several processes (or hosts) see the same objects. */
  shared: boolean;
  /** Largest `meta` text, in bytes, an object carries with its bytes (S3 user metadata: 2 KB). */
  inlineMetaBytes: number;
  /**
   * Largest body the record layer holds in memory to write it as one object with its record;
   * larger bodies stream to an immutable revision object named by a small head object.
   */
  inlineBodyBytes: number;
  /**
   * copy() honours `sourceEtag` even when copying an object onto itself. Ceph RGW does not (it
   * ignores x-amz-copy-source-if-match there), so the record layer checks the ETag a copy reports
   * instead and never rewrites a record in place on such a backend.
   */
  conditionalCopy: boolean;
  /**
   * A conditional write and a concurrent delete of the same key are atomic: the write either
   * lands before the delete or fails. Ceph RGW checks If-Match and then writes, so a delete can
   * fall in between; the record layer then uses deletion marks (see records.ts).
   */
  atomicConditionalWrites: boolean;
  /** Issues URLs the backend itself verifies (SigV4); otherwise the store signs URLs to its own handler. */
  nativePresign: boolean;
  /** Native multipart upload with per-part URLs. */
  nativeMultipart: boolean;
  /** Keeps a ParsedSlot per stored object (see ObjectHead.parsed): worth filling one on a write. */
  parsedSlots?: boolean;
}

/** An object's identity and the small text stored with it. */
export interface ObjectHead {
  /** Changes with every write of the object (bytes or meta); opaque. */
  etag: string;
  size: number;
  meta: string;
  /**
   * A driver that keeps objects in this process hands out one slot per stored version of an
   * object, where the layer above keeps what it decoded from `meta` (so it decodes once per write,
   * not once per read). Absent on drivers whose objects live elsewhere.
   */
  parsed?: ParsedSlot | undefined;
  /**
   * When the object was written (ms since the epoch, by the backend's clock), where the backend
   * says; cleanup uses it to leave fresh revisions of writes still in flight alone.
   */
  modifiedAt?: number;
}

/** What the record layer decoded from an object's meta; see ObjectHead.parsed. */
export interface ParsedSlot {
  value?: unknown;
  /** What the record layer hands out for this stored version, made on its first read. */
  view?: unknown;
}

export interface ObjectBody extends ObjectHead {
  stream: AsyncIterable<Uint8Array>;
  /** Bytes in `stream` (the range length for ranged reads). */
  length: number;
}

/** A write that only happens if the key is in the expected state; a ConflictError otherwise. */
export interface WriteCondition {
  /** Only if nothing is at the key. */
  ifNoneMatch?: boolean;
  /** Only if the object at the key has this etag (so never over a deleted one). */
  ifMatch?: string;
}

/**
 * An object's meta text, or — handed only to a driver with `parsedSlots`, together with a filled
 * slot — a function that makes it. Such a driver keeps the function and calls it only when the text
 * itself is asked for: the slot answers every read in this process, so most texts are never made.
 */
export type MetaSource = string | (() => string);

/** The text of a MetaSource (for drivers that store the text as it is written). */
export function metaText(meta: MetaSource): string {
  return typeof meta === "string" ? meta : meta();
}

export interface PutObjectOptions extends WriteCondition {
  meta: MetaSource;
  contentType?: string;
  /** The slot for the stored object, already holding `meta` decoded (drivers that keep slots). */
  parsed?: ParsedSlot;
}

export interface PutResult {
  etag: string;
  bytes: number;
}

export interface DriverPresignGet {
  expires: number;
  filename?: string | null;
  mime?: string;
}

export interface StorageDriver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;

  /** How many of `inlineMetaBytes` this meta text takes once encoded for the backend. */
  metaBytes(meta: string): number;

  /**
   * Streams `body` to `key` with `meta` and replaces what was there atomically: a reader sees the
   * old object or the new one, whole. Durable once it resolves. If `body` throws, nothing is
   * written and the error is rethrown. (Hashing and size limits are the record layer's.)
   */
  put(key: string, body: AsyncIterable<Uint8Array>, options: PutObjectOptions): Promise<PutResult>;

  head(key: string): Promise<ObjectHead | null>;

  /**
   * head() of each key, in order, for listings: by drivers that read many heads at once for less
   * than one head() each (the filesystem). Without it the record layer calls head() concurrently.
   */
  headMany?(keys: string[]): Promise<(ObjectHead | null)[]>;

  /**
   * head() answered in the same turn, by drivers that hold their objects in process (memory). The
   * record layer then reads without a promise per step, which is most of an in-memory read's cost.
   */
  headNow?(key: string): ObjectHead | null;
  /** The whole bytes of the object whose head headNow() returns, in the same turn (see headNow). */
  chunksNow?(key: string): readonly Uint8Array[] | null;

  /** The bytes (optionally a range) together with the meta and etag of that same object. */
  get(key: string, range?: ByteRange): Promise<ObjectBody | null>;

  /**
   * Server-side copy of the bytes at `from` to `to` with new meta (`from === to` rewrites an
   * object's meta). `sourceEtag` makes it conditional on the source where `conditionalCopy`; the
   * write condition applies to the target. Returns the new object's etag (for a copy of a single-PUT
   * S3 object, the same ETag as its source); null when `from` does not exist.
   */
  copy(
    from: string,
    to: string,
    options: WriteCondition & {
      meta: MetaSource;
      contentType?: string;
      sourceEtag?: string;
      parsed?: ParsedSlot;
    },
  ): Promise<{ etag: string } | null>;

  /**
   * False when nothing was there. With `ifMatch`, only while the object has that etag (a
   * ConflictError otherwise, also when it is gone), atomically where `atomicConditionalWrites`; a
   * backend that cannot (Ceph RGW ignores If-Match on DELETE) leaves it to the record layer.
   */
  delete(key: string, condition?: { ifMatch?: string }): Promise<boolean>;

  /** Keys starting with `prefix`, in byte order, after `after`, at most `limit` of them. */
  list(
    prefix: string,
    options: { limit: number; after?: string | null },
  ): Promise<{ keys: string[]; more: boolean }>;
  /** list() answered in the same turn (see headNow). */
  listNow?(
    prefix: string,
    options: { limit: number; after?: string | null },
  ): { keys: string[]; more: boolean };

  /**
   * The key of an artifact from its id, when the driver keeps a cheap index of its own (memory,
   * filesystem); drivers without one leave it out and the record layer keeps the index.
   */
  locate?(sandboxId: string, artifactId: string): Promise<string | null>;
  /** locate() answered in the same turn (see headNow). */
  locateNow?(sandboxId: string, artifactId: string): string | null;
  /** headNow() of the key locateNow() finds, in one lookup where the driver can. */
  headOfIdNow?(sandboxId: string, artifactId: string): ObjectHead | null;
  /** Records `key` for `locate`; called while the artifact is written. */
  remember?(sandboxId: string, artifactId: string, key: string): Promise<void>;
  forget?(sandboxId: string, artifactId: string): Promise<void>;

  presignGet?(key: string, options: DriverPresignGet): Promise<string>;
  presignPut?(key: string, options: { expires: number; mime?: string | null }): Promise<string>;
  createMultipart?(key: string, options: { mime?: string | null }): Promise<{ uploadId: string }>;
  presignPart?(key: string, uploadId: string, partNumber: number, expires: number): Promise<string>;
  completeMultipart?(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<void>;
  abortMultipart?(key: string, uploadId: string): Promise<void>;

  /** A cheap round trip that proves the backend answers and is writable. */
  health(): Promise<{ ok: boolean; detail: string }>;
  /** Backend facts for getStats (bucket, root, …); never secrets. */
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}

/** Releases a body that will not be read (an S3 response holds its socket until consumed or destroyed). */
export function releaseBody(got: ObjectBody): void {
  const stream = got.stream as { destroy?: () => void };
  if (typeof stream.destroy === "function") stream.destroy();
}
