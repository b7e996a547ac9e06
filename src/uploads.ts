import type { Artifacts } from "./artifacts.js";
import type { BackendsGetter } from "./backends.js";
import type { ResolvedConfig } from "./config.js";
import { ArtifactNotFoundError, ConflictError, ValidationError } from "./errors.js";
import type { Scope } from "./grid.js";
import {
  type ArtifactMetadata,
  type ArtifactRecord,
  expiryFrom,
  toMetadata,
  validateFilename,
  validateMeta,
  validateMime,
  validateSummary,
  validateTtl,
} from "./metadata.js";
import { type MultipartPart, MultipartUploads, type PartReceipt } from "./multipart.js";
import { Quotas } from "./quotas.js";
import { placeArtifact } from "./scopes.js";
import type { AccessContext, SessionRules } from "./session-rules.js";
import type { SignedGrant, UrlSigner } from "./signing.js";

export interface PresignUploadOptions extends AccessContext {
  /** "session" (default), "user" (needs userId) or "sandbox" (trusted calls only). */
  scope?: Scope;
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

export interface RegisterUploadOptions extends AccessContext {
  mime?: string;
  summary?: string;
  filename?: string | null;
  meta?: Record<string, unknown>;
  ttl?: number | null;
}

export const PRESIGN_SHORT = 900;
export const PRESIGN_MEDIUM = 3600;
export const PRESIGN_LONG = 86400;
const MAX_PRESIGN_SECONDS = 7 * 86400;

/**
 * Uploads that bypass the store's own write path: a client PUTs bytes to a signed URL (S3's own,
 * or this package's HTTP handler for memory and filesystem) into a pending slot, optionally in
 * parts, and `register` commits what arrived with its measured size and sha256.
 */
export class Uploads {
  readonly multipart: MultipartUploads;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly backends: BackendsGetter,
    private readonly sessions: SessionRules,
    private readonly artifacts: Artifacts,
    private readonly signer: UrlSigner,
    private readonly quotas: Quotas,
  ) {
    this.multipart = new MultipartUploads(config, signer, async () => (await backends()).storage);
  }

  /** Reserves an artifact id and returns a URL the client PUTs the bytes to. */
  async presign(options: PresignUploadOptions): Promise<PresignedUpload> {
    const { record, expires } = await this.reserve(options);
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
  }

  /** Makes a presigned upload visible, recording the size and sha256 of what was actually uploaded. */
  async register(artifactId: string, options: RegisterUploadOptions): Promise<ArtifactMetadata> {
    // A slot is judged by its upload window, not an artifact expiry: a large upload may take a while.
    const pending = await this.artifacts.read(artifactId, options, {
      allowPending: true,
      allowExpired: true,
      write: true,
    });
    if (pending.status !== "pending") throw new ConflictError(`artifact ${artifactId} is already registered`);
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
    await this.settleQuota(pending, committed);
    await this.artifacts.cachePut(committed);
    return toMetadata(committed);
  }

  /**
   * For the HTTP handler: receives the body of a signed PUT into its pending slot. Refuses a slot
   * that is registered already or has received a body (the URL is single-use), and a body past the
   * signed limit.
   */
  async receive(grant: SignedGrant, body: AsyncIterable<Uint8Array>): Promise<ArtifactMetadata> {
    const pending = await this.pendingAt(grant.key, "upload slot");
    // Single use: the slot takes one body. Two PUTs at once race on the slot's etag; one loses.
    if (pending.sha256 !== "") throw new ConflictError("this upload URL has been used already");
    const { storage } = await this.backends();
    const committed = await storage.put(pending, body, { maxBytes: grant.maxBytes ?? null, exact: true });
    return toMetadata(committed);
  }

  async createMultipart(options: PresignUploadOptions): Promise<MultipartUploadInfo> {
    const { record } = await this.reserve(options);
    const uploadId = await this.multipart.create(record);
    const { storage } = await this.backends();
    return {
      artifactId: record.artifactId,
      uploadId,
      key: record.key,
      expiresAt: record.upload!.expiresAt,
      minPartBytes: this.multipart.minPartBytes(storage),
    };
  }

  async partUrl(
    artifactId: string,
    uploadId: string,
    partNumber: number,
    options: AccessContext & { expires?: number },
  ): Promise<{ url: string; expiresAt: string }> {
    const expires = validateExpires(options.expires ?? PRESIGN_MEDIUM);
    const record = await this.pending(artifactId, options);
    return this.multipart.partUrl(record, uploadId, partNumber, expires);
  }

  async completeMultipart(
    artifactId: string,
    uploadId: string,
    parts: MultipartPart[],
    context: AccessContext,
  ): Promise<void> {
    const record = await this.pending(artifactId, context);
    await this.multipart.complete(record, uploadId, parts);
  }

  async abortMultipart(artifactId: string, uploadId: string, context: AccessContext): Promise<void> {
    const record = await this.pending(artifactId, context);
    await this.multipart.abort(record, uploadId);
    await this.artifacts.remove(record);
  }

  /** For the HTTP handler: receives one part behind a verified signed part URL. */
  async receivePart(grant: SignedGrant, body: AsyncIterable<Uint8Array>): Promise<PartReceipt> {
    const pending = await this.pendingAt(grant.key, "upload");
    return this.multipart.receivePart(pending, grant, body);
  }

  /** Validates an upload's limits and writes its pending slot (status "pending", with the limits). */
  private async reserve(options: PresignUploadOptions): Promise<{ record: ArtifactRecord; expires: number }> {
    const expires = validateExpires(options.expires ?? PRESIGN_MEDIUM);
    const mime = options.mimeType == null ? null : validateMime(options.mimeType);
    const filename = validateFilename(options.filename);
    const maxBytes = options.maxBytes ?? null;
    if (maxBytes !== null && (!Number.isSafeInteger(maxBytes) || maxBytes < 0)) {
      throw new ValidationError("maxBytes must be a non-negative whole number");
    }
    const place = await placeArtifact(this.sessions, options);
    await place.confirmed;
    const expiresAt = new Date((nowSeconds() + expires) * 1000).toISOString();
    const record = this.artifacts.newRecord(place, {
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
    // Held until registration settles it, or until the slot is aborted or cleaned up (released).
    const hold = await this.quotas.reserve(record, { bytes: maxBytes ?? 0, artifacts: 1 });
    const { storage } = await this.backends();
    try {
      const slot = await storage.putRecord(record, { fresh: true });
      // Cached as written (with its storage version): registering it then reads no head first.
      await this.artifacts.cachePut(slot);
      return { record: slot, expires };
    } catch (err) {
      await hold.release();
      throw err;
    }
  }

  /**
   * The slot reserved its `maxBytes`; the artifact counts its real size. An upload without
   * `maxBytes` reserved no bytes: what it brought is checked now, and one that does not fit is
   * removed again (QuotaExceededError).
   */
  private async settleQuota(pending: ArtifactRecord, committed: ArtifactRecord): Promise<void> {
    const extra = committed.bytes - Quotas.countOf(pending).bytes;
    if (extra <= 0) return this.quotas.add(committed, { bytes: extra, artifacts: 0 });
    try {
      await this.quotas.reserve(committed, { bytes: extra, artifacts: 0 });
    } catch (err) {
      const { storage, sessions } = await this.backends();
      if (sessions.shared)
        await sessions.cacheDelete(committed.sandboxId, committed.artifactId).catch(() => {});
      if (await storage.delete(committed.key)) await this.quotas.release(pending);
      throw err;
    }
  }

  /** A pending upload slot the caller may use; a registered one is a ConflictError. */
  private async pending(artifactId: string, context: AccessContext): Promise<ArtifactRecord> {
    const record = await this.artifacts.read(artifactId, context, { allowPending: true, allowExpired: true });
    if (record.status !== "pending") throw new ConflictError(`artifact ${artifactId} is already registered`);
    return record;
  }

  /** The pending slot behind a verified signed URL. */
  private async pendingAt(key: string, what: string): Promise<ArtifactRecord> {
    this.artifacts.parseOwnKey(key);
    const { storage } = await this.backends();
    const pending = await storage.getRecord(key);
    if (!pending) throw new ArtifactNotFoundError(`this ${what} does not exist`);
    if (pending.status !== "pending")
      throw new ConflictError(`this ${what} has been used and registered already`);
    return pending;
  }
}

export function validateExpires(expires: unknown): number {
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

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
