import { createHash, randomBytes } from "node:crypto";
import { collect } from "../../src/body.js";
import type { OpenedBody } from "../../src/storage/provider.js";

/** Byte sources and sinks for the storage contract suite; hashes come from node:crypto directly. */

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Random bytes, so two bodies of the same size still differ. */
export function randomBody(size: number): Buffer {
  return randomBytes(size);
}

/** Yields `data` in one chunk. */
export async function* single(data: Uint8Array): AsyncIterable<Uint8Array> {
  yield data;
}

/**
 * Yields `data` as views (non-zero byteOffset) of uneven sizes cycling through `sizes`, so a
 * provider that ignores a view's offset or assumes equal chunks writes the wrong bytes.
 */
export async function* chunked(data: Uint8Array, sizes: number[]): AsyncIterable<Uint8Array> {
  let offset = 0;
  let i = 0;
  while (offset < data.byteLength) {
    const size = Math.max(1, sizes[i++ % sizes.length]!);
    yield data.subarray(offset, Math.min(offset + size, data.byteLength));
    offset += size;
    // Let other work (a concurrent reader, the provider's own I/O) run between chunks.
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
}

/** Yields the first `before` bytes of `data`, then throws `error`: a client that dies mid-upload. */
export async function* failingAfter(
  data: Uint8Array,
  before: number,
  error: Error,
): AsyncIterable<Uint8Array> {
  yield* chunked(data.subarray(0, before), [1000, 333]);
  throw error;
}

/** Reads an opened body to the end. */
export function readBody(opened: OpenedBody): Promise<Buffer> {
  return collect(opened.stream);
}
