import { BodyTooLargeError, collect, Measured, sha256Hex } from "../body.js";
import type { ArtifactRecord } from "../metadata.js";
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
  body: Buffer | null;
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
  private readonly index = new Map<string, string>();

  async put(
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ArtifactRecord> {
    const measured = new Measured(body, options.maxBytes ?? null);
    const bytes = await collect(measured);
    const committed = { ...record, bytes: bytes.byteLength, sha256: measured.sha256 };
    // One Map assignment: readers see the old entry or the new one.
    this.entries.set(record.key, { record: structuredClone(committed), body: bytes });
    this.index.set(indexKey(record.sandboxId, record.artifactId), record.key);
    return committed;
  }

  async putRecord(record: ArtifactRecord): Promise<void> {
    const existing = this.entries.get(record.key);
    this.entries.set(record.key, { record: structuredClone(record), body: existing?.body ?? null });
    this.index.set(indexKey(record.sandboxId, record.artifactId), record.key);
  }

  async getRecord(key: string): Promise<ArtifactRecord | null> {
    const entry = this.entries.get(key);
    return entry ? structuredClone(entry.record) : null;
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
    const committed = { ...record, bytes: entry.body.byteLength, sha256: sha256Hex(entry.body) };
    this.entries.set(record.key, { record: structuredClone(committed), body: entry.body });
    return committed;
  }

  async openBody(key: string, range?: ByteRange): Promise<OpenedBody | null> {
    const entry = this.entries.get(key);
    if (!entry?.body) return null;
    const { body } = entry;
    const slice = range ? body.subarray(range.start, range.end + 1) : body;
    return {
      stream: (async function* () {
        yield slice;
      })(),
      length: slice.byteLength,
      totalBytes: body.byteLength,
      sha256: entry.record.sha256,
    };
  }

  async copy(sourceKey: string, record: ArtifactRecord): Promise<ArtifactRecord> {
    const source = this.entries.get(sourceKey);
    if (!source?.body) throw new Error(`no body at ${sourceKey}`);
    const committed = { ...record, bytes: source.body.byteLength, sha256: source.record.sha256 };
    this.entries.set(record.key, { record: structuredClone(committed), body: source.body });
    this.index.set(indexKey(record.sandboxId, record.artifactId), record.key);
    return committed;
  }

  async delete(key: string): Promise<boolean> {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.index.delete(indexKey(entry.record.sandboxId, entry.record.artifactId));
    return true;
  }

  async list(prefix: string, options: { limit: number; cursor?: string | null }): Promise<ListPage> {
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(prefix)).sort();
    const { items, cursor } = pageAfter(keys, options.limit, options.cursor ?? null);
    return { records: items.map((k) => structuredClone(this.entries.get(k)!.record)), cursor };
  }

  async locate(sandboxId: string, artifactId: string): Promise<string | null> {
    return this.index.get(indexKey(sandboxId, artifactId)) ?? null;
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `${this.entries.size} artifacts in memory` };
  }

  describe(): Record<string, unknown> {
    return { artifacts: this.entries.size };
  }

  async close(): Promise<void> {}
}

function indexKey(sandboxId: string, artifactId: string): string {
  return `${sandboxId}/${artifactId}`;
}
