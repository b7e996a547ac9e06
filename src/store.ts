import { createHash } from "node:crypto";
import { type ArtifactData, collect, sha256Hex, toChunks } from "./body.js";
import { KeyedMutex, mapLimit } from "./concurrency.js";
import { type ArtifactStoreOptions, type ResolvedConfig, resolveConfig } from "./config.js";
import {
  AccessDeniedError,
  ArtifactCorruptedError,
  ArtifactExpiredError,
  ArtifactNotFoundError,
  ArtifactStoreError,
  asProviderError,
  ConflictError,
  SessionError,
  SessionUnavailableError,
  ValidationError,
} from "./errors.js";
import {
  buildKey,
  implicitOwner,
  newArtifactId,
  newSessionId,
  type ParsedGridKey,
  parseGridKey,
  sessionPrefix,
  userSessionId,
  validateSegment,
} from "./grid.js";
import {
  type ArtifactMetadata,
  type ArtifactRecord,
  expiryFrom,
  isExpired,
  toMetadata,
  validateFilename,
  validateMeta,
  validateMime,
  validateSummary,
  validateTtl,
} from "./metadata.js";
import { type MultipartPart, MultipartUploads, type PartReceipt } from "./multipart.js";
import { createSessionProvider, createStorageProvider } from "./providers.js";
import { unlessSessionsUnavailable } from "./sessions/breaker.js";
import type { SessionProvider, SessionRecord } from "./sessions/provider.js";
import { type SignedGrant, UrlSigner } from "./signing.js";
import type { ByteRange, OpenedBody, StorageProvider } from "./storage/provider.js";

/** Who is asking. With `userId`, the session must belong to that user. */
export interface AccessContext {
  sessionId?: string;
  userId?: string;
}

export interface StoreOptions extends AccessContext {
  mime?: string;
  summary?: string;
  filename?: string | null;
  meta?: Record<string, unknown>;
  /** Seconds until the artifact expires; null for never. Default: the store's defaultTtl (900). */
  ttl?: number | null;
}

export interface BatchItem {
  data: ArtifactData;
  mime?: string;
  summary?: string;
  filename?: string | null;
  meta?: Record<string, unknown>;
  ttl?: number | null;
}

export interface UpdateFileOptions extends AccessContext {
  data?: ArtifactData;
  summary?: string;
  meta?: Record<string, unknown>;
  filename?: string | null;
  mime?: string;
  ttl?: number | null;
}

export interface UpdateMetadataOptions extends AccessContext {
  summary?: string;
  meta?: Record<string, unknown>;
  filename?: string | null;
  mime?: string;
  ttl?: number | null;
  /** Merge `meta` into the existing meta (default) or replace it. */
  merge?: boolean;
}

export interface PresignUploadOptions extends AccessContext {
  filename?: string | null;
  mimeType?: string | null;
  /** Seconds the URL stays valid. Default 3600. */
  expires?: number;
  /** Refuse uploads larger than this many bytes. */
  maxBytes?: number | null;
}

export interface PresignedUpload {
  url: string;
  artifactId: string;
  key: string;
  expiresAt: string;
  /** Headers the client must send with its PUT. */
  headers: Record<string, string>;
}

export interface MultipartUploadInfo {
  artifactId: string;
  uploadId: string;
  key: string;
  /** When the upload must be completed by; afterwards cleanup removes it. */
  expiresAt: string;
  /** Every part except the last must have at least this many bytes (S3's 5 MiB; 1 elsewhere). */
  minPartBytes: number;
}

/**
 * Chooses the byte range to open once the artifact's metadata is known (a server's Range header
 * needs the size). Return undefined for the whole body; throw to refuse the request.
 */
export type RangeChooser = (metadata: ArtifactMetadata) => ByteRange | undefined;

export interface RegisterUploadOptions extends AccessContext {
  mime?: string;
  summary?: string;
  filename?: string | null;
  meta?: Record<string, unknown>;
  ttl?: number | null;
}

/** A page of artifacts; iterate it like an array. `cursor` fetches the next page (null: no more). */
export type ArtifactPage = ArtifactMetadata[] & { cursor: string | null };

export const PRESIGN_SHORT = 900;
export const PRESIGN_MEDIUM = 3600;
export const PRESIGN_LONG = 86400;
const MAX_PRESIGN_SECONDS = 7 * 86400;
const LIST_PAGE_MAX = 1000;
const CACHE_SECONDS_MAX = 3600;

const UPDATABLE_FIELDS = new Set([
  "summary",
  "meta",
  "filename",
  "mime",
  "ttl",
  "merge",
  "sessionId",
  "userId",
]);

interface Backends {
  storage: StorageProvider;
  sessions: SessionProvider;
}

/**
 * Session-scoped artifact storage. Holds the session rules and orchestrates the providers; every
 * backend detail lives behind StorageProvider and SessionProvider.
 */
export class ArtifactStore implements AsyncDisposable {
  readonly config: ResolvedConfig;
  readonly sandboxId: string;
  /** Signs URLs for providers without native presigning; the HTTP handler verifies with it. */
  readonly signer: UrlSigner;
  private backendsPromise: Promise<Backends> | null = null;
  private closed = false;
  private readonly multipart: MultipartUploads;
  /** Serialises this process's read-modify-write updates of one artifact. */
  private readonly updates = new KeyedMutex();

  constructor(options: ArtifactStoreOptions = {}) {
    this.config = resolveConfig(options);
    this.sandboxId = this.config.sandboxId;
    this.signer = new UrlSigner(this.config.signingSecret, this.config.publicUrl);
    this.multipart = new MultipartUploads(
      this.config,
      this.signer,
      async () => (await this.backends()).storage,
    );
  }

  get storageProviderName(): string {
    const p = this.config.storageProvider;
    return typeof p === "string" ? p : p.name;
  }

  get sessionProviderName(): string {
    const p = this.config.sessionProvider;
    return typeof p === "string" ? p : p.name;
  }

  /** The providers, created on first use so heavy SDKs load only when chosen. */
  async backends(): Promise<Backends> {
    if (this.closed) throw new ArtifactStoreError("the store is closed");
    this.backendsPromise ??= (async () => {
      const [storage, sessions] = await Promise.all([
        createStorageProvider(this.config),
        createSessionProvider(this.config),
      ]);
      return { storage, sessions };
    })();
    this.backendsPromise.catch(() => {
      this.backendsPromise = null;
    });
    return this.backendsPromise;
  }

  // ---- sessions -------------------------------------------------------------------------------

  /** Creates a session (an unguessable id unless one is given). Fails with ConflictError if it exists. */
  async createSession(
    options: { sessionId?: string; userId?: string; ttlHours?: number; meta?: Record<string, unknown> } = {},
  ): Promise<SessionRecord> {
    return this.guard("create session", async () => {
      const sessionId =
        options.sessionId === undefined ? newSessionId() : validateSegment(options.sessionId, "sessionId");
      const userId =
        options.userId === undefined ? implicitOwner(sessionId) : validateSegment(options.userId, "userId");
      const record = this.newSession(sessionId, userId, options.ttlHours, validateMeta(options.meta));
      const { sessions } = await this.backends();
      if (!(await sessions.create(record))) throw new ConflictError(`session ${sessionId} already exists`);
      return record;
    });
  }

  async getSessionInfo(
    sessionId: string,
    context: Pick<AccessContext, "userId"> = {},
  ): Promise<SessionRecord | null> {
    return this.guard("get session", async () => {
      validateSegment(sessionId, "sessionId");
      const session = await this.findSession(sessionId);
      if (session) this.checkOwner(session, context.userId);
      return session;
    });
  }

  /** Pushes a session's expiry `hours` (default: the session TTL) from now. */
  async extendSession(
    sessionId: string,
    options: { hours?: number; userId?: string } = {},
  ): Promise<SessionRecord> {
    return this.guard("extend session", async () => {
      validateSegment(sessionId, "sessionId");
      const session = await this.findSession(sessionId);
      if (!session) throw new SessionError(`session ${sessionId} does not exist`);
      this.checkOwner(session, options.userId);
      const hours = options.hours ?? this.config.sessionTtlHours;
      if (!(hours > 0)) throw new ValidationError("hours must be positive");
      const extended = { ...session, expiresAt: new Date(Date.now() + hours * 3600_000).toISOString() };
      const { sessions } = await this.backends();
      await sessions.update(extended);
      return extended;
    });
  }

  /** Deletes a session and all its artifacts; returns how many artifacts were removed. */
  async deleteSession(sessionId: string, context: Pick<AccessContext, "userId"> = {}): Promise<number> {
    return this.guard("delete session", async () => {
      validateSegment(sessionId, "sessionId");
      const session = await this.findSession(sessionId);
      if (session) this.checkOwner(session, context.userId);
      const removed = await this.deleteUnderPrefix(sessionPrefix(this.sandboxId, sessionId), () => true);
      const { sessions } = await this.backends();
      await sessions.delete(this.sandboxId, sessionId);
      return removed;
    });
  }

  // ---- writing --------------------------------------------------------------------------------

  /** Stores `data` and returns the new artifact's id. */
  async store(data: ArtifactData, options: StoreOptions = {}): Promise<string> {
    return this.guard("store", async () => {
      const fields = this.validateNewFields(options, "application/octet-stream");
      const body = toChunks(data);
      const session = await this.resolveSession(options);
      const record = this.newRecord(session, fields);
      await this.commit(record, body);
      return record.artifactId;
    });
  }

  /** Stores text (UTF-8) as a file; mime defaults to text/plain. */
  async writeFile(content: string | ArtifactData, options: StoreOptions = {}): Promise<string> {
    return this.store(content, { ...options, mime: options.mime ?? "text/plain" });
  }

  /**
   * Stores many artifacts in one session with bounded concurrency. Each item succeeds or fails on
   * its own: the result has the id, or null where that item failed (its error is not thrown).
   */
  async storeBatch(
    items: BatchItem[],
    options: AccessContext & { ttl?: number | null; concurrency?: number } = {},
  ): Promise<(string | null)[]> {
    if (!Array.isArray(items)) throw new ValidationError("items must be an array");
    const session = await this.guard("store batch", () => this.resolveSession(options));
    return mapLimit(items, options.concurrency ?? 16, async (item) => {
      try {
        const fields = this.validateNewFields(
          { ...item, ttl: item.ttl === undefined ? options.ttl : item.ttl },
          "application/octet-stream",
        );
        const record = this.newRecord(session, fields);
        await this.commit(record, toChunks(item.data));
        return record.artifactId;
      } catch {
        return null;
      }
    });
  }

  /** Replaces content and/or metadata. Content changes recompute size and sha256. */
  async updateFile(artifactId: string, options: UpdateFileOptions): Promise<ArtifactMetadata> {
    return this.guard("update file", async () => {
      const { data, ...rest } = options;
      if (data === undefined) {
        return toMetadata(
          await this.rewriteRecord(artifactId, options, (current) =>
            this.applyUpdate(current, { ...rest, merge: false }, false),
          ),
        );
      }
      return this.updates.run(artifactId, async () => {
        const current = await this.readRecord(artifactId, options);
        const next = this.applyUpdate(current, { ...rest, merge: false }, true);
        return toMetadata(await this.commit(next, toChunks(data), { replacing: true }));
      });
    });
  }

  /** Changes summary, meta, filename, mime or ttl. System fields (key, sessionId, sha256, …) are refused. */
  async updateMetadata(artifactId: string, options: UpdateMetadataOptions): Promise<ArtifactMetadata> {
    return this.guard("update metadata", async () => {
      return toMetadata(
        await this.rewriteRecord(artifactId, options, (current) => this.applyUpdate(current, options, false)),
      );
    });
  }

  /** Copies within the same session; a target in another session is an AccessDeniedError. */
  async copyFile(
    artifactId: string,
    options: AccessContext & {
      newFilename?: string;
      targetSessionId?: string;
      newMeta?: Record<string, unknown>;
      summary?: string;
    } = {},
  ): Promise<string> {
    return this.guard("copy", async () => {
      if (options.targetSessionId !== undefined) validateSegment(options.targetSessionId, "sessionId");
      const source = await this.readRecord(artifactId, options);
      if (options.targetSessionId !== undefined && options.targetSessionId !== source.sessionId) {
        throw new AccessDeniedError(
          "copy across sessions is not allowed: an artifact never leaves its session",
        );
      }
      const filename =
        options.newFilename === undefined ? source.filename : validateFilename(options.newFilename);
      const meta =
        options.newMeta === undefined
          ? source.meta
          : validateMeta({ ...source.meta, ...validateMeta(options.newMeta) });
      const summary = options.summary === undefined ? source.summary : validateSummary(options.summary);
      const now = new Date().toISOString();
      const artifactIdCopy = newArtifactId();
      const record: ArtifactRecord = {
        ...source,
        artifactId: artifactIdCopy,
        key: buildKey(source.sandboxId, source.sessionId, artifactIdCopy),
        filename,
        meta: { ...meta, copiedFrom: source.artifactId },
        summary,
        storedAt: now,
        updatedAt: now,
      };
      const { storage } = await this.backends();
      const committed = await storage.copy(source.key, record);
      await this.cachePut(committed);
      return committed.artifactId;
    });
  }

  /** Renames an artifact (and optionally replaces meta keys) within its session; saved at once. */
  async moveFile(
    artifactId: string,
    options: AccessContext & {
      newFilename?: string;
      newMeta?: Record<string, unknown>;
      targetSessionId?: string;
    },
  ): Promise<ArtifactMetadata> {
    return this.guard("move", async () => {
      if (options.targetSessionId !== undefined) validateSegment(options.targetSessionId, "sessionId");
      if (options.newFilename === undefined && options.newMeta === undefined) {
        throw new ValidationError("moveFile needs newFilename or newMeta");
      }
      const moved = await this.rewriteRecord(artifactId, options, (current) => {
        if (options.targetSessionId !== undefined && options.targetSessionId !== current.sessionId) {
          throw new AccessDeniedError(
            "move across sessions is not allowed: an artifact never leaves its session",
          );
        }
        return {
          ...current,
          filename:
            options.newFilename === undefined ? current.filename : validateFilename(options.newFilename),
          meta:
            options.newMeta === undefined
              ? current.meta
              : validateMeta({ ...current.meta, ...validateMeta(options.newMeta) }),
          updatedAt: new Date().toISOString(),
        };
      });
      return toMetadata(moved);
    });
  }

  /** Deletes an artifact; false when it did not exist. */
  async delete(artifactId: string, context: AccessContext = {}): Promise<boolean> {
    return this.guard("delete", async () => {
      let record: ArtifactRecord;
      try {
        record = await this.readRecord(artifactId, context, { allowExpired: true, allowPending: true });
      } catch (err) {
        if (err instanceof ArtifactNotFoundError) return false;
        throw err;
      }
      return this.removeRecord(record);
    });
  }

  // ---- reading --------------------------------------------------------------------------------

  async metadata(artifactId: string, context: AccessContext = {}): Promise<ArtifactMetadata> {
    return this.guard("metadata", async () => toMetadata(await this.readRecord(artifactId, context)));
  }

  /** True when the artifact exists and has not expired. */
  async exists(artifactId: string, context: AccessContext = {}): Promise<boolean> {
    return this.guard("exists", async () => {
      try {
        await this.readRecord(artifactId, context);
        return true;
      } catch (err) {
        if (err instanceof ArtifactNotFoundError || err instanceof ArtifactExpiredError) return false;
        throw err;
      }
    });
  }

  /** The whole content, checked against its sha256. */
  async retrieve(artifactId: string, context: AccessContext = {}): Promise<Buffer> {
    return this.guard("retrieve", async () => {
      const record = await this.readRecord(artifactId, context);
      const opened = await this.openRecordBody(record);
      const bytes = await collect(opened.stream);
      if (bytes.byteLength !== opened.totalBytes || sha256Hex(bytes) !== opened.sha256) {
        throw new ArtifactCorruptedError(`artifact ${artifactId} does not match its recorded sha256`);
      }
      return bytes;
    });
  }

  /** Content as text (UTF-8 unless `encoding` says otherwise), or as bytes with `asText: false`. */
  async readFile(artifactId: string, options: AccessContext & { asText: false }): Promise<Buffer>;
  async readFile(
    artifactId: string,
    options?: AccessContext & { asText?: true; encoding?: BufferEncoding },
  ): Promise<string>;
  async readFile(
    artifactId: string,
    options: AccessContext & { asText?: boolean; encoding?: BufferEncoding } = {},
  ): Promise<string | Buffer> {
    const bytes = await this.retrieve(artifactId, options);
    return options.asText === false ? bytes : bytes.toString(options.encoding ?? "utf8");
  }

  /**
   * Opens the content as a stream (optionally a byte range) for servers. A full read is checked
   * against the recorded sha256 as it streams: a mismatch errors the stream at its end.
   */
  async openStream(
    artifactId: string,
    options: AccessContext & { range?: ByteRange | RangeChooser } = {},
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    return this.guard("open", async () => {
      const record = await this.readRecord(artifactId, options);
      return this.openVerified(record, options.range);
    });
  }

  /** Artifacts of a session in key order. Without `limit` every page is read; with it, one page. */
  async listBySession(
    sessionId: string,
    options: { limit?: number; cursor?: string | null; userId?: string } = {},
  ): Promise<ArtifactPage> {
    return this.guard("list", async () => {
      validateSegment(sessionId, "sessionId");
      if (options.userId !== undefined) {
        validateSegment(options.userId, "userId");
        // Sessions unavailable and no artifact names an owner: the listing below is empty anyway.
        const session = await unlessSessionsUnavailable(this.findSession(sessionId), null);
        if (session) this.checkOwner(session, options.userId);
      }
      const { storage } = await this.backends();
      const prefix = sessionPrefix(this.sandboxId, sessionId);
      const visible = (r: ArtifactRecord) => r.status === "ready" && !isExpired(r.expiresAt);
      if (options.limit === undefined) {
        const all: ArtifactMetadata[] = [];
        let cursor: string | null = options.cursor ?? null;
        do {
          const page = await storage.list(prefix, { limit: LIST_PAGE_MAX, cursor });
          for (const r of page.records) if (visible(r)) all.push(toMetadata(r));
          cursor = page.cursor;
        } while (cursor !== null);
        return asPage(all, null);
      }
      const limit = options.limit;
      if (!Number.isInteger(limit) || limit < 1 || limit > LIST_PAGE_MAX) {
        throw new ValidationError(`limit must be a whole number from 1 to ${LIST_PAGE_MAX}`);
      }
      const page = await storage.list(prefix, { limit, cursor: options.cursor ?? null });
      return asPage(page.records.filter(visible).map(toMetadata), page.cursor);
    });
  }

  /** Artifacts of a session whose filename starts with `directoryPrefix` (e.g. "docs/"). */
  async getDirectoryContents(
    sessionId: string,
    directoryPrefix = "",
    options: { userId?: string } = {},
  ): Promise<ArtifactMetadata[]> {
    if (typeof directoryPrefix !== "string") throw new ValidationError("directoryPrefix must be a string");
    const all = await this.listBySession(sessionId, options);
    return all.filter((m) => (m.filename ?? "").startsWith(directoryPrefix));
  }

  // ---- signed URLs ----------------------------------------------------------------------------

  /** A URL that downloads the artifact for `expires` seconds (default 3600). */
  async presign(artifactId: string, options: AccessContext & { expires?: number } = {}): Promise<string> {
    return this.guard("presign", async () => {
      const expires = validateExpires(options.expires ?? PRESIGN_MEDIUM);
      const record = await this.readRecord(artifactId, options);
      const { storage } = await this.backends();
      if (storage.capabilities.nativePresign && storage.presignGet) {
        return storage.presignGet(record.key, {
          expires,
          filename: record.filename,
          mime: record.mime,
          sha256: record.sha256,
        });
      }
      return this.signer.sign({ method: "GET", key: record.key, expires: nowSeconds() + expires });
    });
  }

  presignShort(artifactId: string, context: AccessContext = {}): Promise<string> {
    return this.presign(artifactId, { ...context, expires: PRESIGN_SHORT });
  }

  presignMedium(artifactId: string, context: AccessContext = {}): Promise<string> {
    return this.presign(artifactId, { ...context, expires: PRESIGN_MEDIUM });
  }

  presignLong(artifactId: string, context: AccessContext = {}): Promise<string> {
    return this.presign(artifactId, { ...context, expires: PRESIGN_LONG });
  }

  /**
   * Reserves an artifact id and returns a URL the client PUTs the bytes to. Afterwards call
   * `registerUploadedArtifact(artifactId, …)` to make it visible with its real size and sha256.
   */
  async presignUpload(options: PresignUploadOptions = {}): Promise<PresignedUpload> {
    return this.guard("presign upload", async () => {
      const { record, expires } = await this.reserveUpload(options);
      const { maxBytes, mime, expiresAt } = record.upload!;
      const { storage } = await this.backends();
      const headers: Record<string, string> = mime ? { "content-type": mime } : {};
      const url =
        storage.capabilities.nativePresign && storage.presignPut
          ? await storage.presignPut(record.key, { expires, mime, maxBytes })
          : this.signer.sign({
              method: "PUT",
              key: record.key,
              expires: nowSeconds() + expires,
              maxBytes,
              mime,
            });
      return { url, artifactId: record.artifactId, key: record.key, expiresAt, headers };
    });
  }

  /** Makes a presigned upload visible, recording the size and sha256 of what was actually uploaded. */
  async registerUploadedArtifact(
    artifactId: string,
    options: RegisterUploadOptions = {},
  ): Promise<ArtifactMetadata> {
    return this.guard("register upload", async () => {
      // A slot is judged by its upload window, not an artifact expiry: a large upload may take a while.
      const pending = await this.readRecord(artifactId, options, { allowPending: true, allowExpired: true });
      if (pending.status !== "pending")
        throw new ConflictError(`artifact ${artifactId} is already registered`);
      const limits = pending.upload ?? { maxBytes: null, mime: null, expiresAt: pending.storedAt };
      const mime = options.mime === undefined ? (limits.mime ?? pending.mime) : validateMime(options.mime);
      const ttl = validateTtl(options.ttl, pending.ttl);
      const now = Date.now();
      const next: ArtifactRecord = {
        ...pending,
        status: "ready",
        mime,
        summary: options.summary === undefined ? pending.summary : validateSummary(options.summary),
        filename: options.filename === undefined ? pending.filename : validateFilename(options.filename),
        meta: options.meta === undefined ? pending.meta : validateMeta(options.meta),
        ttl,
        expiresAt: expiryFrom(now, ttl),
        storedAt: new Date(now).toISOString(),
        updatedAt: new Date(now).toISOString(),
      };
      delete next.upload;
      const { storage } = await this.backends();
      const committed = await storage.adoptUpload(next, { maxBytes: limits.maxBytes });
      if (!committed) throw new ConflictError(`nothing has been uploaded for artifact ${artifactId} yet`);
      await this.cachePut(committed);
      return toMetadata(committed);
    });
  }

  /**
   * For the HTTP handler: receives the body of a signed PUT into its pending slot. Refuses a slot
   * that is registered already (the URL is single-use) and a body past the signed limit.
   */
  async receiveSignedUpload(grant: SignedGrant, body: AsyncIterable<Uint8Array>): Promise<ArtifactMetadata> {
    return this.guard("upload", async () => {
      this.parseOwnKey(grant.key);
      const { storage } = await this.backends();
      const pending = await storage.getRecord(grant.key);
      if (!pending) throw new ArtifactNotFoundError("this upload slot does not exist");
      if (pending.status !== "pending")
        throw new ConflictError("this upload URL has been used and registered already");
      const committed = await storage.put(pending, body, { maxBytes: grant.maxBytes ?? null });
      return toMetadata(committed);
    });
  }

  /** For the HTTP handler: opens the body behind a verified signed GET. */
  async openSigned(
    key: string,
    range?: ByteRange | RangeChooser,
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    return this.guard("open", async () => {
      const parsed = this.parseOwnKey(key);
      const record = await this.readRecord(parsed.artifactId, { sessionId: parsed.sessionId });
      return this.openVerified(record, range);
    });
  }

  /** For the HTTP handler: the metadata behind a verified signed GET (HEAD, conditional GET). */
  async signedMetadata(key: string): Promise<ArtifactMetadata> {
    return this.guard("metadata", async () => {
      const parsed = this.parseOwnKey(key);
      return toMetadata(await this.readRecord(parsed.artifactId, { sessionId: parsed.sessionId }));
    });
  }

  // ---- multipart uploads ----------------------------------------------------------------------

  /**
   * Starts a large upload in parts: S3-native on S3, spooled server-side (under a reserved area)
   * elsewhere. Get a URL per part with `presignUploadPart`, PUT each part, then
   * `completeMultipartUpload`; afterwards `registerUploadedArtifact` works as for a single PUT.
   */
  async createMultipartUpload(options: PresignUploadOptions = {}): Promise<MultipartUploadInfo> {
    return this.guard("create multipart upload", async () => {
      const { record } = await this.reserveUpload(options);
      const uploadId = await this.multipart.create(record);
      const { storage } = await this.backends();
      return {
        artifactId: record.artifactId,
        uploadId,
        key: record.key,
        expiresAt: record.upload!.expiresAt,
        minPartBytes: this.multipart.minPartBytes(storage),
      };
    });
  }

  /** A URL the client PUTs part `partNumber` (1–10000) to; valid until the upload expires (at most `expires`). */
  async presignUploadPart(
    artifactId: string,
    uploadId: string,
    partNumber: number,
    options: AccessContext & { expires?: number } = {},
  ): Promise<{ url: string; expiresAt: string }> {
    return this.guard("presign upload part", async () => {
      const expires = validateExpires(options.expires ?? PRESIGN_MEDIUM);
      const record = await this.pendingUpload(artifactId, options);
      return this.multipart.partUrl(record, uploadId, partNumber, expires);
    });
  }

  /** Joins the uploaded parts (in `partNumber` order, with the ETags the PUTs returned) into the artifact's body. */
  async completeMultipartUpload(
    artifactId: string,
    uploadId: string,
    parts: MultipartPart[],
    context: AccessContext = {},
  ): Promise<void> {
    return this.guard("complete multipart upload", async () => {
      const record = await this.pendingUpload(artifactId, context);
      await this.multipart.complete(record, uploadId, parts);
    });
  }

  /** Abandons a multipart upload: its parts and its reserved artifact are removed. */
  async abortMultipartUpload(
    artifactId: string,
    uploadId: string,
    context: AccessContext = {},
  ): Promise<void> {
    return this.guard("abort multipart upload", async () => {
      const record = await this.pendingUpload(artifactId, context);
      await this.multipart.abort(record, uploadId);
      await this.removeRecord(record);
    });
  }

  /** For the HTTP handler: receives one part behind a verified signed part URL. */
  async receiveSignedPart(grant: SignedGrant, body: AsyncIterable<Uint8Array>): Promise<PartReceipt> {
    return this.guard("upload part", async () => {
      this.parseOwnKey(grant.key);
      const { storage } = await this.backends();
      const pending = await storage.getRecord(grant.key);
      if (!pending) throw new ArtifactNotFoundError("this upload does not exist");
      if (pending.status !== "pending")
        throw new ConflictError("this upload has been completed and registered already");
      return this.multipart.receivePart(pending, grant, body);
    });
  }

  // ---- operations -----------------------------------------------------------------------------

  /** Checks both providers with a real round trip. */
  async validateConfiguration(): Promise<{
    storage: { status: "ok" | "error"; provider: string; detail: string };
    session: { status: "ok" | "error"; provider: string; detail: string };
  }> {
    const check = async (provider: string, fn: () => Promise<{ ok: boolean; detail: string }>) => {
      try {
        const { ok, detail } = await fn();
        return { status: ok ? ("ok" as const) : ("error" as const), provider, detail };
      } catch (err) {
        return {
          status: "error" as const,
          provider,
          detail: err instanceof Error ? err.message : String(err),
        };
      }
    };
    let backends: Backends | null = null;
    let failure = "";
    try {
      backends = await this.backends();
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    const storage = await check(this.storageProviderName, async () =>
      backends ? backends.storage.health() : { ok: false, detail: failure },
    );
    const session = await check(this.sessionProviderName, async () =>
      backends ? backends.sessions.health() : { ok: false, detail: failure },
    );
    return { storage, session };
  }

  /** Configuration and provider facts (no secrets). */
  async getStats(): Promise<Record<string, unknown>> {
    return this.guard("stats", async () => {
      const { storage, sessions } = await this.backends();
      const storageFacts = storage.describe();
      return {
        storageProvider: this.storageProviderName,
        sessionProvider: this.sessionProviderName,
        sandboxId: this.sandboxId,
        bucket: (storageFacts.bucket as string | undefined) ?? null,
        defaultTtl: this.config.defaultTtl,
        sessionTtlHours: this.config.sessionTtlHours,
        capabilities: storage.capabilities,
        storage: storageFacts,
        sessions: sessions.describe(),
      };
    });
  }

  /**
   * Deletes expired artifacts, abandoned upload slots and every artifact of an expired session
   * (bytes and metadata), then the expired sessions. Returns how many artifacts were removed.
   */
  async cleanupExpiredSessions(): Promise<number> {
    return this.guard("cleanup", async () => {
      const { sessions } = await this.backends();
      const now = Date.now();
      const expiredSessions = new Set<string>();
      let cursor: string | null = null;
      do {
        const page = await sessions.list(this.sandboxId, { limit: LIST_PAGE_MAX, cursor });
        for (const s of page.sessions) if (isExpired(s.expiresAt, now)) expiredSessions.add(s.sessionId);
        cursor = page.cursor;
      } while (cursor !== null);

      const sessionCache = new Map<string, Promise<SessionRecord | null>>();
      const sessionOf = (id: string) => {
        let found = sessionCache.get(id);
        if (!found) {
          found = sessions.get(this.sandboxId, id);
          sessionCache.set(id, found);
        }
        return found;
      };
      const removed = await this.deleteUnderPrefix(`grid/${this.sandboxId}/`, async (r) => {
        if (isExpired(r.expiresAt, now)) return true;
        if (r.status === "pending" && r.upload && isExpired(r.upload.expiresAt, now)) return true;
        if (expiredSessions.has(r.sessionId)) return true;
        const session = await sessionOf(r.sessionId);
        // The session store may have lost the session: fall back to the expiry recorded with the artifact.
        return session === null && isExpired(r.sessionExpiresAt, now);
      });
      for (const id of expiredSessions) await sessions.delete(this.sandboxId, id);
      await this.multipart.sweep(now);
      return removed;
    });
  }

  parseGridKey(key: string): ParsedGridKey | null {
    return parseGridKey(key);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pending = this.backendsPromise;
    this.backendsPromise = null;
    if (!pending) return;
    const { storage, sessions } = await pending;
    await Promise.allSettled([storage.close(), sessions.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Runs `fn`, turning anything that is not already typed into a ProviderError. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw asProviderError(err, what);
    }
  }

  private validateNewFields(
    options: {
      mime?: string;
      summary?: string;
      filename?: string | null;
      meta?: Record<string, unknown>;
      ttl?: number | null;
    },
    defaultMime: string,
  ) {
    return {
      mime: validateMime(options.mime ?? defaultMime),
      summary: validateSummary(options.summary ?? ""),
      filename: validateFilename(options.filename),
      meta: validateMeta(options.meta),
      ttl: validateTtl(options.ttl, this.config.defaultTtl),
    };
  }

  private newRecord(
    session: SessionRecord,
    fields: {
      mime: string;
      summary: string;
      filename: string | null;
      meta: Record<string, unknown>;
      ttl: number | null;
    },
  ): ArtifactRecord {
    const now = Date.now();
    const artifactId = newArtifactId();
    const iso = new Date(now).toISOString();
    return {
      artifactId,
      sessionId: session.sessionId,
      sandboxId: this.sandboxId,
      key: buildKey(this.sandboxId, session.sessionId, artifactId),
      ...fields,
      bytes: 0,
      sha256: "",
      storedAt: iso,
      updatedAt: iso,
      expiresAt: expiryFrom(now, fields.ttl),
      storageProvider: this.storageProviderName,
      sessionProvider: this.sessionProviderName,
      userId: session.userId,
      status: "ready",
      sessionExpiresAt: session.expiresAt,
    };
  }

  private newSession(
    sessionId: string,
    userId: string | null,
    ttlHours?: number,
    meta: Record<string, unknown> = {},
  ): SessionRecord {
    const hours = ttlHours ?? this.config.sessionTtlHours;
    if (!(hours > 0)) throw new ValidationError("ttlHours must be positive");
    const now = Date.now();
    return {
      sessionId,
      sandboxId: this.sandboxId,
      userId,
      createdAt: new Date(now).toISOString(),
      lastAccessedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + hours * 3600_000).toISOString(),
      meta,
    };
  }

  /**
   * The session a write goes to: the named one (created on first use, owned by `userId`), else the
   * user's own `user_{userId}`, else a new anonymous one. Someone else's session is AccessDenied.
   */
  private async resolveSession(context: AccessContext): Promise<SessionRecord> {
    const userId = context.userId === undefined ? undefined : validateSegment(context.userId, "userId");
    if (context.sessionId === undefined && userId === undefined) {
      const record = this.newSession(newSessionId(), null);
      const { sessions } = await this.backends();
      // Sessions unavailable: a fresh random id is nobody else's, so the write goes ahead; once
      // sessions are back, findSession rebuilds this session from its artifacts.
      await unlessSessionsUnavailable(sessions.create(record), true);
      return record;
    }
    const sessionId =
      context.sessionId === undefined
        ? userSessionId(userId!)
        : validateSegment(context.sessionId, "sessionId");
    const existing = await this.findSession(sessionId).catch((err) => this.ownedByItsName(err, sessionId));
    if (existing) {
      this.checkOwner(existing, userId);
      if (!isExpired(existing.expiresAt)) return existing;
      // An expired session is renewed for its owner; its old artifacts keep their own expiry.
      const renewed = this.newSession(sessionId, existing.userId);
      const { sessions } = await this.backends();
      // Sessions unavailable: renewed for this write only; rebuilt from the artifacts later.
      await unlessSessionsUnavailable(sessions.update(renewed), undefined);
      return renewed;
    }
    const owner = userId ?? implicitOwner(sessionId);
    if (userId !== undefined && implicitOwner(sessionId) !== null && implicitOwner(sessionId) !== userId) {
      throw new AccessDeniedError(`session ${sessionId} belongs to another user`);
    }
    const record = this.newSession(sessionId, owner);
    const { sessions } = await this.backends();
    if (await sessions.create(record)) return record;
    // Lost a creation race: use the winner's record, with the same owner check.
    const winner = await sessions.get(this.sandboxId, sessionId);
    if (!winner) throw new SessionError(`session ${sessionId} could not be created`);
    this.checkOwner(winner, userId);
    return winner;
  }

  /**
   * A session from the session provider or, if that lost it (a Redis flush), rebuilt from the
   * artifacts storage still holds, so ownership survives the loss.
   *
   * While the session provider is unavailable (SessionUnavailableError) the same rebuild answers,
   * without writing it back (from `known`, an artifact of the session the caller has already
   * read, instead of a listing); with no artifact to rebuild from there is no answer: the error is
   * rethrown rather than reporting a session that may exist as absent.
   */
  private async findSession(sessionId: string, known?: ArtifactRecord): Promise<SessionRecord | null> {
    const { sessions, storage } = await this.backends();
    let unavailable: SessionUnavailableError | null = null;
    const found = await sessions.get(this.sandboxId, sessionId).catch((err: unknown) => {
      if (!(err instanceof SessionUnavailableError)) throw err;
      unavailable = err;
      return null;
    });
    if (found) return found;
    const sample =
      unavailable && known?.sessionId === sessionId
        ? known
        : (await storage.list(sessionPrefix(this.sandboxId, sessionId), { limit: 1 })).records[0];
    if (!sample) {
      if (unavailable) throw unavailable;
      return null;
    }
    const rebuilt = this.newSession(sessionId, sample.userId ?? implicitOwner(sessionId));
    if (sample.sessionExpiresAt && !isExpired(sample.sessionExpiresAt))
      rebuilt.expiresAt = sample.sessionExpiresAt;
    if (unavailable) return rebuilt;
    await sessions.create(rebuilt);
    return (await sessions.get(this.sandboxId, sessionId)) ?? rebuilt;
  }

  /**
   * resolveSession's answer when findSession has none because sessions are unavailable: a
   * `user_{id}` session belongs to that user by its name, so it is usable (not written to the
   * session store); any other session fails closed, since only the session store knows whether
   * someone else owns it (SessionUnavailableError, HTTP 503).
   */
  private ownedByItsName(err: unknown, sessionId: string): SessionRecord {
    const owner = implicitOwner(sessionId);
    if (!(err instanceof SessionUnavailableError) || owner === null) throw err;
    return this.newSession(sessionId, owner);
  }

  private checkOwner(session: SessionRecord, userId: string | undefined): void {
    if (userId === undefined) return;
    const owner = session.userId ?? implicitOwner(session.sessionId);
    if (owner !== userId) throw new AccessDeniedError(`session ${session.sessionId} belongs to another user`);
  }

  /** Loads an artifact's record (cache, then storage) and applies expiry and access rules. */
  private async readRecord(
    artifactId: string,
    context: AccessContext,
    flags: { allowExpired?: boolean; allowPending?: boolean } = {},
  ): Promise<ArtifactRecord> {
    validateSegment(artifactId, "artifactId");
    if (context.sessionId !== undefined) validateSegment(context.sessionId, "sessionId");
    if (context.userId !== undefined) validateSegment(context.userId, "userId");
    const { storage, sessions } = await this.backends();
    // Sessions unavailable (Redis down): a cache read that fails is a miss; storage has the record.
    let record = sessions.shared
      ? await unlessSessionsUnavailable(sessions.cacheGet(this.sandboxId, artifactId), null)
      : null;
    if (!record) {
      const inSession =
        context.sessionId !== undefined ? buildKey(this.sandboxId, context.sessionId, artifactId) : null;
      record = inSession ? await storage.getRecord(inSession) : null;
      if (!record) {
        // Found by id when not in the named session, so another session's artifact is denied below
        // exactly as when its record comes from the cache, rather than reported missing.
        const key = await storage.locate(this.sandboxId, artifactId);
        record = key && key !== inSession ? await storage.getRecord(key) : null;
      }
      if (record && record.status === "ready") await this.cachePut(record);
    }
    if (!record) throw new ArtifactNotFoundError(`artifact ${artifactId} not found`);
    if (context.sessionId !== undefined && record.sessionId !== context.sessionId) {
      throw new AccessDeniedError(`artifact ${artifactId} belongs to another session`);
    }
    if (context.userId !== undefined) {
      const session = await this.findSession(record.sessionId, record);
      const owner = session?.userId ?? implicitOwner(record.sessionId) ?? record.userId;
      if (owner !== context.userId)
        throw new AccessDeniedError(`artifact ${artifactId} belongs to another user`);
    }
    if (record.status === "pending" && !flags.allowPending)
      throw new ArtifactNotFoundError(`artifact ${artifactId} has not been uploaded and registered`);
    if (!flags.allowExpired && isExpired(record.expiresAt))
      throw new ArtifactExpiredError(`artifact ${artifactId} expired at ${record.expiresAt}`);
    return record;
  }

  /** Validates an upload's limits and writes its pending slot (status "pending", with the limits). */
  private async reserveUpload(
    options: PresignUploadOptions,
  ): Promise<{ record: ArtifactRecord; expires: number }> {
    const expires = validateExpires(options.expires ?? PRESIGN_MEDIUM);
    const mime = options.mimeType == null ? null : validateMime(options.mimeType);
    const filename = validateFilename(options.filename);
    const maxBytes = options.maxBytes ?? null;
    if (maxBytes !== null && (!Number.isSafeInteger(maxBytes) || maxBytes < 0)) {
      throw new ValidationError("maxBytes must be a non-negative whole number");
    }
    const session = await this.resolveSession(options);
    const expiresAt = new Date((nowSeconds() + expires) * 1000).toISOString();
    const record = this.newRecord(session, {
      mime: mime ?? "application/octet-stream",
      summary: "",
      filename,
      meta: {},
      ttl: this.config.defaultTtl,
    });
    record.status = "pending";
    record.upload = { maxBytes, mime, expiresAt };
    // The slot lives as long as its upload window; registration sets the artifact's own expiry.
    record.expiresAt = expiresAt;
    const { storage } = await this.backends();
    await storage.putRecord(record);
    return { record, expires };
  }

  /** A pending upload slot the caller may use; a registered one is a ConflictError. */
  private async pendingUpload(artifactId: string, context: AccessContext): Promise<ArtifactRecord> {
    const record = await this.readRecord(artifactId, context, { allowPending: true, allowExpired: true });
    if (record.status !== "pending") throw new ConflictError(`artifact ${artifactId} is already registered`);
    return record;
  }

  /** Opens for a server: a range picked from the metadata, and a full read checked against sha256. */
  private async openVerified(
    record: ArtifactRecord,
    range: ByteRange | RangeChooser | undefined,
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    const metadata = toMetadata(record);
    const chosen = typeof range === "function" ? range(metadata) : range;
    const body = await this.openRecordBody(record, chosen);
    if (chosen) return { metadata, body };
    return { metadata, body: { ...body, stream: verifiedStream(body, record.artifactId) } };
  }

  private async openRecordBody(record: ArtifactRecord, range?: ByteRange): Promise<OpenedBody> {
    const { storage } = await this.backends();
    if (range) {
      if (
        !(
          Number.isSafeInteger(range.start) &&
          Number.isSafeInteger(range.end) &&
          range.start >= 0 &&
          range.end >= range.start
        )
      ) {
        throw new ValidationError("range must satisfy 0 <= start <= end");
      }
      if (range.end >= record.bytes)
        throw new ValidationError(`range ends beyond the artifact's ${record.bytes} bytes`);
    }
    const opened = await storage.openBody(record.key, range, { sha256: record.sha256 });
    if (!opened) throw new ArtifactNotFoundError(`the bytes of artifact ${record.artifactId} are missing`);
    return opened;
  }

  private applyUpdate(
    current: ArtifactRecord,
    options: UpdateMetadataOptions,
    hasData: boolean,
  ): ArtifactRecord {
    const refused = Object.keys(options).filter((k) => !UPDATABLE_FIELDS.has(k) && k !== "data");
    if (refused.length > 0) {
      throw new ValidationError(
        `cannot update ${refused.join(", ")}: only summary, meta, filename, mime and ttl are writable`,
      );
    }
    const changes = ["summary", "meta", "filename", "mime", "ttl"].filter(
      (k) => (options as Record<string, unknown>)[k] !== undefined,
    );
    if (changes.length === 0 && !hasData)
      throw new ValidationError("nothing to update: give data, summary, meta, filename, mime or ttl");
    const now = Date.now();
    const next: ArtifactRecord = { ...current, updatedAt: new Date(now).toISOString() };
    if (options.summary !== undefined) next.summary = validateSummary(options.summary);
    if (options.filename !== undefined) next.filename = validateFilename(options.filename);
    if (options.mime !== undefined) next.mime = validateMime(options.mime);
    if (options.meta !== undefined) {
      const meta = validateMeta(options.meta);
      next.meta = options.merge === false ? meta : validateMeta({ ...current.meta, ...meta });
    }
    if (options.ttl !== undefined) {
      next.ttl = validateTtl(options.ttl, current.ttl);
      next.expiresAt = expiryFrom(now, next.ttl);
    }
    return next;
  }

  private async commit(
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
    options: { replacing?: boolean } = {},
  ): Promise<ArtifactRecord> {
    const { storage } = await this.backends();
    if (options.replacing) await this.cacheEvict(record);
    const committed = await storage.put(record, body, { fresh: !options.replacing });
    await this.cachePut(committed);
    return committed;
  }

  /**
   * A metadata-only change: reads the record, builds the new one and commits it, one update of an
   * artifact at a time in this process. Storage refuses the commit (ConflictError) if the content
   * changed meanwhile (another process); then it is read and built again.
   */
  private async rewriteRecord(
    artifactId: string,
    context: AccessContext,
    build: (current: ArtifactRecord) => ArtifactRecord,
  ): Promise<ArtifactRecord> {
    return this.updates.run(artifactId, () => this.rewriteRecordOnce(artifactId, context, build));
  }

  private async rewriteRecordOnce(
    artifactId: string,
    context: AccessContext,
    build: (current: ArtifactRecord) => ArtifactRecord,
  ): Promise<ArtifactRecord> {
    for (let attempt = 1; ; attempt++) {
      const next = build(await this.readRecord(artifactId, context));
      try {
        await this.commitRecord(next);
        return next;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= 3) throw err;
        await this.cacheEvict(next);
      }
    }
  }

  private async commitRecord(record: ArtifactRecord): Promise<void> {
    const { storage } = await this.backends();
    await this.cacheEvict(record);
    await storage.putRecord(record);
    await this.cachePut(record);
  }

  /**
   * Drops a cached record before its artifact is replaced: if that fails nothing has changed yet,
   * and a failed cachePut afterwards leaves no entry rather than the old version.
   *
   * Deliberately not skipped while sessions are unavailable: an update that went ahead without
   * the eviction would leave the old record in a Redis that comes back unflushed (a partition, a
   * stalled server), served as current until its TTL ran out. So updates, moves and deletes of
   * existing artifacts fail with SessionUnavailableError (HTTP 503) during an outage and change
   * nothing; new artifacts need no eviction and keep being stored.
   */
  private async cacheEvict(record: ArtifactRecord): Promise<void> {
    const { sessions } = await this.backends();
    if (sessions.shared) await sessions.cacheDelete(this.sandboxId, record.artifactId);
  }

  private async removeRecord(record: ArtifactRecord): Promise<boolean> {
    const { storage, sessions } = await this.backends();
    if (sessions.shared) await sessions.cacheDelete(this.sandboxId, record.artifactId);
    return storage.delete(record.key);
  }

  private async cachePut(record: ArtifactRecord): Promise<void> {
    const { sessions } = await this.backends();
    if (!sessions.shared) return;
    const remaining =
      record.expiresAt === null
        ? CACHE_SECONDS_MAX
        : Math.floor((Date.parse(record.expiresAt) - Date.now()) / 1000);
    if (remaining <= 0) return;
    // Storage already holds the truth: a cache that cannot be written (Redis down) costs a later
    // storage read, and must not fail — or leave half-acknowledged — a write that has succeeded.
    await sessions.cacheSet(record, Math.min(remaining, CACHE_SECONDS_MAX)).catch(() => {});
  }

  private async deleteUnderPrefix(
    prefix: string,
    shouldDelete: (r: ArtifactRecord) => boolean | Promise<boolean>,
  ): Promise<number> {
    const { storage } = await this.backends();
    let removed = 0;
    let cursor: string | null = null;
    do {
      const page = await storage.list(prefix, { limit: LIST_PAGE_MAX, cursor });
      cursor = page.cursor;
      const results = await mapLimit(page.records, 16, async (r) =>
        (await shouldDelete(r)) ? this.removeRecord(r) : false,
      );
      removed += results.filter(Boolean).length;
    } while (cursor !== null);
    return removed;
  }

  private parseOwnKey(key: string): ParsedGridKey {
    const parsed = parseGridKey(key);
    if (!parsed || parsed.sandboxId !== this.sandboxId) throw new ArtifactNotFoundError("no such artifact");
    return parsed;
  }
}

function asPage(items: ArtifactMetadata[], cursor: string | null): ArtifactPage {
  return Object.assign(items, { cursor });
}

function validateExpires(expires: unknown): number {
  if (
    typeof expires !== "number" ||
    !Number.isInteger(expires) ||
    expires < 1 ||
    expires > MAX_PRESIGN_SECONDS
  ) {
    throw new ValidationError(`expires must be a whole number of seconds from 1 to ${MAX_PRESIGN_SECONDS}`);
  }
  return expires;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Passes a full body through, checking it against its size and sha256. The last chunk is held
 * back until the check passes, so a reader of corrupted bytes gets an error, never a complete body.
 */
async function* verifiedStream(body: OpenedBody, artifactId: string): AsyncIterable<Uint8Array> {
  const hash = createHash("sha256");
  let bytes = 0;
  let held: Uint8Array | null = null;
  for await (const chunk of body.stream) {
    hash.update(chunk);
    bytes += chunk.byteLength;
    if (held) yield held;
    held = chunk;
  }
  if (bytes !== body.totalBytes || hash.digest("hex") !== body.sha256) {
    throw new ArtifactCorruptedError(`artifact ${artifactId} does not match its recorded sha256`);
  }
  if (held) yield held;
}
