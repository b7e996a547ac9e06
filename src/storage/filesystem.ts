import { randomBytes } from "node:crypto";
import { copyFile, link, mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BodyTooLargeError, Measured } from "../body.js";
import { parseGridKey } from "../grid.js";
import { type ArtifactRecord, artifactRecordSchema } from "../metadata.js";
import { assertContentUnchanged } from "./content-check.js";
import { pageAfter } from "./paging.js";
import type {
  ByteRange,
  ListPage,
  OpenedBody,
  PutOptions,
  StorageCapabilities,
  StorageProvider,
} from "./provider.js";

/** What `record.json` holds: the record and the name of the immutable body file it describes. */
interface Envelope {
  record: ArtifactRecord;
  body: string | null;
}

const RECORD_FILE = "record.json";
// Reserved names start with "_", which no validated sandbox, session or artifact id can.
const INDEX_DIR = "_index";
const TEMP_DIR = "_tmp";
/** Bodies up to this size are read with one read call rather than a stream. */
const SMALL_READ = 64 * 1024;
/** How long, and for how many keys, the body named by a record just read is reused by openBody. */
const RECENT_BODY_MS = 1000;
const RECENT_BODIES = 1024;
/** Keys remembered per sandbox before the memory starts over. */
const KNOWN_KEYS = 10_000;
/** Index bucket folders known to exist (256 per sandbox). */
const INDEX_FOLDERS = 4096;

/**
 * Artifacts on a local (or shared network) filesystem. Each artifact is a directory at its grid
 * key holding `record.json` and an immutable `body-{rev}` file. A write lands in a new body file
 * (fsynced), then `record.json` is replaced by rename: that rename is the commit point, so readers
 * see the old artifact or the new one and a crash leaves no torn file. Filenames are metadata only
 * and never touch the disk layout.
 */
export class FilesystemStorageProvider implements StorageProvider {
  readonly name = "filesystem";
  readonly capabilities: StorageCapabilities = {
    persistent: true,
    shared: true,
    nativePresign: false,
    nativeMultipart: false,
  };

  private readonly recentBodies = new Map<string, { body: string; sha256: string; at: number }>();
  private readonly indexFolders = new Set<string>();
  /**
   * sandbox → id → key of artifacts this process wrote or located, so a read by id skips the index
   * file. Safe to keep: an id is never reused and an artifact's key never changes; a key whose
   * artifact another process deleted just finds no record.
   */
  private readonly knownKeys = new Map<string, Map<string, string>>();

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<FilesystemStorageProvider> {
    const absolute = resolve(root);
    await mkdir(join(absolute, TEMP_DIR), { recursive: true });
    return new FilesystemStorageProvider(absolute);
  }

  async put(
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ArtifactRecord> {
    const measured = new Measured(body, options.maxBytes ?? null);
    const bodyName = `body-${randomBytes(8).toString("hex")}`;
    const dir = this.dirOf(record.key);
    const temp = this.tempPath();
    // A new artifact's directory is created here: then there is no previous record to read, and
    // its index entry is written while the body is.
    const created = (await mkdir(dir, { recursive: true })) !== undefined;
    const indexed = created ? this.writeIndex(record) : null;
    indexed?.catch(() => {});
    try {
      await writeDurably(temp, measured);
      await rename(temp, join(dir, bodyName));
    } catch (err) {
      await unlink(temp).catch(() => {});
      if (indexed) {
        // Nothing was committed: take back the new artifact's index entry and directory.
        await indexed.catch(() => {});
        this.forgetKey(record.key);
        await unlink(this.indexPath(record.sandboxId, record.artifactId)).catch(() => {});
        await rm(dir, { recursive: true, force: true });
      }
      throw err;
    }
    await indexed;
    const committed = { ...record, bytes: measured.bytes, sha256: measured.sha256 };
    await this.commitEnvelope({ record: committed, body: bodyName }, created ? null : undefined, created);
    return committed;
  }

  async putRecord(record: ArtifactRecord): Promise<void> {
    const existing = await this.readEnvelope(record.key);
    assertContentUnchanged(existing?.record, record);
    await this.commitEnvelope({ record, body: existing?.body ?? null }, existing);
  }

  async getRecord(key: string): Promise<ArtifactRecord | null> {
    const envelope = await this.readEnvelope(key);
    if (!envelope) return null;
    this.rememberBody(envelope);
    return envelope.record;
  }

  async adoptUpload(
    record: ArtifactRecord,
    options: { maxBytes: number | null },
  ): Promise<ArtifactRecord | null> {
    const envelope = await this.readEnvelope(record.key);
    if (!envelope?.body) return null;
    const uploaded = envelope.record;
    if (options.maxBytes !== null && uploaded.bytes > options.maxBytes) {
      await this.delete(record.key);
      throw new BodyTooLargeError(`upload is larger than the limit of ${options.maxBytes} bytes`);
    }
    const committed = { ...record, bytes: uploaded.bytes, sha256: uploaded.sha256 };
    await this.commitEnvelope({ record: committed, body: envelope.body }, envelope);
    return committed;
  }

  async openBody(key: string, range?: ByteRange): Promise<OpenedBody | null> {
    // The record getRecord() just read names the body; use it once instead of reading it again.
    const hint = this.takeRecentBody(key);
    if (hint) {
      const opened = await this.openBodyFile(key, hint, range);
      if (opened) return opened;
    }
    // A concurrent update may remove the body file between reading the record and opening it;
    // the new record then names the new body, so read again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const envelope = await this.readEnvelope(key);
      if (!envelope?.body) return null;
      const opened = await this.openBodyFile(
        key,
        { body: envelope.body, sha256: envelope.record.sha256 },
        range,
      );
      if (opened) return opened;
    }
    return null;
  }

  /** Opens one immutable body file; null when it is gone (replaced by an update). */
  private async openBodyFile(
    key: string,
    found: { body: string; sha256: string },
    range?: ByteRange,
  ): Promise<OpenedBody | null> {
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(join(this.dirOf(key), found.body), "r");
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    const { sha256 } = found;
    let size: number;
    try {
      size = (await handle.stat()).size;
    } catch (err) {
      await handle.close();
      throw err;
    }
    if (size === 0) {
      await handle.close();
      return { stream: emptyStream(), length: 0, totalBytes: 0, sha256 };
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    const length = end - start + 1;
    if (length <= SMALL_READ) {
      // Small bodies: one read into one buffer, no stream machinery.
      try {
        const buffer = Buffer.allocUnsafe(length);
        let filled = 0;
        while (filled < length) {
          const { bytesRead } = await handle.read(buffer, filled, length - filled, start + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return { stream: once(buffer.subarray(0, filled)), length: filled, totalBytes: size, sha256 };
      } finally {
        await handle.close();
      }
    }
    // The open handle keeps the bytes readable even if an update unlinks the file meanwhile.
    const stream = handle.createReadStream({ start, end, autoClose: true });
    return { stream, length, totalBytes: size, sha256 };
  }

  private rememberBody(envelope: Envelope): void {
    if (!envelope.body) return;
    if (this.recentBodies.size >= RECENT_BODIES) this.recentBodies.clear();
    this.recentBodies.set(envelope.record.key, {
      body: envelope.body,
      sha256: envelope.record.sha256,
      at: Date.now(),
    });
  }

  private takeRecentBody(key: string): { body: string; sha256: string } | null {
    const hint = this.recentBodies.get(key);
    if (!hint) return null;
    this.recentBodies.delete(key);
    return Date.now() - hint.at <= RECENT_BODY_MS ? hint : null;
  }

  async copy(sourceKey: string, record: ArtifactRecord): Promise<ArtifactRecord> {
    const source = await this.readEnvelope(sourceKey);
    if (!source?.body) throw new Error(`no body at ${sourceKey}`);
    const bodyName = `body-${randomBytes(8).toString("hex")}`;
    const dir = this.dirOf(record.key);
    await mkdir(dir, { recursive: true });
    const from = join(this.dirOf(sourceKey), source.body);
    const to = join(dir, bodyName);
    // Bodies are immutable, so a hard link is a safe, instant copy; fall back to copying bytes.
    await link(from, to).catch(async () => {
      const temp = this.tempPath();
      await copyFile(from, temp);
      await fsyncFile(temp);
      await rename(temp, to);
    });
    const committed = { ...record, bytes: source.record.bytes, sha256: source.record.sha256 };
    await this.commitEnvelope({ record: committed, body: bodyName });
    return committed;
  }

  async delete(key: string): Promise<boolean> {
    const envelope = await this.readEnvelope(key);
    const dir = this.dirOf(key);
    // Removing record.json first is the commit point: the artifact is gone even if the rest fails.
    try {
      await unlink(join(dir, RECORD_FILE));
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    this.forgetKey(key);
    await rm(dir, { recursive: true, force: true });
    if (envelope)
      await unlink(this.indexPath(envelope.record.sandboxId, envelope.record.artifactId)).catch(() => {});
    return true;
  }

  async list(prefix: string, options: { limit: number; cursor?: string | null }): Promise<ListPage> {
    const keys = await this.keysUnder(prefix);
    const { items, cursor } = pageAfter(keys, options.limit, options.cursor ?? null);
    const envelopes = await Promise.all(items.map((k) => this.readEnvelope(k)));
    return { records: envelopes.flatMap((e) => (e ? [e.record] : [])), cursor };
  }

  async locate(sandboxId: string, artifactId: string): Promise<string | null> {
    const known = this.knownKeys.get(sandboxId)?.get(artifactId);
    if (known) return known;
    try {
      const key = (await readFile(this.indexPath(sandboxId, artifactId), "utf8")).trim();
      if (!parseGridKey(key)) return null;
      this.rememberKey(sandboxId, artifactId, key);
      return key;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    const probe = this.tempPath();
    await writeDurably(probe, "ok");
    const back = await readFile(probe, "utf8");
    await unlink(probe);
    return { ok: back === "ok", detail: `read/write ok at ${this.root}` };
  }

  describe(): Record<string, unknown> {
    return { root: this.root };
  }

  async close(): Promise<void> {}

  // ---- internals ------------------------------------------------------------------------------

  /** The directory of a grid key. Keys were validated, but check again: nothing may leave the root. */
  private dirOf(key: string): string {
    const parsed = parseGridKey(key);
    if (!parsed) throw new Error(`not a grid key: ${key}`);
    return join(this.root, "grid", parsed.sandboxId, parsed.sessionId, parsed.artifactId);
  }

  private indexPath(sandboxId: string, artifactId: string): string {
    return join(this.root, INDEX_DIR, sandboxId, artifactId.slice(0, 2), artifactId);
  }

  private tempPath(): string {
    return join(this.root, TEMP_DIR, `${randomBytes(12).toString("hex")}.tmp`);
  }

  private async readEnvelope(key: string): Promise<Envelope | null> {
    let text: string;
    try {
      text = await readFile(join(this.dirOf(key), RECORD_FILE), "utf8");
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    let raw: { record?: unknown; body?: unknown };
    try {
      raw = JSON.parse(text) as typeof raw;
    } catch {
      return null;
    }
    const parsed = artifactRecordSchema.safeParse(raw.record);
    if (!parsed.success || parsed.data.key !== key) return null;
    const record = parsed.data as ArtifactRecord;
    return {
      record,
      body: typeof raw.body === "string" && /^body-[0-9a-f]{16}$/.test(raw.body) ? raw.body : null,
    };
  }

  /**
   * Writes the index entry, then replaces record.json by rename, then drops the previous body.
   * `previous` is the envelope being replaced when the caller knows it (null: none), else it is
   * read; `indexed` says the caller has already written a new artifact's index entry and folder.
   */
  private async commitEnvelope(
    envelope: Envelope,
    previous?: Envelope | null,
    indexed = false,
  ): Promise<void> {
    const { record } = envelope;
    const dir = this.dirOf(record.key);
    const before = previous === undefined ? await this.readEnvelope(record.key) : previous;
    if (before === null && !indexed) {
      await this.writeIndex(record);
      await mkdir(dir, { recursive: true });
    }
    await this.replaceFile(join(dir, RECORD_FILE), JSON.stringify(envelope));
    if (before?.body && before.body !== envelope.body) {
      await unlink(join(dir, before.body)).catch(() => {});
    }
  }

  /** The id → key index entry, written once per artifact (fsynced: it must survive as the record does). */
  private async writeIndex(record: ArtifactRecord, again = false): Promise<void> {
    const indexPath = this.indexPath(record.sandboxId, record.artifactId);
    const folder = dirname(indexPath);
    // 256 bucket folders per sandbox: remember the ones made, rather than mkdir (and stat) each time.
    if (!this.indexFolders.has(folder)) {
      await mkdir(folder, { recursive: true });
      if (this.indexFolders.size >= INDEX_FOLDERS) this.indexFolders.clear();
      this.indexFolders.add(folder);
    }
    try {
      // Written in place: until the record commits, a partial entry names nothing readable anyway.
      await writeDurably(indexPath, record.key);
      this.rememberKey(record.sandboxId, record.artifactId, record.key);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" && !again) {
        // The folder was removed from outside since it was made: make it again.
        this.indexFolders.delete(folder);
        return this.writeIndex(record, true);
      }
      if (code !== "EEXIST") throw err;
      await this.replaceFile(indexPath, record.key);
    }
  }

  private rememberKey(sandboxId: string, artifactId: string, key: string): void {
    let keys = this.knownKeys.get(sandboxId);
    if (!keys) {
      keys = new Map();
      this.knownKeys.set(sandboxId, keys);
    }
    if (keys.size >= KNOWN_KEYS) keys.clear();
    keys.set(artifactId, key);
  }

  private forgetKey(key: string): void {
    const parsed = parseGridKey(key);
    if (parsed) this.knownKeys.get(parsed.sandboxId)?.delete(parsed.artifactId);
  }

  private async replaceFile(path: string, content: string): Promise<void> {
    const temp = this.tempPath();
    try {
      await writeDurably(temp, content);
      await rename(temp, path);
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
  }

  /** Every key under `grid/{sandbox}/` or `grid/{sandbox}/{session}/`, sorted as strings. */
  private async keysUnder(prefix: string): Promise<string[]> {
    const parts = prefix.split("/");
    if (parts[0] !== "grid" || parts[parts.length - 1] !== "" || (parts.length !== 3 && parts.length !== 4)) {
      throw new Error(`unsupported list prefix: ${prefix}`);
    }
    const sandboxId = parts[1]!;
    const sessions = parts.length === 4 ? [parts[2]!] : await listDir(join(this.root, "grid", sandboxId));
    const keys: string[] = [];
    for (const sessionId of sessions) {
      for (const artifactId of await listDir(join(this.root, "grid", sandboxId, sessionId))) {
        const key = `grid/${sandboxId}/${sessionId}/${artifactId}`;
        if (parseGridKey(key)) keys.push(key);
      }
    }
    return keys.sort();
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

async function writeDurably(path: string, content: string | AsyncIterable<Uint8Array>): Promise<void> {
  const handle = await open(path, "wx");
  try {
    if (typeof content === "string") await handle.writeFile(content, "utf8");
    else {
      for await (const chunk of content) {
        for (let offset = 0; offset < chunk.byteLength; ) {
          offset += (await handle.write(chunk, offset, chunk.byteLength - offset)).bytesWritten;
        }
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function* emptyStream(): AsyncIterable<Uint8Array> {}

async function* once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  yield chunk;
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
