import type { Readable } from "node:stream";
import type { ArtifactStoreOptions } from "../config.js";
import { ArtifactStore } from "../store.js";

/**
 * One side of a comparison: this library (`ours`) or the bare backend doing the same work (`raw`).
 * Every workload is written once against this interface, so both sides run the identical loop.
 */
export interface Subject {
  readonly side: "ours" | "raw";
  /** Stores one artifact in `sessionId`; returns the handle later calls use. */
  store(data: Uint8Array, sessionId: string): Promise<string>;
  /** Stores many artifacts in `sessionId` as one batch call. */
  storeBatch(items: Uint8Array[], sessionId: string): Promise<string[]>;
  /** Reads the bytes back and checks them against the recorded sha256. */
  retrieve(id: string): Promise<Uint8Array>;
  /** Replaces the content (new size and sha256 recorded). */
  update(id: string, data: Uint8Array): Promise<void>;
  metadata(id: string): Promise<unknown>;
  presign(id: string): Promise<string>;
  /** Lists every artifact of a session, all pages; returns how many. */
  list(sessionId: string): Promise<number>;
  /** Streams `source` in as one artifact; returns its handle. */
  storeStream(source: Readable, sessionId: string): Promise<string>;
  /** Streams an artifact out, handing each chunk to `sink`; returns the recorded sha256. */
  readStream(id: string, sink: (chunk: Uint8Array) => void): Promise<string>;
  delete(id: string): Promise<void>;
  /** Removes a whole session (untimed housekeeping between reps). */
  dropSession(sessionId: string): Promise<void>;
  close(): Promise<void>;
}

/** Concurrency `storeBatch` uses unless told otherwise; the raw batches use the same. */
export const BATCH_CONCURRENCY = 16;

/** This library, used the way its README shows: by artifact id alone, with a session on writes. */
export class OursSubject implements Subject {
  readonly side = "ours" as const;
  readonly lib: ArtifactStore;

  constructor(options: ArtifactStoreOptions) {
    this.lib = new ArtifactStore({ signingSecret: "bench-signing-secret", ...options });
  }

  async open(): Promise<this> {
    await this.lib.backends();
    return this;
  }

  store(data: Uint8Array, sessionId: string): Promise<string> {
    return this.lib.store(data, { sessionId, mime: "application/octet-stream" });
  }

  async storeBatch(items: Uint8Array[], sessionId: string): Promise<string[]> {
    const ids = await this.lib.storeBatch(
      items.map((data) => ({ data, mime: "application/octet-stream" })),
      { sessionId, concurrency: BATCH_CONCURRENCY },
    );
    if (ids.some((id) => id === null)) throw new Error("storeBatch: an item failed");
    return ids as string[];
  }

  retrieve(id: string): Promise<Uint8Array> {
    return this.lib.retrieve(id);
  }

  async update(id: string, data: Uint8Array): Promise<void> {
    await this.lib.updateFile(id, { data });
  }

  metadata(id: string): Promise<unknown> {
    return this.lib.metadata(id);
  }

  presign(id: string): Promise<string> {
    return this.lib.presign(id);
  }

  async list(sessionId: string): Promise<number> {
    return (await this.lib.listBySession(sessionId)).length;
  }

  storeStream(source: Readable, sessionId: string): Promise<string> {
    return this.lib.store(source, { sessionId, mime: "application/octet-stream" });
  }

  async readStream(id: string, sink: (chunk: Uint8Array) => void): Promise<string> {
    const { metadata, body } = await this.lib.openStream(id);
    for await (const chunk of body.stream) sink(chunk);
    return metadata.sha256;
  }

  async delete(id: string): Promise<void> {
    await this.lib.delete(id);
  }

  async dropSession(sessionId: string): Promise<void> {
    await this.lib.deleteSession(sessionId);
  }

  close(): Promise<void> {
    return this.lib.close();
  }
}
