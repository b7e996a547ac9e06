import type { ArtifactMetadata } from "../metadata.js";
import type { ByteRange, OpenedBody } from "../storage/provider.js";
import type { RangeChooser } from "../store.js";
import { RangeNotSatisfiableError } from "./errors.js";
import { streamedResponse } from "./streams.js";

/**
 * Serves an artifact's bytes for a signed GET or a REST download: a single `Range` (206 with
 * Content-Range, 416 past the end), `If-None-Match` against the ETag (the artifact's etag, quoted; 304),
 * HEAD without opening the body. A large body streams and is never held whole; a small one is
 * read whole (its sha256 checked on the way) and sent in one write.
 */

/** Bodies up to this size are sent from one buffer: streaming costs more than the bytes. */
export const SMALL_BODY_BYTES = 64 * 1024;

export interface ArtifactSource {
  /** Metadata only (HEAD and conditional requests). */
  metadata(): Promise<ArtifactMetadata>;
  open(range: RangeChooser): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }>;
}

/**
 * `extra` headers go on every answer (CORS on signed URLs). Headers are plain objects, which
 * @hono/node-server writes out directly.
 */
export async function serveArtifact(
  request: Request,
  source: ArtifactSource,
  extra: Record<string, string> = {},
): Promise<Response> {
  const ifNoneMatch = request.headers.get("if-none-match");
  if (request.method === "HEAD" || ifNoneMatch !== null) {
    const metadata = await source.metadata();
    if (ifNoneMatch !== null && etagMatches(ifNoneMatch, etagOf(metadata))) {
      return new Response(null, {
        status: 304,
        headers: withHeaders(extra, { etag: etagOf(metadata), "cache-control": "private" }),
      });
    }
    if (request.method === "HEAD") {
      const headers = artifactHeaders(metadata, extra);
      headers["content-length"] = String(metadata.bytes);
      return new Response(null, { status: 200, headers });
    }
  }
  const rangeHeader = request.headers.get("range");
  let chosen: ByteRange | undefined;
  const { metadata, body } = await source.open((m) => {
    chosen = rangeHeader === null ? undefined : parseRange(rangeHeader, m.bytes);
    return chosen;
  });
  const headers = artifactHeaders(metadata, extra);
  headers["content-length"] = String(body.length);
  if (chosen) headers["content-range"] = `bytes ${chosen.start}-${chosen.end}/${body.totalBytes}`;
  const status = chosen ? 206 : 200;
  if (body.length === 0) return new Response(null, { status, headers });
  if (body.length <= SMALL_BODY_BYTES) return new Response(await whole(body.stream), { status, headers });
  return streamedResponse(body.stream, { status, headers });
}

/**
 * A small body in one buffer. A full read's stream checks the sha256 before its last chunk, so
 * corrupted bytes become an error answer here, never a 200. One chunk is sent as it is: it goes
 * to the socket, never to a caller who could change it.
 */
async function whole(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)) as Uint8Array<ArrayBuffer>;
}

/** The artifact's own etag (it changes with every write), quoted as HTTP wants it. */
export function etagOf(metadata: ArtifactMetadata): string {
  return `"${metadata.etag}"`;
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  return header.split(",").some((candidate) => candidate.trim().replace(/^W\//, "") === etag);
}

/**
 * One `bytes=` range against `total` bytes. Syntax it does not understand, and several ranges,
 * are ignored (the whole body is sent), as HTTP allows; a range past the end is a 416.
 */
export function parseRange(header: string, total: number): ByteRange | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "") {
    const suffix = Number(last);
    if (!Number.isSafeInteger(suffix)) return undefined;
    if (suffix === 0 || total === 0) throw new RangeNotSatisfiableError(total);
    return { start: Math.max(0, total - suffix), end: total - 1 };
  }
  const start = Number(first);
  const end = last === "" ? Number.MAX_SAFE_INTEGER : Number(last);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (start >= total) throw new RangeNotSatisfiableError(total);
  return { start, end: Math.min(end, total - 1) };
}

function artifactHeaders(metadata: ArtifactMetadata, extra: Record<string, string>): Record<string, string> {
  return withHeaders(extra, {
    "content-type": metadata.mime,
    etag: etagOf(metadata),
    "last-modified": new Date(metadata.updatedAt).toUTCString(),
    "accept-ranges": "bytes",
    "cache-control": "private, no-cache",
    "content-disposition": contentDisposition(metadata.filename),
    // Artifacts are user content: never sniffed, never run with this origin's rights.
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
  });
}

/**
 * `headers` with those of `extra` it does not set itself. Not a spread: on Node 20 spreading into
 * a literal that goes on with more fields costs about 10 µs, a twentieth of a small download's CPU.
 */
function withHeaders(extra: Record<string, string>, headers: Record<string, string>): Record<string, string> {
  for (const name in extra) headers[name] ??= extra[name]!;
  return headers;
}

/** `inline` with the filename's last path segment, ASCII-safe plus an RFC 8187 UTF-8 form. */
function contentDisposition(filename: string | null): string {
  if (!filename) return "inline";
  const base = filename.split("/").pop() || "download";
  const ascii = base.replace(/[^A-Za-z0-9._ -]/g, "_");
  return `inline; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(base)}`;
}
