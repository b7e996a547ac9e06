import { heldChunks } from "../body.js";
import { ConflictError } from "../errors.js";
import type {
  DriverCapabilities,
  MetaSource,
  ObjectBody,
  ObjectHead,
  ParsedSlot,
  PutObjectOptions,
  PutResult,
  StorageDriver,
  WriteCondition,
} from "./driver.js";
import { firstAbove } from "./paging.js";
import type { ByteRange } from "./provider.js";

/**
 * Shaped as its own head, so head() hands it out without building one (callers never change a
 * head). Its meta text is made the first time it is read, when the writer handed a function.
 */
class StoredObject implements ObjectHead {
  readonly size: number;
  readonly modifiedAt = Date.now();
  readonly parsed: ParsedSlot;
  private text: MetaSource;

  constructor(
    readonly body: Blocks,
    meta: MetaSource,
    readonly etag: string,
    parsed: ParsedSlot | undefined,
  ) {
    this.size = body.byteLength;
    this.text = meta;
    this.parsed = parsed ?? { value: undefined, view: undefined };
  }

  get meta(): string {
    if (typeof this.text !== "string") this.text = this.text();
    return this.text;
  }
}

/**
 * A key's place: the object stored under it now, none once it is deleted. The id index holds
 * places, so a read by id finds its object in one map lookup, not an id lookup and a key lookup.
 */
class Place {
  constructor(
    readonly key: string,
    public object: StoredObject | null,
  ) {}
}

/** In-process objects: a Map from key to bytes and meta. Lost on exit; one process only. */
export class MemoryDriver implements StorageDriver {
  readonly name = "memory";
  readonly capabilities: DriverCapabilities = {
    persistent: false,
    shared: false,
    inlineMetaBytes: Number.POSITIVE_INFINITY,
    // Memory holds every byte anyway: always one object with its record.
    inlineBodyBytes: Number.POSITIVE_INFINITY,
    conditionalCopy: true,
    atomicConditionalWrites: true,
    nativePresign: false,
    nativeMultipart: false,
    parsedSlots: true,
  };
  /** Key → its place; a place leaves the map (and drops its object) when the key is deleted. */
  private readonly objects = new Map<string, Place>();
  /** Keys per folder (up to the last `/`), sorted lazily: listing a session is no full scan. */
  private readonly folders = new Map<string, { keys: Set<string>; sorted: SortedKeys }>();
  /** Every key, sorted lazily: wider prefixes list from it. */
  private readonly allSorted = new SortedKeys(() => this.objects.keys());
  /**
   * sandboxId → artifactId → the place of its key. Nested, so a lookup hashes the caller's id
   * strings, never a new one. A place with no object (the id was remembered before its key was
   * written, or the key was deleted and written again) is swapped for the key's current one on read.
   */
  private readonly ids = new Map<string, Map<string, Place>>();
  private writes = 0;

  metaBytes(meta: string): number {
    return meta.length;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, options: PutObjectOptions): Promise<PutResult> {
    const held = heldChunks(body);
    const bytes = held ? Blocks.of(held) : await Blocks.from(body);
    // Checked after the body arrived and set in the same turn: nothing can come in between.
    this.check(key, options);
    const etag = this.nextEtag();
    this.set(key, new StoredObject(bytes, options.meta, etag, options.parsed));
    return { etag, bytes: bytes.byteLength };
  }

  async head(key: string): Promise<ObjectHead | null> {
    return this.headNow(key);
  }

  headNow(key: string): ObjectHead | null {
    return this.objects.get(key)?.object ?? null;
  }

  chunksNow(key: string): readonly Uint8Array[] | null {
    return this.objects.get(key)?.object?.body.all ?? null;
  }

  async get(key: string, range?: ByteRange): Promise<ObjectBody | null> {
    const found = this.objects.get(key)?.object;
    if (!found) return null;
    const { body } = found;
    const start = range ? Math.min(range.start, body.byteLength) : 0;
    const end = range ? Math.min(range.end + 1, body.byteLength) : body.byteLength;
    return {
      etag: found.etag,
      size: body.byteLength,
      // Read through: the text is made only if a reader asks for it (the slot answers the rest).
      get meta() {
        return found.meta;
      },
      parsed: found.parsed,
      stream: body.slices(start, end),
      length: Math.max(0, end - start),
    };
  }

  async copy(
    from: string,
    to: string,
    options: WriteCondition & { meta: MetaSource; sourceEtag?: string; parsed?: ParsedSlot },
  ): Promise<{ etag: string } | null> {
    const source = this.objects.get(from)?.object;
    if (!source) return null;
    if (options.sourceEtag !== undefined && source.etag !== options.sourceEtag) {
      throw new ConflictError(`${from} changed before it could be copied`);
    }
    this.check(to, options);
    const etag = this.nextEtag();
    // Blocks are immutable: the copy shares them.
    this.set(to, new StoredObject(source.body, options.meta, etag, options.parsed));
    return { etag };
  }

  async delete(key: string, condition: { ifMatch?: string } = {}): Promise<boolean> {
    // Checked and deleted in the same turn: nothing can come in between.
    if (condition.ifMatch !== undefined) this.check(key, condition);
    const place = this.objects.get(key);
    if (!place) return false;
    this.objects.delete(key);
    place.object = null;
    this.allSorted.keyRemoved();
    const folder = this.folders.get(folderOf(key));
    if (folder) {
      folder.keys.delete(key);
      folder.sorted.keyRemoved();
      if (folder.keys.size === 0) this.folders.delete(folderOf(key));
    }
    return true;
  }

  async list(
    prefix: string,
    options: { limit: number; after?: string | null },
  ): Promise<{ keys: string[]; more: boolean }> {
    return this.listNow(prefix, options);
  }

  listNow(
    prefix: string,
    options: { limit: number; after?: string | null },
  ): { keys: string[]; more: boolean } {
    const { sorted, from, to } = this.keysUnder(prefix);
    const after = options.after ?? null;
    const start = after === null ? from : Math.max(from, firstAbove(sorted, after, false));
    const keys: string[] = [];
    // The sorted keys may still hold some that are gone (SortedKeys): those are skipped.
    for (let i = start; i < to; i++) {
      const key = sorted[i]!;
      if (!this.objects.has(key)) continue;
      if (keys.length === options.limit) return { keys, more: true };
      keys.push(key);
    }
    return { keys, more: false };
  }

  async locate(sandboxId: string, artifactId: string): Promise<string | null> {
    return this.locateNow(sandboxId, artifactId);
  }

  locateNow(sandboxId: string, artifactId: string): string | null {
    return this.ids.get(sandboxId)?.get(artifactId)?.key ?? null;
  }

  headOfIdNow(sandboxId: string, artifactId: string): ObjectHead | null {
    const ids = this.ids.get(sandboxId);
    const place = ids?.get(artifactId);
    if (!ids || !place) return null;
    if (place.object) return place.object;
    const now = this.objects.get(place.key);
    if (!now) return null;
    ids.set(artifactId, now);
    return now.object;
  }

  async remember(sandboxId: string, artifactId: string, key: string): Promise<void> {
    let ids = this.ids.get(sandboxId);
    if (!ids) {
      ids = new Map();
      this.ids.set(sandboxId, ids);
    }
    // Remembered while the bytes are written: the key may have no place yet (found on read).
    ids.set(artifactId, this.objects.get(key) ?? new Place(key, null));
  }

  async forget(sandboxId: string, artifactId: string): Promise<void> {
    this.ids.get(sandboxId)?.delete(artifactId);
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `${this.objects.size} objects in memory` };
  }

  describe(): Record<string, unknown> {
    return { objects: this.objects.size };
  }

  async close(): Promise<void> {}

  private check(key: string, condition: WriteCondition): void {
    // A write with no condition (a fresh random key) needs no lookup.
    if (!condition.ifNoneMatch && condition.ifMatch === undefined) return;
    const current = this.objects.get(key)?.object;
    if (condition.ifNoneMatch && current) throw new ConflictError(`${key} already exists`);
    if (condition.ifMatch !== undefined && current?.etag !== condition.ifMatch) {
      throw new ConflictError(`${key} changed or was deleted`);
    }
  }

  private nextEtag(): string {
    this.writes += 1;
    return `m${this.writes}`;
  }

  private set(key: string, object: StoredObject): void {
    const place = this.objects.get(key);
    // An overwrite keeps its place (and its spot in the sorted keys); a new key joins its folder.
    if (place) place.object = object;
    else {
      this.objects.set(key, new Place(key, object));
      const name = folderOf(key);
      let folder = this.folders.get(name);
      if (!folder) {
        const keys = new Set<string>();
        folder = { keys, sorted: new SortedKeys(() => keys) };
        this.folders.set(name, folder);
      }
      folder.keys.add(key);
      folder.sorted.keyAdded();
      this.allSorted.keyAdded();
    }
  }

  private anyFolderUnder(prefix: string): boolean {
    for (const name of this.folders.keys()) if (name.startsWith(prefix)) return true;
    return false;
  }

  /** Sorted keys and the range of them under a prefix: one folder's keys directly, else of all. */
  private keysUnder(prefix: string): { sorted: readonly string[]; from: number; to: number } {
    if (prefix.endsWith("/") && slashes(prefix) === 3) {
      const folder = this.folders.get(prefix);
      // Only when no deeper folder can exist under it (the session folders hold no subfolders).
      if (folder) {
        const sorted = folder.sorted.get();
        return { sorted, from: 0, to: sorted.length };
      }
      // A session nothing was written to yet (its first write looks here for an owner): no sort of
      // every key to find that out.
      if (!this.anyFolderUnder(prefix)) return { sorted: [], from: 0, to: 0 };
    }
    const all = this.allSorted.get();
    const from = firstAbove(all, prefix, true);
    let to = from;
    while (to < all.length && all[to]!.startsWith(prefix)) to++;
    return { sorted: all, from, to };
  }
}

/**
 * Keys in order, sorted when first read. A key that comes makes it sort again on the next read; a
 * key that goes stays in it, for readers to skip, until such keys are half of it: so deleting a
 * large session a page at a time sorts once, not once per page.
 */
class SortedKeys {
  private sorted: string[] | null = null;
  private gone = 0;

  constructor(private readonly keys: () => Iterable<string>) {}

  get(): readonly string[] {
    this.sorted ??= [...this.keys()].sort();
    return this.sorted;
  }

  keyAdded(): void {
    this.sorted = null;
    this.gone = 0;
  }

  keyRemoved(): void {
    if (this.sorted !== null && ++this.gone * 2 > this.sorted.length) this.keyAdded();
  }
}

function slashes(text: string): number {
  let n = 0;
  for (let at = text.indexOf("/"); at !== -1; at = text.indexOf("/", at + 1)) n++;
  return n;
}

function folderOf(key: string): string {
  return key.slice(0, key.lastIndexOf("/") + 1);
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
    const gather = Blocks.gatherer();
    for await (const chunk of source) gather.push(chunk);
    return gather.done();
  }

  /** Chunks at hand, copied into blocks at once. */
  static of(chunks: readonly Uint8Array[]): Blocks {
    const gather = Blocks.gatherer();
    for (const chunk of chunks) gather.push(chunk);
    return gather.done();
  }

  private static gatherer() {
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
    return {
      push(chunk: Uint8Array) {
        pending.push(chunk);
        pendingBytes += chunk.byteLength;
        total += chunk.byteLength;
        if (pendingBytes >= BLOCK_BYTES) flush();
      },
      done() {
        flush();
        return new Blocks(blocks, total);
      },
    };
  }

  /** Every block, in order (shared: blocks are never changed). */
  get all(): readonly Buffer[] {
    return this.blocks;
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
}
