import type { Server, ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createAdaptorServer } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { attachNodeBody, takeNodeResponseBody } from "./streams.js";

/** Anything with a web-standard `fetch`, such as the Hono app `createHttpHandler` returns. */
export interface FetchHandler {
  fetch(request: Request, env: unknown): Response | Promise<Response>;
}

/**
 * A node:http server for the handler, as `chuk-artifacts serve` runs it. `handler` is read per
 * request, so a server can start listening before its handler exists (then it answers 503).
 *
 * Bodies skip the web-stream round trip the adapter would make: an upload is read from the Node
 * request itself (see `requestChunks`), and a streamed download is piped from its source to the
 * Node response with backpressure (see `streamedResponse`). Everything else is the adapter's.
 */
export function createNodeServer(handler: () => FetchHandler | null): Server {
  return createAdaptorServer({
    fetch: (request, bindings) => {
      if (request.method !== "GET" && request.method !== "HEAD") attachNodeBody(request, bindings.incoming);
      const current = handler();
      if (!current) {
        return Response.json(
          { error: { code: "STARTING", message: "the server is starting" } },
          { status: 503 },
        );
      }
      const answer = current.fetch(request, bindings);
      return answer instanceof Promise
        ? answer.then((response) => direct(response, bindings.outgoing))
        : direct(answer, bindings.outgoing);
    },
  }) as Server;
}

/** Writes a streamed response's chunks straight to `outgoing`; any other response goes back to the adapter. */
function direct(response: Response, outgoing: ServerResponse | Http2ServerResponse): Response {
  const source = takeNodeResponseBody(response);
  if (!source) return response;
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  outgoing.writeHead(response.status, headers);
  // A failed source (a sha256 mismatch at the end of a full read) destroys the response before
  // its last chunk: the client sees a truncated body, never a complete one.
  pipeline(Readable.from(source, { objectMode: false }), outgoing as NodeJS.WritableStream).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== "ERR_STREAM_PREMATURE_CLOSE") {
        console.error(`chuk-artifacts http: streamed body failed: ${err.name}: ${err.message}`);
      }
    },
  );
  return RESPONSE_ALREADY_SENT;
}
