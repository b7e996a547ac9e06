import { ValidationError } from "../errors.js";

/**
 * A streaming multipart/form-data reader, so a file field flows to storage without being held in
 * memory. Parts come in order; a part's body must be consumed (or skipped with `text`) before the
 * next part is requested.
 */

export interface FormPart {
  name: string;
  filename: string | null;
  contentType: string | null;
  body: AsyncIterable<Uint8Array>;
}

const MAX_HEADER_BYTES = 16 * 1024;
const MAX_PARTS = 100;

export function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new ValidationError("multipart/form-data needs a boundary parameter");
  return boundary;
}

/** Reads a text field, refusing one longer than `maxBytes`. */
export async function partText(part: FormPart, maxBytes: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of part.body) {
    total += chunk.byteLength;
    if (total > maxBytes)
      throw new ValidationError(`form field ${part.name} is longer than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function* formParts(
  source: AsyncIterable<Uint8Array>,
  boundary: string,
): AsyncIterable<FormPart> {
  const reader = new BufferedReader(source);
  const opening = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // Preamble, then the first boundary line.
  if (!(await reader.skipPast(opening, 64 * 1024))) throw malformed("no opening boundary");
  for (let count = 0; ; count++) {
    const after = await reader.take(2);
    if (after.equals(Buffer.from("--"))) return;
    if (!after.equals(Buffer.from("\r\n"))) throw malformed("bad boundary line");
    if (count >= MAX_PARTS) throw new ValidationError(`a form may have at most ${MAX_PARTS} parts`);
    const head = await reader.takeUntil(Buffer.from("\r\n\r\n"), MAX_HEADER_BYTES);
    if (head === null) throw malformed("part headers are missing or too long");
    const headers = parseHeaders(head.toString("utf8"));
    const disposition = headers.get("content-disposition") ?? "";
    const name = param(disposition, "name");
    if (!/^form-data\b/i.test(disposition) || name === null)
      throw malformed("a part without a form-data name");
    let finished = false;
    const body = (async function* () {
      yield* reader.streamUntil(delimiter);
      finished = true;
    })();
    yield {
      name,
      filename: param(disposition, "filename"),
      contentType: headers.get("content-type") ?? null,
      body,
    };
    if (!finished) for await (const _ of body);
  }
}

function malformed(why: string): ValidationError {
  return new ValidationError(`malformed multipart/form-data body: ${why}`);
}

function parseHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function param(header: string, name: string): string | null {
  const match = new RegExp(`;\\s*${name}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(header);
  if (match) return match[1]!.replace(/\\(.)/g, "$1");
  const bare = new RegExp(`;\\s*${name}=([^;\\s]+)`, "i").exec(header);
  return bare ? bare[1]! : null;
}

/** Byte-level reading over a chunk source with a small look-ahead buffer. */
class BufferedReader {
  private buffer = Buffer.alloc(0);
  private readonly iterator: AsyncIterator<Uint8Array>;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const { done, value } = await this.iterator.next();
    if (done) {
      this.ended = true;
      return false;
    }
    this.buffer = this.buffer.length === 0 ? Buffer.from(value) : Buffer.concat([this.buffer, value]);
    return true;
  }

  async take(n: number): Promise<Buffer> {
    while (this.buffer.length < n) if (!(await this.fill())) throw malformed("the body ended early");
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Drops everything up to and including `marker`; false if the body ends first or `limit` passes. */
  async skipPast(marker: Buffer, limit: number): Promise<boolean> {
    for (;;) {
      const at = this.buffer.indexOf(marker);
      if (at >= 0) {
        this.buffer = this.buffer.subarray(at + marker.length);
        return true;
      }
      if (this.buffer.length > limit) return false;
      if (!(await this.fill())) return false;
    }
  }

  /** The bytes before `marker` (which is consumed), or null past `limit`. */
  async takeUntil(marker: Buffer, limit: number): Promise<Buffer | null> {
    for (;;) {
      const at = this.buffer.indexOf(marker);
      if (at >= 0) {
        const out = this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at + marker.length);
        return out;
      }
      if (this.buffer.length > limit) return null;
      if (!(await this.fill())) return null;
    }
  }

  /** Yields bytes up to `marker` (consumed), holding back only what could be its start. */
  async *streamUntil(marker: Buffer): AsyncIterable<Uint8Array> {
    for (;;) {
      const at = this.buffer.indexOf(marker);
      if (at >= 0) {
        const out = this.buffer.subarray(0, at);
        this.buffer = this.buffer.subarray(at + marker.length);
        if (out.length > 0) yield out;
        return;
      }
      const safe = this.buffer.length - (marker.length - 1);
      if (safe > 0) {
        const out = this.buffer.subarray(0, safe);
        this.buffer = this.buffer.subarray(safe);
        yield out;
      }
      if (!(await this.fill())) throw malformed("the body ended inside a part");
    }
  }
}
