import { BodyTooLargeError } from "../body.js";

/**
 * Bodies in both directions move chunk by chunk with backpressure: a response stream pulls the
 * next chunk only when the socket wants it, and a request body is read only as fast as storage
 * writes it. Nothing here holds a whole artifact.
 */

/** A web ReadableStream over an async iterable; cancelling it closes the source (file, socket). */
export function toWebStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await iterator.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (err) {
          controller.error(err);
        }
      },
      async cancel() {
        await iterator.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * A request body as data `store()` / `updateFile()` accept (a web stream), so it flows through
 * without a buffering adapter.
 */
export function asData(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  return toWebStream(source);
}

/** The request body as chunks, refusing (BodyTooLargeError) past `maxBytes`. */
export async function* requestChunks(request: Request, maxBytes: number | null): AsyncIterable<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (maxBytes !== null && declared !== null && Number(declared) > maxBytes) {
    throw new BodyTooLargeError(`body is larger than the limit of ${maxBytes} bytes`);
  }
  if (!request.body) return;
  const reader = request.body.getReader();
  let seen = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      seen += value.byteLength;
      if (maxBytes !== null && seen > maxBytes) {
        throw new BodyTooLargeError(`body is larger than the limit of ${maxBytes} bytes`);
      }
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
