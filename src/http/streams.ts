import type { Readable } from "node:stream";
import { BodyTooLargeError } from "../body.js";
import { ValidationError } from "../errors.js";

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
 * A streamed answer. Under `createNodeServer` its chunks go straight to the socket (the node
 * server finds them here); anywhere else the web stream carries them.
 */
export function streamedResponse(source: AsyncIterable<Uint8Array>, init: ResponseInit): Response {
  const response = new Response(toWebStream(source), init);
  nodeResponseBodies.set(response, source);
  return response;
}

/** The chunks behind a `streamedResponse`, once; its web stream must then never be read. */
export function takeNodeResponseBody(response: Response): AsyncIterable<Uint8Array> | undefined {
  const source = nodeResponseBodies.get(response);
  nodeResponseBodies.delete(response);
  return source;
}

const nodeResponseBodies = new WeakMap<Response, AsyncIterable<Uint8Array>>();

/**
 * A request body as data `store()` / `updateFile()` accept: the chunks themselves (an async
 * iterable), so they flow through without an adapter.
 */
export function asData(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  return source;
}

/**
 * The Node request behind each web Request that `createNodeServer` hands to the app. Its body is
 * read straight from the socket's stream: turning it into a web stream first (what reading
 * `request.body` does under @hono/node-server) costs more than the rest of a small upload.
 */
const nodeBodies = new WeakMap<Request, Readable>();

export function attachNodeBody(request: Request, incoming: Readable): void {
  nodeBodies.set(request, incoming);
}

/** The request body as chunks, refusing (BodyTooLargeError) past `maxBytes`. */
export async function* requestChunks(request: Request, maxBytes: number | null): AsyncIterable<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (maxBytes !== null && declared !== null && Number(declared) > maxBytes) {
    throw new BodyTooLargeError(`body is larger than the limit of ${maxBytes} bytes`);
  }
  const incoming = nodeBodies.get(request);
  // Untouched so far (nobody has turned it into a web stream or started reading it).
  if (incoming && incoming.readableFlowing === null && !incoming.readableDidRead) {
    try {
      yield* limited(incoming.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>, maxBytes);
    } catch (err) {
      // The client went away mid-body: its request failed, the server did not (no 5xx, no log).
      if (incoming.errored === err)
        throw new ValidationError("the request body ended early: the client closed it");
      throw err;
    }
    return;
  }
  if (!request.body) return;
  const reader = request.body.getReader();
  try {
    yield* limited(
      {
        async *[Symbol.asyncIterator]() {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            yield value;
          }
        },
      },
      maxBytes,
    );
  } finally {
    reader.releaseLock();
  }
}

async function* limited(
  source: AsyncIterable<Uint8Array>,
  maxBytes: number | null,
): AsyncIterable<Uint8Array> {
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.byteLength;
    if (maxBytes !== null && seen > maxBytes) {
      throw new BodyTooLargeError(`body is larger than the limit of ${maxBytes} bytes`);
    }
    yield chunk;
  }
}
