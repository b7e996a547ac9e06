import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { mapLimit } from "../concurrency.js";
import { type RawRecord, rawRecord, rawSignedUrl, sha256Of } from "./raw-memory.js";
import { BATCH_CONCURRENCY, type Subject } from "./subject.js";

export interface RawEnvelope extends RawRecord {
  /** Name of the immutable body file this record describes. */
  body: string;
}

/**
 * The filesystem baseline with the provider's durability: the body goes to a temporary file that
 * is fsynced and renamed to an immutable name, then a small JSON record naming it is written the
 * same way (temporary file, fsync, rename). The record's rename is the commit point, so a reader
 * sees the old artifact or the new one. Reads load the record, then the body, and check sha256.
 * Layout: `{root}/{session}/{id}.json` and `{root}/{session}/{id}.{rev}`.
 */
export class RawFilesystem implements Subject {
  readonly side = "raw" as const;
  private readonly madeDirs = new Set<string>();

  private constructor(private readonly root: string) {}

  static async open(root: string): Promise<RawFilesystem> {
    await mkdir(join(root, "_tmp"), { recursive: true });
    return new RawFilesystem(root);
  }

  async store(data: Uint8Array, sessionId: string): Promise<string> {
    const id = randomBytes(16).toString("hex");
    const dir = await this.sessionDir(sessionId);
    const bodyName = `${id}.${randomBytes(8).toString("hex")}`;
    await this.replaceFile(join(dir, bodyName), data);
    const key = `${sessionId}/${id}`;
    const envelope: RawEnvelope = {
      ...rawRecord(key, sessionId, data.byteLength, sha256Of(data)),
      body: bodyName,
    };
    await this.replaceFile(join(dir, `${id}.json`), JSON.stringify(envelope));
    return key;
  }

  storeBatch(items: Uint8Array[], sessionId: string): Promise<string[]> {
    return mapLimit(items, BATCH_CONCURRENCY, (data) => this.store(data, sessionId));
  }

  async retrieve(key: string): Promise<Uint8Array> {
    const envelope = await this.readEnvelope(key);
    const body = await readFile(join(this.root, envelope.sessionId, envelope.body));
    if (sha256Of(body) !== envelope.sha256) throw new Error(`checksum mismatch at ${key}`);
    return body;
  }

  async update(key: string, data: Uint8Array): Promise<void> {
    const previous = await this.readEnvelope(key);
    const dir = join(this.root, previous.sessionId);
    const id = key.slice(key.indexOf("/") + 1);
    const bodyName = `${id}.${randomBytes(8).toString("hex")}`;
    await this.replaceFile(join(dir, bodyName), data);
    const envelope: RawEnvelope = {
      ...previous,
      bytes: data.byteLength,
      sha256: sha256Of(data),
      updatedAt: new Date().toISOString(),
      body: bodyName,
    };
    await this.replaceFile(join(dir, `${id}.json`), JSON.stringify(envelope));
    await unlink(join(dir, previous.body));
  }

  async metadata(key: string): Promise<unknown> {
    return this.readEnvelope(key);
  }

  async presign(key: string): Promise<string> {
    await this.readEnvelope(key);
    return rawSignedUrl("bench-signing-secret", key, 3600);
  }

  async list(sessionId: string): Promise<number> {
    const dir = join(this.root, sessionId);
    const names = (await readdir(dir)).filter((n) => n.endsWith(".json")).sort();
    let count = 0;
    for (let i = 0; i < names.length; i += 1000) {
      const page = await Promise.all(
        names
          .slice(i, i + 1000)
          .map(async (n) => JSON.parse(await readFile(join(dir, n), "utf8")) as RawEnvelope),
      );
      count += page.length;
    }
    return count;
  }

  async storeStream(source: Readable, sessionId: string): Promise<string> {
    const key = `${sessionId}/${randomBytes(16).toString("hex")}`;
    await this.writeStreamed(key, source, null);
    return key;
  }

  /**
   * Streams `source` to a new body file (temporary file, fsync, rename) with its size and sha256,
   * then commits the record naming it; past `maxBytes` nothing is committed.
   */
  async writeStreamed(
    key: string,
    source: AsyncIterable<Uint8Array>,
    maxBytes: number | null,
    pending = false,
  ): Promise<RawEnvelope> {
    const slash = key.indexOf("/");
    const sessionId = key.slice(0, slash);
    const id = key.slice(slash + 1);
    const dir = await this.sessionDir(sessionId);
    const bodyName = `${id}.${randomBytes(8).toString("hex")}`;
    const temp = this.tempPath();
    const hash = createHash("sha256");
    let bytes = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.byteLength;
        if (maxBytes !== null && bytes > maxBytes) return done(new Error("body too large"));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, measure, createWriteStream(temp, { flags: "wx" }));
    } catch (err) {
      await unlink(temp).catch(() => {});
      throw err;
    }
    const handle = await open(temp, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(dir, bodyName));
    const envelope: RawEnvelope = {
      ...rawRecord(key, sessionId, bytes, hash.digest("hex")),
      body: bodyName,
      ...(pending && { pending }),
    };
    await this.replaceFile(join(dir, `${id}.json`), JSON.stringify(envelope));
    return envelope;
  }

  /** A pending upload made visible: its record rewritten (temporary file, fsync, rename). */
  async register(key: string): Promise<RawEnvelope> {
    const envelope = await this.readEnvelope(key);
    if (!envelope.pending) throw new Error(`${key} is not a pending upload`);
    const ready: RawEnvelope = { ...envelope, pending: false, updatedAt: new Date().toISOString() };
    const slash = key.indexOf("/");
    await this.replaceFile(
      join(this.root, key.slice(0, slash), `${key.slice(slash + 1)}.json`),
      JSON.stringify(ready),
    );
    return ready;
  }

  /** The body file a record names. */
  bodyPath(envelope: RawEnvelope): string {
    return join(this.root, envelope.sessionId, envelope.body);
  }

  async readStream(key: string, sink: (chunk: Uint8Array) => void): Promise<string> {
    const envelope = await this.readEnvelope(key);
    // Checked as the library checks a streamed read.
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(join(this.root, envelope.sessionId, envelope.body))) {
      hash.update(chunk as Buffer);
      sink(chunk as Buffer);
    }
    if (hash.digest("hex") !== envelope.sha256) throw new Error(`checksum mismatch at ${key}`);
    return envelope.sha256;
  }

  async delete(key: string): Promise<void> {
    const envelope = await this.readEnvelope(key);
    const dir = join(this.root, envelope.sessionId);
    await unlink(join(dir, `${key.slice(key.indexOf("/") + 1)}.json`));
    await unlink(join(dir, envelope.body));
  }

  async dropSession(sessionId: string): Promise<void> {
    await rm(join(this.root, sessionId), { recursive: true, force: true });
    this.madeDirs.delete(join(this.root, sessionId));
  }

  async close(): Promise<void> {}

  async destroy(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  private async sessionDir(sessionId: string): Promise<string> {
    const dir = join(this.root, sessionId);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    return dir;
  }

  private tempPath(): string {
    return join(this.root, "_tmp", `${randomBytes(12).toString("hex")}.tmp`);
  }

  async readEnvelope(key: string): Promise<RawEnvelope> {
    const slash = key.indexOf("/");
    const path = join(this.root, key.slice(0, slash), `${key.slice(slash + 1)}.json`);
    return JSON.parse(await readFile(path, "utf8")) as RawEnvelope;
  }

  /** Temporary file, write, fsync, close, rename over `path`. */
  private async replaceFile(path: string, content: Uint8Array | string): Promise<void> {
    const temp = this.tempPath();
    const handle = await open(temp, "wx");
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  }
}
