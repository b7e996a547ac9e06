// The namespace, to find crypto.hash where this Node has it (a named import would fail to link).
import * as crypto from "node:crypto";
import { Readable } from "node:stream";
import { ValidationError } from "./errors.js";

/** Everything `store()` accepts as content. */
export type ArtifactData =
  | Uint8Array
  | ArrayBuffer
  | string
  | Blob
  | ReadableStream<Uint8Array>
  | NodeJS.ReadableStream
  | AsyncIterable<Uint8Array>;

/**
 * Normalises any accepted input to an async iterable of byte chunks without buffering streams, so
 * large inputs flow to the provider piece by piece. Anything else is a ValidationError.
 */
export function toChunks(data: unknown): AsyncIterable<Uint8Array> {
  if (typeof data === "string") return once(Buffer.from(data, "utf8"));
  if (data instanceof Uint8Array) return once(data);
  if (data instanceof ArrayBuffer) return once(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return once(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (typeof Blob !== "undefined" && data instanceof Blob) return fromWeb(data.stream());
  if (data instanceof ReadableStream) return fromWeb(data);
  if (data instanceof Readable) return asBytes(data);
  if (isAsyncIterable(data)) return asBytes(data);
  throw new ValidationError(
    "data must be a Uint8Array, ArrayBuffer, string, Blob, ReadableStream, Node Readable or async iterable of bytes " +
      `(got ${data === null ? "null" : typeof data})`,
  );
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

/**
 * A body whose chunks are all at hand (bytes given whole, or read already). It iterates like any
 * other; readers that check for it (heldChunks) take the chunks at once, without a turn per chunk.
 */
export class HeldChunks implements AsyncIterable<Uint8Array> {
  constructor(readonly chunks: readonly Uint8Array[]) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    yield* this.chunks;
  }
}

/** The chunks of a body that holds them all (HeldChunks), else null. */
export function heldChunks(body: AsyncIterable<Uint8Array>): readonly Uint8Array[] | null {
  return body instanceof HeldChunks ? body.chunks : null;
}

/** One chunk as a chunk source. */
export function once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  return new HeldChunks([chunk]);
}

/** Chunks at hand as a chunk source. */
export function chunksOf(chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  return new HeldChunks(chunks);
}

async function* fromWeb(stream: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield toUint8(value);
    }
  } finally {
    reader.releaseLock();
  }
}

async function* asBytes(stream: AsyncIterable<unknown>): AsyncIterable<Uint8Array> {
  for await (const chunk of stream) yield toUint8(chunk);
}

function toUint8(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  throw new ValidationError("stream chunks must be bytes or strings");
}

/** Thrown by `Measured` when a body passes its byte limit; nothing may be committed after it. */
export class BodyTooLargeError extends ValidationError {}

/** One-shot hashing (Node 20.12 and later): no Hash object for bytes at hand (sha256Hex). */
const hashOnce = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "hex") => string }).hash;

/**
 * Wraps a chunk source, counting bytes and hashing them as they pass. Aborts with BodyTooLargeError
 * as soon as `maxBytes` is passed, so an oversize upload is refused, never truncated.
 */
export class Measured implements AsyncIterable<Uint8Array> {
  bytes = 0;
  private hash: crypto.Hash | null = null;
  private digest: string | null = null;

  constructor(
    private readonly source: AsyncIterable<Uint8Array>,
    private readonly maxBytes: number | null = null,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for await (const chunk of this.source) {
      this.pass(chunk);
      yield chunk;
    }
  }

  /**
   * Counts, checks and hashes every chunk of a source that holds them all (HeldChunks) and
   * returns them, so nothing need be iterated; null for any other source, left to iterate.
   */
  takeHeld(): readonly Uint8Array[] | null {
    const held = heldChunks(this.source);
    if (held === null) return null;
    if (held.length === 1) {
      this.count(held[0]!);
      this.digest = sha256Hex(held[0]!);
      return held;
    }
    for (const chunk of held) this.pass(chunk);
    return held;
  }

  /** Counts and hashes a chunk going by; past `maxBytes`, refuses it. */
  private pass(chunk: Uint8Array): void {
    this.count(chunk);
    this.hash ??= crypto.createHash("sha256");
    this.hash.update(chunk);
  }

  private count(chunk: Uint8Array): void {
    this.bytes += chunk.byteLength;
    if (this.maxBytes !== null && this.bytes > this.maxBytes) {
      throw new BodyTooLargeError(`body is larger than the limit of ${this.maxBytes} bytes`);
    }
  }

  /** The hex sha256 of everything that passed; call once the source is exhausted. */
  get sha256(): string {
    this.digest ??= (this.hash ?? crypto.createHash("sha256")).digest("hex");
    return this.digest;
  }
}

export function sha256Hex(data: Uint8Array): string {
  return hashOnce ? hashOnce("sha256", data, "hex") : crypto.createHash("sha256").update(data).digest("hex");
}

/** Collects a chunk source into one Buffer. */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}
