import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { RawEnvelope, RawFilesystem } from "../raw-filesystem.js";
import type { RawMemory, RawRecord } from "../raw-memory.js";
import type { RawS3Redis } from "../raw-s3.js";
import { BENCH_API_KEY, BENCH_SIGNING_SECRET, BENCH_USER } from "./protocol.js";

/**
 * The raw HTTP baseline: a bare node:http handler doing the same work as the library's server with
 * the same guarantees, and nothing else. Signed URLs: HMAC-SHA256 over method, key, expiry (and
 * the size limit of an upload), compared in constant time; REST: the bearer key hashed and
 * compared in constant time, the artifact's session checked against the key's user. Full reads
 * are checked against sha256 before the last byte goes out; uploads are counted against their
 * limit, hashed, written, fsynced and renamed (filesystem) before the answer.
 */

/** Bodies up to this size are read whole and sent in one write (as the library does). */
const SMALL_BODY = 64 * 1024;

/** Where the raw server keeps bytes: the raw baselines of the store benchmark. */
export interface RawHttpBackend {
  /** A key for a new artifact of the bench's user. */
  newKey(): string;
  record(key: string): Promise<RawRecord>;
  /** A whole small body or a range of it; the caller checks the sha256 of a whole one. */
  bytes(record: RawRecord, range?: { start: number; end: number }): Promise<Uint8Array>;
  chunks(record: RawRecord): AsyncIterable<Uint8Array>;
  receive(
    key: string,
    source: AsyncIterable<Uint8Array>,
    maxBytes: number | null,
    pending: boolean,
  ): Promise<RawRecord>;
  register(key: string): Promise<RawRecord>;
}

export function memoryBackend(raw: RawMemory): RawHttpBackend {
  return {
    newKey: () => `${USER_SESSION}/${randomBytes(16).toString("hex")}`,
    record: async (key) => raw.entry(key).record,
    bytes: async (record, range) => {
      const body = raw.entry(record.key).body;
      return range ? body.subarray(range.start, range.end + 1) : body;
    },
    async *chunks(record) {
      yield raw.entry(record.key).body;
    },
    receive: async (key, source, maxBytes, pending) => {
      const hash = createHash("sha256");
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (maxBytes !== null && size > maxBytes) throw new TooLarge();
        hash.update(chunk);
        parts.push(chunk);
      }
      return raw.keep(key, Buffer.concat(parts), hash.digest("hex"), pending);
    },
    register: async (key) => raw.register(key),
  };
}

export function filesystemBackend(raw: RawFilesystem): RawHttpBackend {
  return {
    newKey: () => `${USER_SESSION}/${randomBytes(16).toString("hex")}`,
    record: (key) => raw.readEnvelope(key),
    bytes: async (record, range) => {
      const path = raw.bodyPath(record as RawEnvelope);
      if (!range) return readFile(path);
      const handle = await open(path, "r");
      try {
        const out = Buffer.allocUnsafe(range.end - range.start + 1);
        const { bytesRead } = await handle.read(out, 0, out.byteLength, range.start);
        return out.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
    chunks: (record) => createReadStream(raw.bodyPath(record as RawEnvelope), { highWaterMark: 64 * 1024 }),
    receive: (key, source, maxBytes, pending) => raw.writeStreamed(key, source, maxBytes, pending),
    register: (key) => raw.register(key),
  };
}

/** S3 + Redis: small bodies in one PutObject; uploads go straight to S3 and are adopted on register. */
export function s3Backend(raw: RawS3Redis): RawHttpBackend {
  return {
    newKey: () => raw.newKey(USER_SESSION),
    record: (key) => raw.record(key),
    bytes: (record, range) => raw.objectBytes(record.key, range),
    chunks: (record) => raw.objectChunks(record.key),
    receive: async (key, source, maxBytes, pending) => {
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (maxBytes !== null && size > maxBytes) throw new TooLarge();
        parts.push(chunk);
      }
      return raw.putWithRecord(key, Buffer.concat(parts), pending);
    },
    register: (key) => raw.adopt(key),
  };
}

const USER_SESSION = `user_${BENCH_USER}`;

class TooLarge extends Error {}

/** `GET\nkey\nexp` (with `\nmax` for uploads) under HMAC-SHA256, base64url. */
export function rawSign(method: "GET" | "PUT", key: string, exp: number, max?: number): string {
  const canonical = max === undefined ? `${method}\n${key}\n${exp}` : `${method}\n${key}\n${exp}\n${max}`;
  return createHmac("sha256", BENCH_SIGNING_SECRET).update(canonical).digest("base64url");
}

export function rawSignedPath(method: "GET" | "PUT", key: string, seconds: number, max?: number): string {
  const exp = Math.floor(Date.now() / 1000) + seconds;
  const limit = max === undefined ? "" : `&max=${max}`;
  return `/signed/${key}?m=${method}&exp=${exp}${limit}&sig=${rawSign(method, key, exp, max)}`;
}

const KEY_DIGEST = createHash("sha256").update(BENCH_API_KEY).digest();

export function rawServer(backend: RawHttpBackend): Server {
  return createServer((req, res) => {
    handle(backend, req, res).catch((err: unknown) => {
      const status = err instanceof TooLarge ? 413 : 500;
      if (res.headersSent) res.destroy();
      else send(res, status, { error: String(err) });
    });
  });
}

async function handle(backend: RawHttpBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  if (path.startsWith("/signed/")) {
    const key = path.slice("/signed/".length);
    const query = new URLSearchParams(q === -1 ? "" : url.slice(q + 1));
    const method = req.method === "PUT" ? "PUT" : "GET";
    const exp = Number(query.get("exp"));
    const max = query.get("max");
    const expected = Buffer.from(rawSign(method, key, exp, max === null ? undefined : Number(max)));
    const given = Buffer.from(query.get("sig") ?? "");
    if (query.get("m") !== method || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return send(res, 403, { error: "signature" });
    }
    if (exp < Date.now() / 1000) return send(res, 410, { error: "expired" });
    if (method === "PUT") {
      const record = await backend.receive(key, req, max === null ? null : Number(max), true);
      return send(res, 200, { bytes: record.bytes, sha256: record.sha256 });
    }
    return download(backend, key, req, res);
  }
  // REST: the bearer key, then the artifact's session must be the key's user's.
  const presented = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1] ?? "";
  if (!timingSafeEqual(createHash("sha256").update(presented).digest(), KEY_DIGEST)) {
    return send(res, 401, { error: "unauthorized" });
  }
  const own = (key: string) => key.split("/").at(-2) === USER_SESSION;
  if (req.method === "GET" && path.startsWith("/v1/artifacts/")) {
    const key = path.slice("/v1/artifacts/".length);
    if (!own(key)) return send(res, 403, { error: "denied" });
    return download(backend, key, req, res);
  }
  if (req.method === "POST" && path === "/v1/artifacts") {
    const record = await backend.receive(backend.newKey(), req, null, false);
    return send(res, 201, record);
  }
  const register = /^\/v1\/uploads\/(.+)\/register$/.exec(path);
  if (req.method === "POST" && register) {
    const key = register[1]!;
    if (!own(key)) return send(res, 403, { error: "denied" });
    for await (const _ of req); // the (empty) JSON body
    return send(res, 201, await backend.register(key));
  }
  send(res, 404, { error: "no route" });
}

async function download(
  backend: RawHttpBackend,
  key: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const record = await backend.record(key);
  const etag = `"${record.sha256}"`;
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, { etag, "cache-control": "private" });
    res.end();
    return;
  }
  const headers = artifactHeaders(record, etag);
  if (req.method === "HEAD") {
    res.writeHead(200, { ...headers, "content-length": record.bytes });
    res.end();
    return;
  }
  const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  if (range) {
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), record.bytes - 1);
    const part = await backend.bytes(record, { start, end });
    res.writeHead(206, {
      ...headers,
      "content-length": part.byteLength,
      "content-range": `bytes ${start}-${end}/${record.bytes}`,
    });
    res.end(part);
    return;
  }
  if (record.bytes <= SMALL_BODY) {
    const body = await backend.bytes(record);
    if (createHash("sha256").update(body).digest("hex") !== record.sha256)
      throw new Error("checksum mismatch");
    res.writeHead(200, { ...headers, "content-length": body.byteLength });
    res.end(body);
    return;
  }
  // Streamed, the last chunk held back until the sha256 matches.
  res.writeHead(200, { ...headers, "content-length": record.bytes });
  const hash = createHash("sha256");
  let held: Uint8Array | null = null;
  let size = 0;
  for await (const chunk of backend.chunks(record)) {
    hash.update(chunk);
    size += chunk.byteLength;
    if (held && !res.write(held)) await once(res, "drain");
    held = chunk;
  }
  if (size !== record.bytes || hash.digest("hex") !== record.sha256) {
    res.destroy(new Error("checksum mismatch"));
    return;
  }
  res.end(held ?? undefined);
}

function artifactHeaders(record: RawRecord, etag: string): Record<string, string> {
  return {
    "content-type": record.mime,
    etag,
    "last-modified": new Date(record.updatedAt).toUTCString(),
    "accept-ranges": "bytes",
    "cache-control": "private, no-cache",
    "content-disposition": "inline",
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
