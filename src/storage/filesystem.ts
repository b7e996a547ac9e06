import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import { link, mkdir, readdir, readlink, rename, rmdir, stat, symlink, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import { once } from "../body.js";
import { ConflictError, ValidationError } from "../errors.js";
import { randomHex } from "../random.js";
import {
  type DriverCapabilities,
  type MetaSource,
  metaText,
  type ObjectBody,
  type ObjectHead,
  type PutObjectOptions,
  type PutResult,
  releaseBody,
  type StorageDriver,
  type WriteCondition,
} from "./driver.js";
import { closeFd, fstatFd, fsyncFd, openFd, readFd, writeAllFd, writeFd } from "./fd.js";
import { firstAbove } from "./paging.js";
import type { ByteRange } from "./provider.js";

/**
 * Objects as files under a root folder (local disk or a shared mount). Each object is one file:
 * its bytes, then its meta text, then a 16-byte footer (meta length, etag, magic). A write goes to
 * a temporary file, is fsynced, and is renamed into place: readers see the old file or the new one,
 * and a crash leaves no torn object. Keys map to paths segment by segment, each checked, so nothing
 * can leave the root; filenames of artifacts are metadata and never reach the disk layout.
 *
 * Conditional writes (and every delete, so a delete cannot slip between an update's check and its
 * rename) hold a per-key lock: a folder made with mkdir, which only one process can create. A lock
 * left by a crashed process is broken after LOCK_STALE_MS.
 *
 * The id index is a symlink per artifact, `_index/{sandbox}/{id[0:2]}/{id}` → the artifact's file
 * (relative, so the root can move), made while the bytes are written.
 *
 * Files are created 0600 and folders 0700 unless `fileMode` / `dirMode` say otherwise.
 */

const FOOTER_BYTES = 16;
const MAGIC = 0x434b4131; // "CKA1"
/** The end of a file read in one call: small objects are read whole, with their meta, at once. */
const TAIL_READ = 64 * 1024;
/** The end of a file a head read takes in one call (a longer meta takes a second read). */
const HEAD_READ = 4096;
/** Heads headMany reads between two turns of the event loop. */
const HEADS_PER_TURN = 64;
const TEMP_DIR = "_tmp";
const LOCK_DIR = "_locks";
const INDEX_DIR = "_index";
/** From `_index/{sandbox}/{xx}/` back to the root: index links are relative, so they resolve. */
const INDEX_UP = "../../../";
const LOCK_STALE_MS = 10_000;
const LOCK_WAIT_MS = 5_000;
const KEY_SEGMENT = /^[A-Za-z0-9_@~-][A-Za-z0-9_.@~-]*$/;

export interface FilesystemDriverOptions {
  root: string;
  /** Mode of the files written (default 0o600: only the server's user can read artifacts). */
  fileMode?: number;
  /** Mode of the folders made (default 0o700). */
  dirMode?: number;
}

/** How long a listing's walk serves its next pages (see `listing`). */
const LISTING_REUSE_MS = 2000;

export class FilesystemDriver implements StorageDriver {
  readonly name = "filesystem";
  readonly capabilities: DriverCapabilities = {
    persistent: true,
    shared: true,
    // The meta is written after the bytes, so its size is free; keep records sensible all the same.
    inlineMetaBytes: 1024 * 1024,
    // Bodies up to 1 MiB are held to be written with their record in one file; larger ones stream
    // to a revision file, so a metadata update never rewrites a large file.
    inlineBodyBytes: 1024 * 1024,
    conditionalCopy: true,
    atomicConditionalWrites: true,
    nativePresign: false,
    nativeMultipart: false,
  };
  readonly root: string;
  private readonly fileMode: number;
  private readonly dirMode: number;
  /** Folders known to exist, so a write does not mkdir (and stat) each time. */
  private readonly folders = new Set<string>();
  /**
   * The last listing's sorted keys, for its next pages: a listing of a wide prefix (a sandbox)
   * walks the whole tree, and walking it again for each page of 1,000 made listing n keys cost
   * n²/1,000 file visits. Continuations within LISTING_REUSE_MS reuse the walk; any write or
   * delete in this process drops it.
   */
  private listing: { prefix: string; at: number; keys: string[] } | null = null;

  private constructor(options: FilesystemDriverOptions) {
    this.root = resolve(options.root);
    this.fileMode = options.fileMode ?? 0o600;
    this.dirMode = options.dirMode ?? 0o700;
  }

  static async open(options: FilesystemDriverOptions): Promise<FilesystemDriver> {
    const driver = new FilesystemDriver(options);
    await driver.ensureFolder(join(driver.root, TEMP_DIR));
    return driver;
  }

  metaBytes(meta: string): number {
    return Buffer.byteLength(meta, "utf8");
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, options: PutObjectOptions): Promise<PutResult> {
    const path = this.pathOf(key);
    const temp = this.tempPath();
    const etag = randomHex(8);
    this.listing = null;
    let bytes: number;
    try {
      bytes = await this.writeObject(temp, body, metaText(options.meta), etag);
      await this.ensureFolder(dirname(path));
      await this.place(temp, path, options);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
    return { etag, bytes };
  }

  async head(key: string): Promise<ObjectHead | null> {
    return headAt(this.pathOf(key));
  }

  /**
   * Heads of many keys, for listings, read with synchronous calls, HEADS_PER_TURN between turns of
   * the event loop. A small read through the thread pool costs a hand-off for each of open, stat,
   * read and close: reading 20,000 heads that way took 1.7 s on a 2-core machine, against 0.15 s
   * here. A slice blocks the loop for well under a millisecond on a local disk.
   */
  async headMany(keys: string[]): Promise<(ObjectHead | null)[]> {
    const heads: (ObjectHead | null)[] = [];
    for (let i = 0; i < keys.length; i++) {
      if (i > 0 && i % HEADS_PER_TURN === 0) await nextTurn();
      heads.push(this.headSync(keys[i]!));
    }
    return heads;
  }

  private headSync(key: string): ObjectHead | null {
    let fd: number;
    try {
      fd = openSync(this.pathOf(key), "r");
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === "EISDIR") return null;
      throw err;
    }
    try {
      return readHeadSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  async get(key: string, range?: ByteRange): Promise<ObjectBody | null> {
    const fd = await openIfExists(this.pathOf(key));
    if (fd === null) return null;
    let keepOpen = false;
    try {
      const { head, small } = await readTail(fd, true);
      if (!head) return null;
      const start = range ? Math.min(range.start, head.size) : 0;
      const end = range ? Math.min(range.end + 1, head.size) : head.size;
      const length = Math.max(0, end - start);
      if (small) return { ...head, stream: once(small.subarray(start, end)), length };
      if (length === 0) return { ...head, stream: once(Buffer.alloc(0)), length };
      // The open descriptor keeps these bytes readable even if the file is replaced meanwhile.
      keepOpen = true;
      // With `fd` given the path is not used.
      const stream = createReadStream("", { fd, start, end: end - 1, autoClose: true });
      return { ...head, stream, length };
    } finally {
      if (!keepOpen) await closeFd(fd);
    }
  }

  async copy(
    from: string,
    to: string,
    options: WriteCondition & { meta: MetaSource; sourceEtag?: string },
  ): Promise<{ etag: string } | null> {
    const source = await this.get(from);
    if (!source) return null;
    if (options.sourceEtag !== undefined && source.etag !== options.sourceEtag) {
      releaseBody(source);
      throw new ConflictError(`${from} changed before it could be copied`);
    }
    // Bytes pass through this process: bodies written in one file with their meta are small, and
    // revisions are copied once per copied artifact.
    const { etag } = await this.put(to, source.stream, options);
    return { etag };
  }

  async delete(key: string, condition: { ifMatch?: string } = {}): Promise<boolean> {
    const path = this.pathOf(key);
    this.listing = null;
    return this.locked(path, async () => {
      // Under the lock every conditional write of this key takes: checked and unlinked as one step.
      if (condition.ifMatch !== undefined) {
        const current = await headAt(path);
        if (current?.etag !== condition.ifMatch) throw new ConflictError("the object changed or was deleted");
      }
      try {
        await unlink(path);
        return true;
      } catch (err) {
        if (isMissing(err)) return false;
        throw err;
      }
    });
  }

  async list(
    prefix: string,
    options: { limit: number; after?: string | null },
  ): Promise<{ keys: string[]; more: boolean }> {
    const cut = prefix.lastIndexOf("/");
    const base = prefix.slice(0, cut + 1);
    const after = options.after ?? null;
    const reuse =
      after !== null &&
      this.listing !== null &&
      this.listing.prefix === prefix &&
      Date.now() - this.listing.at < LISTING_REUSE_MS;
    let all: string[];
    if (reuse) all = this.listing!.keys;
    else {
      all = (await this.filesUnder(base)).filter((k) => k.startsWith(prefix)).sort();
      this.listing = { prefix, at: Date.now(), keys: all };
    }
    const start = after === null ? 0 : firstAbove(all, after, false);
    if (start >= all.length) return { keys: [], more: false };
    const keys = all.slice(start, start + options.limit);
    return { keys, more: start + options.limit < all.length };
  }

  async locate(sandboxId: string, artifactId: string): Promise<string | null> {
    let target: string;
    try {
      target = await readlink(this.indexPath(sandboxId, artifactId));
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === "EINVAL") return null;
      throw err;
    }
    return target.startsWith(INDEX_UP) ? target.slice(INDEX_UP.length) : null;
  }

  async remember(sandboxId: string, artifactId: string, key: string): Promise<void> {
    const path = this.indexPath(sandboxId, artifactId);
    await this.ensureFolder(dirname(path));
    try {
      // No fsync: like the artifact's own rename, it survives a process crash; the store treats a
      // missing entry as "not found by id", never as corruption.
      await symlink(`${INDEX_UP}${key}`, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }

  async forget(sandboxId: string, artifactId: string): Promise<void> {
    await unlink(this.indexPath(sandboxId, artifactId)).catch(() => {});
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    const key = `${TEMP_DIR}/health-${randomBytes(6).toString("hex")}`;
    await this.put(key, once(Buffer.from("ok")), { meta: "probe" });
    const back = await this.head(key);
    await unlink(this.pathOf(key)).catch(() => {});
    return { ok: back?.meta === "probe" && back.size === 2, detail: `read/write ok at ${this.root}` };
  }

  describe(): Record<string, unknown> {
    return { root: this.root };
  }

  async close(): Promise<void> {}

  // ---- internals ------------------------------------------------------------------------------

  /** The path of a key: every segment checked (no `.`, `..`, separators or empties). */
  private pathOf(key: string): string {
    const segments = key.split("/");
    for (const s of segments) {
      if (s.length === 0 || s.length > 200 || !KEY_SEGMENT.test(s) || s.includes("..")) {
        throw new ValidationError(`not a storable key: ${JSON.stringify(key.slice(0, 80))}`);
      }
    }
    return join(this.root, ...segments);
  }

  private indexPath(sandboxId: string, artifactId: string): string {
    return this.pathOf(`${INDEX_DIR}/${sandboxId}/${artifactId.slice(0, 2)}/${artifactId}`);
  }

  private tempPath(): string {
    return join(this.root, TEMP_DIR, `${randomHex(12)}.tmp`);
  }

  private async ensureFolder(folder: string): Promise<void> {
    if (this.folders.has(folder)) return;
    await mkdir(folder, { recursive: true, mode: this.dirMode });
    if (this.folders.size > 10_000) this.folders.clear();
    this.folders.add(folder);
  }

  /** Writes bytes, meta and footer to a new file and fsyncs it; returns the body's length. */
  private async writeObject(
    path: string,
    body: AsyncIterable<Uint8Array>,
    meta: string,
    etag: string,
  ): Promise<number> {
    const fd = await openFd(path, "wx", this.fileMode);
    try {
      let bytes = 0;
      for await (const chunk of body) {
        for (let offset = 0; offset < chunk.byteLength; ) {
          offset += await writeFd(fd, chunk, offset, chunk.byteLength - offset);
        }
        bytes += chunk.byteLength;
      }
      const metaBytes = Buffer.from(meta, "utf8");
      const footer = Buffer.alloc(FOOTER_BYTES);
      footer.writeUInt32BE(metaBytes.byteLength, 0);
      footer.write(etag, 4, 8, "hex");
      footer.writeUInt32BE(MAGIC, 12);
      await writeAllFd(fd, [metaBytes, footer]);
      await fsyncFd(fd);
      return bytes;
    } finally {
      await closeFd(fd);
    }
  }

  /** Moves a finished temporary file into place under the write condition. */
  private async place(temp: string, path: string, condition: WriteCondition): Promise<void> {
    if (condition.ifNoneMatch) {
      // link() fails if the name exists: create-if-absent in one step, no lock needed.
      try {
        await link(temp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST")
          throw new ConflictError("the key already exists");
        throw err;
      }
      await unlink(temp);
      return;
    }
    if (condition.ifMatch === undefined) {
      await rename(temp, path);
      return;
    }
    const expected = condition.ifMatch;
    await this.locked(path, async () => {
      const current = await headAt(path);
      if (current?.etag !== expected) throw new ConflictError("the object changed or was deleted");
      await rename(temp, path);
    });
  }

  /** Runs `fn` holding the lock of `path` (a folder only one process can create). */
  private async locked<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const lock = join(this.root, LOCK_DIR, createHash("sha256").update(path).digest("hex").slice(0, 40));
    await this.ensureFolder(join(this.root, LOCK_DIR));
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      try {
        await mkdir(lock, { mode: this.dirMode });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > LOCK_STALE_MS) {
          await rmdir(lock).catch(() => {});
          continue;
        }
        if (Date.now() > deadline) throw new ConflictError("the object is locked by another writer; retry");
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    try {
      return await fn();
    } finally {
      await rmdir(lock).catch(() => {});
    }
  }

  /** Every file key under a folder key (`grid/sb/` or `grid/sb/sess/`), recursively. */
  private async filesUnder(base: string): Promise<string[]> {
    const dir = base === "" ? this.root : this.pathOf(base.slice(0, -1));
    const out: string[] = [];
    const walk = async (folder: string, prefix: string): Promise<void> => {
      let entries: import("node:fs").Dirent[];
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const entry of entries) {
        if (entry.isDirectory()) await walk(join(folder, entry.name), `${prefix}${entry.name}/`);
        else if (entry.isFile()) out.push(`${prefix}${entry.name}`);
      }
    };
    await walk(dir, base);
    return out;
  }
}

/** A descriptor of the file at `path`, open for reading; null when there is no file there. */
async function openIfExists(path: string): Promise<number | null> {
  try {
    return await openFd(path, "r");
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === "EISDIR") return null;
    throw err;
  }
}

/**
 * Reads the footer and meta from the end of an object file. With `wantSmall`, a file that fits in
 * one read comes back whole (`small` holds its body), so a small object costs one read call.
 */
async function readTail(
  fd: number,
  wantSmall: boolean,
): Promise<{ head: ObjectHead | null; small: Buffer | null }> {
  const stats = await fstatFd(fd);
  const { size, mtimeMs } = stats;
  // A folder where a key would be (a key that is a prefix of others) holds no object.
  if (!stats.isFile() || size < FOOTER_BYTES) return { head: null, small: null };
  const tailBytes = Math.min(size, wantSmall ? TAIL_READ : HEAD_READ);
  const tail = Buffer.allocUnsafe(tailBytes);
  await readFully(fd, tail, size - tailBytes);
  const footer = footerOf(tail, size);
  if (!footer) return { head: null, small: null };
  let meta = metaInTail(tail, footer.metaLength);
  if (meta === null) {
    const buffer = Buffer.allocUnsafe(footer.metaLength);
    await readFully(fd, buffer, footer.bodyBytes);
    meta = buffer.toString("utf8");
  }
  const head = { etag: footer.etag, size: footer.bodyBytes, meta, modifiedAt: mtimeMs };
  const small = tailBytes === size ? tail.subarray(0, footer.bodyBytes) : null;
  return { head, small };
}

/** The head of the object file at `path`; null when there is none. */
async function headAt(path: string): Promise<ObjectHead | null> {
  const fd = await openIfExists(path);
  if (fd === null) return null;
  try {
    return (await readTail(fd, false)).head;
  } finally {
    await closeFd(fd);
  }
}

/** readTail(fd, false) with synchronous calls, on a file descriptor (see headMany). */
function readHeadSync(fd: number): ObjectHead | null {
  const stats = fstatSync(fd);
  const { size, mtimeMs } = stats;
  if (!stats.isFile() || size < FOOTER_BYTES) return null;
  const tailBytes = Math.min(size, HEAD_READ);
  const tail = Buffer.allocUnsafe(tailBytes);
  readFullySync(fd, tail, size - tailBytes);
  const footer = footerOf(tail, size);
  if (!footer) return null;
  let meta = metaInTail(tail, footer.metaLength);
  if (meta === null) {
    const buffer = Buffer.allocUnsafe(footer.metaLength);
    readFullySync(fd, buffer, footer.bodyBytes);
    meta = buffer.toString("utf8");
  }
  return { etag: footer.etag, size: footer.bodyBytes, meta, modifiedAt: mtimeMs };
}

/** What the last FOOTER_BYTES of `tail` (the end of a file of `size` bytes) say; null if not ours. */
function footerOf(
  tail: Buffer,
  size: number,
): { metaLength: number; bodyBytes: number; etag: string } | null {
  const footer = tail.subarray(tail.byteLength - FOOTER_BYTES);
  if (footer.readUInt32BE(12) !== MAGIC) return null;
  const metaLength = footer.readUInt32BE(0);
  const bodyBytes = size - FOOTER_BYTES - metaLength;
  if (bodyBytes < 0) return null;
  return { metaLength, bodyBytes, etag: footer.toString("hex", 4, 12) };
}

/** The meta text when `tail` holds all of it, else null. */
function metaInTail(tail: Buffer, metaLength: number): string | null {
  const end = tail.byteLength - FOOTER_BYTES;
  return metaLength <= end ? tail.toString("utf8", end - metaLength, end) : null;
}

function readFullySync(fd: number, buffer: Buffer, position: number): void {
  for (let filled = 0; filled < buffer.byteLength; ) {
    const read = readSync(fd, buffer, filled, buffer.byteLength - filled, position + filled);
    if (read === 0) throw new Error("the file ended early (changed while being read)");
    filled += read;
  }
}

async function readFully(fd: number, buffer: Buffer, position: number): Promise<void> {
  for (let filled = 0; filled < buffer.byteLength; ) {
    const bytesRead = await readFd(fd, buffer, filled, buffer.byteLength - filled, position + filled);
    if (bytesRead === 0) throw new Error("the file ended early (changed while being read)");
    filled += bytesRead;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
