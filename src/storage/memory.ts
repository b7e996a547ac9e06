import { createHash } from "node:crypto";
import { BodyTooLargeError, Measured } from "../body.js";
import type { ArtifactRecord } from "../metadata.js";
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

interface Entry {
  record: ArtifactRecord;
  body: Blocks | null;
}

/** In-process storage: a Map from grid key to record and bytes. Lost on exit; one process only. */
export class MemoryStorageProvider implements StorageProvider {
  readonly name = "memory";
  readonly capabilities: StorageCapabilities = {
    persistent: false,
    shared: false,
    nativePresign: false,
    nativeMultipart: false,
  };
  private readonly entries = new Map<string, Entry>();
  /** sandboxId → artifactId → key. Nested, so a lookup hashes the caller's id strings, never a new one. */
  private readonly index = new Map<string, Map<string, string>>();
  /** Keys per session prefix (`grid/{sandbox}/{session}/`), sorted lazily: listing one is no full scan. */
  private readonly sessions = new Map<string, { keys: Set<string>; sorted: string[] | null }>();

  async put(
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ArtifactRecord> {
    const measured = new Measured(body, options.maxBytes ?? null);
    const bytes = await Blocks.from(measured);
    const committed = { ...record, bytes: bytes.byteLength, sha256: measured.sha256 };
    // One Map assignment: readers see the old entry or the new one.
    this.setEntry(record.key, { record: copyRecord(committed), body: bytes });
    this.indexSet(record.sandboxId, record.artifactId, record.key);
    return committed;
  }

  async putRecord(record: ArtifactRecord): Promise<void> {
    const existing = this.entries.get(record.key);
    assertContentUnchanged(existing?.record, record);
    this.setEntry(record.key, { record: copyRecord(record), body: existing?.body ?? null });
    this.indexSet(record.sandboxId, record.artifactId, record.key);
  }

  async getRecord(key: string): Promise<ArtifactRecord | null> {
    const entry = this.entries.get(key);
    return entry ? copyRecord(entry.record) : null;
  }

  async adoptUpload(
    record: ArtifactRecord,
    options: { maxBytes: number | null },
  ): Promise<ArtifactRecord | null> {
    const entry = this.entries.get(record.key);
    if (!entry?.body) return null;
    if (options.maxBytes !== null && entry.body.byteLength > options.maxBytes) {
      // Drop the index entry too, or `locate` would still name the deleted upload.
      await this.delete(record.key);
      throw new BodyTooLargeError(`upload is larger than the limit of ${options.maxBytes} bytes`);
    }
    const committed = { ...record, bytes: entry.body.byteLength, sha256: entry.body.sha256() };
    this.setEntry(record.key, { record: copyRecord(committed), body: entry.body });
    return committed;
  }

  async openBody(key: string, range?: ByteRange): Promise<OpenedBody | null> {
    const entry = this.entries.get(key);
    if (!entry?.body) return null;
    const { body } = entry;
    const start = range ? Math.min(range.start, body.byteLength) : 0;
    const end = range ? Math.min(range.end + 1, body.byteLength) : body.byteLength;
    return {
      stream: body.slices(start, end),
      length: Math.max(0, end - start),
      totalBytes: body.byteLength,
      sha256: entry.record.sha256,
    };
  }

  async copy(sourceKey: string, record: ArtifactRecord): Promise<ArtifactRecord> {
    const source = this.entries.get(sourceKey);
    if (!source?.body) throw new Error(`no body at ${sourceKey}`);
    const committed = { ...record, bytes: source.body.byteLength, sha256: source.record.sha256 };
    this.setEntry(record.key, { record: copyRecord(committed), body: source.body });
    this.indexSet(record.sandboxId, record.artifactId, record.key);
    return committed;
  }

  async delete(key: string): Promise<boolean> {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.deleteEntry(key);
    this.index.get(entry.record.sandboxId)?.delete(entry.record.artifactId);
    return true;
  }

  async list(prefix: string, options: { limit: number; cursor?: string | null }): Promise<ListPage> {
    const { items, cursor } = pageAfter(this.keysUnder(prefix), options.limit, options.cursor ?? null);
    return { records: items.map((k) => copyRecord(this.entries.get(k)!.record)), cursor };
  }

  async locate(sandboxId: string, artifactId: string): Promise<string | null> {
    return this.index.get(sandboxId)?.get(artifactId) ?? null;
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `${this.entries.size} artifacts in memory` };
  }

  describe(): Record<string, unknown> {
    return { artifacts: this.entries.size };
  }

  async close(): Promise<void> {}

  private indexSet(sandboxId: string, artifactId: string, key: string): void {
    let ids = this.index.get(sandboxId);
    if (!ids) {
      ids = new Map();
      this.index.set(sandboxId, ids);
    }
    ids.set(artifactId, key);
  }

  private setEntry(key: string, entry: Entry): void {
    if (!this.entries.has(key)) {
      const prefix = sessionPrefixOf(key);
      let session = this.sessions.get(prefix);
      if (!session) {
        session = { keys: new Set(), sorted: null };
        this.sessions.set(prefix, session);
      }
      session.keys.add(key);
      session.sorted = null;
    }
    this.entries.set(key, entry);
  }

  private deleteEntry(key: string): void {
    if (!this.entries.delete(key)) return;
    const prefix = sessionPrefixOf(key);
    const session = this.sessions.get(prefix);
    if (!session) return;
    session.keys.delete(key);
    session.sorted = null;
    if (session.keys.size === 0) this.sessions.delete(prefix);
  }

  /** Sorted keys under a prefix: one session's keys directly, anything else by a scan. */
  private keysUnder(prefix: string): string[] {
    if (prefix.split("/").length === 4 && prefix.endsWith("/")) {
      const session = this.sessions.get(prefix);
      if (!session) return [];
      session.sorted ??= [...session.keys].sort();
      return session.sorted;
    }
    return [...this.entries.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** Bytes are gathered into blocks of at least this size (a copy: callers may reuse their buffers). */
const BLOCK_BYTES = 1024 * 1024;

/**
 * Immutable bytes held as a list of blocks, so a large body is held once while it streams in —
 * never also as the chunks it arrived in and one concatenated copy.
 */
class Blocks {
  private constructor(
    private readonly blocks: Buffer[],
    readonly byteLength: number,
  ) {}

  static async from(source: AsyncIterable<Uint8Array>): Promise<Blocks> {
    const blocks: Buffer[] = [];
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let total = 0;
    const flush = () => {
      if (pending.length === 0) return;
      blocks.push(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    for await (const chunk of source) {
      pending.push(chunk);
      pendingBytes += chunk.byteLength;
      total += chunk.byteLength;
      if (pendingBytes >= BLOCK_BYTES) flush();
    }
    flush();
    return new Blocks(blocks, total);
  }

  /** The bytes from `start` (inclusive) to `end` (exclusive), as views of the blocks. */
  async *slices(start: number, end: number): AsyncIterable<Uint8Array> {
    let offset = 0;
    for (const block of this.blocks) {
      const from = Math.max(start - offset, 0);
      const to = Math.min(end - offset, block.byteLength);
      if (from < to) yield from === 0 && to === block.byteLength ? block : block.subarray(from, to);
      offset += block.byteLength;
      if (offset >= end) return;
    }
  }

  sha256(): string {
    const hash = createHash("sha256");
    for (const block of this.blocks) hash.update(block);
    return hash.digest("hex");
  }
}

function sessionPrefixOf(key: string): string {
  return key.slice(0, key.lastIndexOf("/") + 1);
}

/**
 * A copy that shares nothing mutable with the original. Records are flat apart from `meta` (plain
 * JSON, checked on the way in) and `upload`; a spread is far cheaper than structuredClone.
 */
function copyRecord(record: ArtifactRecord): ArtifactRecord {
  const copy: ArtifactRecord = { ...record, meta: copyJson(record.meta) };
  if (record.upload) copy.upload = { ...record.upload };
  return copy;
}

function copyJson(value: Record<string, unknown>): Record<string, unknown> {
  for (const _ in value) return structuredClone(value);
  return {};
}
