import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { collect, Measured } from "./body.js";
import type { ResolvedConfig } from "./config.js";
import { ArtifactNotFoundError, ConflictError, ValidationError } from "./errors.js";
import { type ArtifactRecord, isExpired } from "./metadata.js";
import type { SignedGrant, UrlSigner } from "./signing.js";
import type { StorageProvider } from "./storage/provider.js";

/**
 * Multipart uploads. S3-compatible providers use their native multipart upload with per-part
 * SigV4 URLs. Every other provider gets the same flow from this package: parts PUT to signed URLs
 * served by the HTTP handler are kept in a spool (a reserved `_multipart` folder under the
 * filesystem root, or process memory) until completion streams them, in order, into the
 * artifact's pending slot with its size and sha256 measured. Abort or expiry removes the parts.
 */

export interface MultipartPart {
  partNumber: number;
  /** The ETag the part's PUT answered with (quotes optional). */
  etag: string;
}

export interface PartReceipt {
  partNumber: number;
  /** Quoted, as an HTTP ETag header carries it. */
  etag: string;
  bytes: number;
}

export const MAX_PARTS = 10_000;
/** S3's minimum for every part but the last. */
const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
const SPOOL_DIR = "_multipart";
const SPOOLED_ID = /^mp-[0-9a-f]{32}$/;
// S3 upload ids are opaque; bound them and keep them to printable ASCII without spaces.
const NATIVE_ID = /^[\x21-\x7e]{1,1024}$/;

interface Manifest {
  uploadId: string;
  key: string;
  maxBytes: number | null;
  expiresAt: string;
}

/** Where spooled parts wait for completion. Parts are named by number and sha256 (their ETag). */
interface PartSpool {
  create(manifest: Manifest): Promise<void>;
  manifest(uploadId: string): Promise<Manifest | null>;
  writePart(
    manifest: Manifest,
    partNumber: number,
    body: AsyncIterable<Uint8Array>,
  ): Promise<{ sha256: string; bytes: number }>;
  hasPart(uploadId: string, partNumber: number, sha256: string): Promise<boolean>;
  readPart(uploadId: string, partNumber: number, sha256: string): AsyncIterable<Uint8Array>;
  remove(uploadId: string): Promise<void>;
  /** Upload ids whose window has closed. */
  expired(nowMs: number): Promise<string[]>;
}

export class MultipartUploads {
  private spoolInstance: PartSpool | null = null;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly signer: UrlSigner,
    private readonly storage: () => Promise<StorageProvider>,
  ) {}

  minPartBytes(storage: StorageProvider): number {
    return this.isNative(storage) ? S3_MIN_PART_BYTES : 1;
  }

  async create(record: ArtifactRecord): Promise<string> {
    const storage = await this.storage();
    if (this.isNative(storage)) {
      const { uploadId } = await storage.createMultipart!(record.key, { mime: record.upload?.mime ?? null });
      return uploadId;
    }
    const uploadId = `mp-${randomBytes(16).toString("hex")}`;
    await this.spool().create({
      uploadId,
      key: record.key,
      maxBytes: record.upload?.maxBytes ?? null,
      expiresAt: record.upload?.expiresAt ?? record.storedAt,
    });
    return uploadId;
  }

  async partUrl(
    record: ArtifactRecord,
    uploadId: string,
    partNumber: number,
    expires: number,
  ): Promise<{ url: string; expiresAt: string }> {
    checkPartNumber(partNumber);
    const storage = await this.storage();
    const windowEnds = Date.parse(record.upload?.expiresAt ?? record.storedAt);
    const seconds = Math.min(expires, Math.floor((windowEnds - Date.now()) / 1000));
    if (seconds < 1) throw new ConflictError("this upload's window has closed");
    const expiresAt = new Date(Date.now() + seconds * 1000).toISOString();
    if (this.isNative(storage)) {
      checkNativeId(uploadId);
      return { url: await storage.presignPart!(record.key, uploadId, partNumber, seconds), expiresAt };
    }
    const manifest = await this.spooledManifest(record, uploadId);
    const url = this.signer.sign({
      method: "PUT",
      key: record.key,
      expires: Math.floor(Date.now() / 1000) + seconds,
      maxBytes: manifest.maxBytes,
      uploadId,
      partNumber,
    });
    return { url, expiresAt };
  }

  /** Receives a spooled part (the HTTP handler calls this for a verified part URL). */
  async receivePart(
    record: ArtifactRecord,
    grant: SignedGrant,
    body: AsyncIterable<Uint8Array>,
  ): Promise<PartReceipt> {
    const partNumber = grant.partNumber ?? Number.NaN;
    checkPartNumber(partNumber);
    const manifest = await this.spooledManifest(record, grant.uploadId ?? "");
    const { sha256, bytes } = await this.spool().writePart(manifest, partNumber, body);
    return { partNumber, etag: `"${sha256}"`, bytes };
  }

  async complete(record: ArtifactRecord, uploadId: string, parts: MultipartPart[]): Promise<void> {
    const ordered = checkParts(parts);
    const storage = await this.storage();
    if (this.isNative(storage)) {
      checkNativeId(uploadId);
      await storage.completeMultipart!(record.key, uploadId, ordered);
      return;
    }
    const manifest = await this.spooledManifest(record, uploadId);
    const spool = this.spool();
    for (const part of ordered) {
      if (!(await spool.hasPart(uploadId, part.partNumber, part.etag))) {
        throw new ValidationError(`part ${part.partNumber} with ETag ${part.etag} was not uploaded`);
      }
    }
    async function* joined(): AsyncIterable<Uint8Array> {
      for (const part of ordered) yield* spool.readPart(uploadId, part.partNumber, part.etag);
    }
    // The pending slot receives the joined body exactly as a single signed PUT would.
    await storage.put(record, joined(), { maxBytes: manifest.maxBytes });
    await spool.remove(uploadId);
  }

  async abort(record: ArtifactRecord, uploadId: string): Promise<void> {
    const storage = await this.storage();
    if (this.isNative(storage)) {
      checkNativeId(uploadId);
      await storage.abortMultipart!(record.key, uploadId);
      return;
    }
    await this.spooledManifest(record, uploadId);
    await this.spool().remove(uploadId);
  }

  /** Removes spooled parts of uploads whose window has closed; returns how many uploads. */
  async sweep(nowMs = Date.now()): Promise<number> {
    const storage = await this.storage();
    if (this.isNative(storage)) return 0;
    const spool = this.spool();
    const ids = await spool.expired(nowMs);
    for (const id of ids) await spool.remove(id);
    return ids.length;
  }

  private isNative(storage: StorageProvider): boolean {
    return (
      storage.capabilities.nativeMultipart &&
      typeof storage.createMultipart === "function" &&
      typeof storage.presignPart === "function" &&
      typeof storage.completeMultipart === "function" &&
      typeof storage.abortMultipart === "function"
    );
  }

  private spool(): PartSpool {
    this.spoolInstance ??=
      this.config.storageProvider === "filesystem"
        ? new DirectorySpool(join(resolve(this.config.fsRoot), SPOOL_DIR, this.config.sandboxId))
        : new MemorySpool();
    return this.spoolInstance;
  }

  /** The spooled upload `uploadId`, which must belong to this artifact. */
  private async spooledManifest(record: ArtifactRecord, uploadId: string): Promise<Manifest> {
    if (!SPOOLED_ID.test(uploadId)) throw new ValidationError("uploadId is not a valid upload id");
    const manifest = await this.spool().manifest(uploadId);
    if (!manifest || manifest.key !== record.key) {
      throw new ArtifactNotFoundError(`no multipart upload ${uploadId} for artifact ${record.artifactId}`);
    }
    return manifest;
  }
}

function checkPartNumber(partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new ValidationError(`partNumber must be a whole number from 1 to ${MAX_PARTS}`);
  }
}

function checkNativeId(uploadId: unknown): void {
  if (typeof uploadId !== "string" || !NATIVE_ID.test(uploadId)) {
    throw new ValidationError("uploadId is not a valid upload id");
  }
}

/** Parts in ascending order, each once, with an ETag. */
function checkParts(parts: unknown): MultipartPart[] {
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > MAX_PARTS) {
    throw new ValidationError(`parts must be a list of 1 to ${MAX_PARTS} { partNumber, etag }`);
  }
  let previous = 0;
  return parts.map((part: unknown) => {
    const { partNumber, etag } = (part ?? {}) as Record<string, unknown>;
    checkPartNumber(partNumber as number);
    if (typeof etag !== "string" || etag.length === 0 || etag.length > 1024) {
      throw new ValidationError(`part ${String(partNumber)} needs the ETag its upload returned`);
    }
    if ((partNumber as number) <= previous) {
      throw new ValidationError("parts must be listed in ascending partNumber order, each once");
    }
    previous = partNumber as number;
    return { partNumber: partNumber as number, etag };
  });
}

const unquote = (etag: string) => etag.replace(/^(W\/)?"|"$/g, "");

/** A spooled part's ETag is its sha256; anything else cannot name a stored part. */
function spooledSha(etag: string): string | null {
  const sha = unquote(etag).toLowerCase();
  return /^[0-9a-f]{64}$/.test(sha) ? sha : null;
}

class MemorySpool implements PartSpool {
  private readonly uploads = new Map<
    string,
    { manifest: Manifest; parts: Map<number, { sha256: string; bytes: Buffer }> }
  >();

  async create(manifest: Manifest): Promise<void> {
    this.uploads.set(manifest.uploadId, { manifest, parts: new Map() });
  }

  async manifest(uploadId: string): Promise<Manifest | null> {
    return this.uploads.get(uploadId)?.manifest ?? null;
  }

  async writePart(manifest: Manifest, partNumber: number, body: AsyncIterable<Uint8Array>) {
    const measured = new Measured(body, manifest.maxBytes);
    const bytes = await collect(measured);
    const upload = this.uploads.get(manifest.uploadId);
    if (!upload) throw new ArtifactNotFoundError("this multipart upload was aborted");
    upload.parts.set(partNumber, { sha256: measured.sha256, bytes });
    return { sha256: measured.sha256, bytes: bytes.byteLength };
  }

  async hasPart(uploadId: string, partNumber: number, etag: string): Promise<boolean> {
    const part = this.uploads.get(uploadId)?.parts.get(partNumber);
    return part !== undefined && part.sha256 === spooledSha(etag);
  }

  async *readPart(uploadId: string, partNumber: number): AsyncIterable<Uint8Array> {
    const part = this.uploads.get(uploadId)?.parts.get(partNumber);
    if (!part) throw new ConflictError(`part ${partNumber} disappeared during completion`);
    yield part.bytes;
  }

  async remove(uploadId: string): Promise<void> {
    this.uploads.delete(uploadId);
  }

  async expired(nowMs: number): Promise<string[]> {
    return [...this.uploads.values()]
      .filter((u) => isExpired(u.manifest.expiresAt, nowMs))
      .map((u) => u.manifest.uploadId);
  }
}

/**
 * Parts on disk: `{root}/{uploadId}/manifest.json` and one file per part, `{n}.{sha256}.part`,
 * written to a temporary name and renamed, so a part is either whole or absent.
 */
class DirectorySpool implements PartSpool {
  constructor(private readonly root: string) {}

  async create(manifest: Manifest): Promise<void> {
    const dir = this.dirOf(manifest.uploadId);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "manifest.json"), JSON.stringify(manifest), { flag: "wx" });
  }

  async manifest(uploadId: string): Promise<Manifest | null> {
    try {
      const raw = JSON.parse(await readFile(join(this.dirOf(uploadId), "manifest.json"), "utf8")) as Manifest;
      return raw.uploadId === uploadId && typeof raw.key === "string" ? raw : null;
    } catch {
      return null;
    }
  }

  async writePart(manifest: Manifest, partNumber: number, body: AsyncIterable<Uint8Array>) {
    const dir = this.dirOf(manifest.uploadId);
    const temp = join(dir, `${randomBytes(8).toString("hex")}.tmp`);
    const measured = new Measured(body, manifest.maxBytes);
    try {
      await pipeline(Readable.from(measured), createWriteStream(temp, { flags: "wx" }));
    } catch (err) {
      await unlink(temp).catch(() => {});
      if (isMissing(err)) throw new ArtifactNotFoundError("this multipart upload was aborted");
      throw err;
    }
    const sha256 = measured.sha256;
    const name = partFile(partNumber, sha256);
    try {
      await rename(temp, join(dir, name));
    } catch (err) {
      await unlink(temp).catch(() => {});
      if (isMissing(err)) throw new ArtifactNotFoundError("this multipart upload was aborted");
      throw err;
    }
    // A re-sent part replaces the earlier one.
    for (const other of await listDir(dir)) {
      if (other.startsWith(`${partNumber}.`) && other.endsWith(".part") && other !== name) {
        await unlink(join(dir, other)).catch(() => {});
      }
    }
    return { sha256, bytes: measured.bytes };
  }

  async hasPart(uploadId: string, partNumber: number, etag: string): Promise<boolean> {
    const sha = spooledSha(etag);
    if (!sha) return false;
    return (await listDir(this.dirOf(uploadId))).includes(partFile(partNumber, sha));
  }

  async *readPart(uploadId: string, partNumber: number, etag: string): AsyncIterable<Uint8Array> {
    const sha = spooledSha(etag) ?? "";
    for await (const chunk of createReadStream(join(this.dirOf(uploadId), partFile(partNumber, sha)))) {
      yield chunk as Buffer;
    }
  }

  async remove(uploadId: string): Promise<void> {
    await rm(this.dirOf(uploadId), { recursive: true, force: true });
  }

  async expired(nowMs: number): Promise<string[]> {
    const ids: string[] = [];
    for (const id of await listDir(this.root)) {
      if (!SPOOLED_ID.test(id)) continue;
      const manifest = await this.manifest(id);
      if (!manifest || isExpired(manifest.expiresAt, nowMs)) ids.push(id);
    }
    return ids;
  }

  private dirOf(uploadId: string): string {
    // Ids were checked by the caller; check again, since they become a path.
    if (!SPOOLED_ID.test(uploadId)) throw new ValidationError("uploadId is not a valid upload id");
    return join(this.root, uploadId);
  }
}

function partFile(partNumber: number, sha256: string): string {
  return `${partNumber}.${sha256}.part`;
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
