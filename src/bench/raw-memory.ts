import { createHash, createHmac, randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { mapLimit } from "../concurrency.js";
import { BATCH_CONCURRENCY, type Subject } from "./subject.js";

/** The record a bare implementation keeps beside the bytes: enough to check and describe them. */
export interface RawRecord {
  key: string;
  sessionId: string;
  mime: string;
  bytes: number;
  sha256: string;
  storedAt: string;
  updatedAt: string;
  /** An upload that has arrived but is not registered yet. */
  pending?: boolean;
}

export function rawRecord(key: string, sessionId: string, bytes: number, sha256: string): RawRecord {
  const now = new Date().toISOString();
  return { key, sessionId, mime: "application/octet-stream", bytes, sha256, storedAt: now, updatedAt: now };
}

export function sha256Of(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** An HMAC-SHA256 signed GET link: method, key and expiry under the signature. */
export function rawSignedUrl(secret: string, key: string, expiresInSeconds: number): string {
  const exp = Math.floor(Date.now() / 1000) + expiresInSeconds;
  const sig = createHmac("sha256", secret).update(`GET\n${key}\n${exp}`).digest("base64url");
  return `http://127.0.0.1:8080/signed/${key}?m=GET&exp=${exp}&sig=${sig}`;
}

/**
 * The memory baseline: bare Maps (one per session, so listing a session reads only its own
 * entries) from key to record and bytes, sha256 computed on write and checked on read. Bytes are
 * copied in and out, as any store must so callers cannot change what it holds.
 */
export class RawMemory implements Subject {
  readonly side = "raw" as const;
  private readonly sessions = new Map<string, Map<string, { record: RawRecord; body: Buffer }>>();

  async store(data: Uint8Array, sessionId: string): Promise<string> {
    const key = `${sessionId}/${randomBytes(16).toString("hex")}`;
    const body = Buffer.from(data);
    this.session(sessionId).set(key, {
      record: rawRecord(key, sessionId, body.byteLength, sha256Of(body)),
      body,
    });
    return key;
  }

  storeBatch(items: Uint8Array[], sessionId: string): Promise<string[]> {
    return mapLimit(items, BATCH_CONCURRENCY, (data) => this.store(data, sessionId));
  }

  async retrieve(key: string): Promise<Uint8Array> {
    const entry = this.get(key);
    if (sha256Of(entry.body) !== entry.record.sha256) throw new Error(`checksum mismatch at ${key}`);
    return Buffer.from(entry.body);
  }

  async update(key: string, data: Uint8Array): Promise<void> {
    const entry = this.get(key);
    const body = Buffer.from(data);
    const record = {
      ...entry.record,
      bytes: body.byteLength,
      sha256: sha256Of(body),
      updatedAt: new Date().toISOString(),
    };
    this.session(entry.record.sessionId).set(key, { record, body });
  }

  async metadata(key: string): Promise<unknown> {
    return { ...this.get(key).record };
  }

  async presign(key: string): Promise<string> {
    this.get(key);
    return rawSignedUrl("bench-signing-secret", key, 3600);
  }

  async list(sessionId: string): Promise<number> {
    const out: RawRecord[] = [];
    for (const entry of this.sessions.get(sessionId)?.values() ?? []) out.push({ ...entry.record });
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out.length;
  }

  async storeStream(source: Readable, sessionId: string): Promise<string> {
    const key = `${sessionId}/${randomBytes(16).toString("hex")}`;
    const hash = createHash("sha256");
    const chunks: Buffer[] = [];
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk);
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    const record = rawRecord(key, sessionId, body.byteLength, hash.digest("hex"));
    this.session(sessionId).set(key, { record, body });
    return key;
  }

  async readStream(key: string, sink: (chunk: Uint8Array) => void): Promise<string> {
    const entry = this.get(key);
    // Checked as the library checks a streamed read.
    if (sha256Of(entry.body) !== entry.record.sha256) throw new Error(`checksum mismatch at ${key}`);
    sink(entry.body);
    return entry.record.sha256;
  }

  /** The stored record and bytes, shared (not copied): for a server that writes them out at once. */
  entry(key: string): { record: RawRecord; body: Buffer } {
    return this.get(key);
  }

  /** Keeps bytes that arrived as an upload (or a pending one) under `key`. */
  keep(key: string, body: Buffer, sha256: string, pending: boolean): RawRecord {
    const sessionId = key.slice(0, key.indexOf("/"));
    const record = { ...rawRecord(key, sessionId, body.byteLength, sha256), ...(pending && { pending }) };
    this.session(sessionId).set(key, { record, body });
    return record;
  }

  /** A pending upload made visible. */
  register(key: string): RawRecord {
    const entry = this.get(key);
    if (!entry.record.pending) throw new Error(`${key} is not a pending upload`);
    entry.record = { ...entry.record, pending: false, updatedAt: new Date().toISOString() };
    return entry.record;
  }

  async delete(key: string): Promise<void> {
    this.sessions.get(key.slice(0, key.indexOf("/")))?.delete(key);
  }

  async dropSession(sessionId: string): Promise<void> {
    this.sessions.delete(sessionId);
  }

  async close(): Promise<void> {
    this.sessions.clear();
  }

  private session(sessionId: string): Map<string, { record: RawRecord; body: Buffer }> {
    let entries = this.sessions.get(sessionId);
    if (!entries) {
      entries = new Map();
      this.sessions.set(sessionId, entries);
    }
    return entries;
  }

  private get(key: string): { record: RawRecord; body: Buffer } {
    const entry = this.sessions.get(key.slice(0, key.indexOf("/")))?.get(key);
    if (!entry) throw new Error(`no artifact at ${key}`);
    return entry;
  }
}
