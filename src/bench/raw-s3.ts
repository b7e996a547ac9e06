import { createHash, randomBytes } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Redis } from "ioredis";
import { mapLimit } from "../concurrency.js";
import { type RawRecord, rawRecord, sha256Of } from "./raw-memory.js";
import { BATCH_CONCURRENCY, type Subject } from "./subject.js";

export interface S3Settings {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export type S3Module = typeof import("@aws-sdk/client-s3");
type PresignerModule = typeof import("@aws-sdk/s3-request-presigner");

/**
 * The S3 + Redis baseline: the bare AWS SDK and ioredis. A write is one PutObject (the sha256 in
 * the object's metadata) followed by one Redis SET of the JSON record; a read is a Redis GET of
 * the record, then GetObject, with the sha256 checked. Listing pages through ListObjectsV2 and
 * fetches each object's metadata with HeadObject, the same concurrency as the workload.
 */
export class RawS3Redis implements Subject {
  readonly side = "raw" as const;
  private readonly prefix = `bench-raw-${randomBytes(6).toString("hex")}`;

  private constructor(
    private readonly sdk: S3Module,
    private readonly presigner: PresignerModule,
    private readonly client: S3Client,
    private readonly redis: Redis,
    private readonly bucket: string,
    private readonly listConcurrency: number,
  ) {}

  static async open(s3: S3Settings, redisUrl: string, listConcurrency: number): Promise<RawS3Redis> {
    const sdk = await import("@aws-sdk/client-s3");
    const presigner = await import("@aws-sdk/s3-request-presigner");
    const { Redis } = await import("ioredis");
    const client = rawS3Client(sdk, s3);
    const redis = new Redis(redisUrl, { lazyConnect: true });
    await redis.connect();
    return new RawS3Redis(sdk, presigner, client, redis, s3.bucket, listConcurrency);
  }

  async store(data: Uint8Array, sessionId: string): Promise<string> {
    const key = `${this.prefix}/${sessionId}/${randomBytes(16).toString("hex")}`;
    const record = rawRecord(key, sessionId, data.byteLength, sha256Of(data));
    await this.put(key, data, record);
    return key;
  }

  storeBatch(items: Uint8Array[], sessionId: string): Promise<string[]> {
    return mapLimit(items, BATCH_CONCURRENCY, (data) => this.store(data, sessionId));
  }

  async retrieve(key: string): Promise<Uint8Array> {
    const record = await this.record(key);
    const out = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const body = await out.Body!.transformToByteArray();
    if (sha256Of(body) !== record.sha256) throw new Error(`checksum mismatch at ${key}`);
    return body;
  }

  async update(key: string, data: Uint8Array): Promise<void> {
    const previous = await this.record(key);
    const record: RawRecord = {
      ...previous,
      bytes: data.byteLength,
      sha256: sha256Of(data),
      updatedAt: new Date().toISOString(),
    };
    await this.put(key, data, record);
  }

  metadata(key: string): Promise<unknown> {
    return this.record(key);
  }

  async presign(key: string): Promise<string> {
    await this.record(key);
    return this.presigner.getSignedUrl(
      this.client,
      new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }),
      {
        expiresIn: 3600,
      },
    );
  }

  async list(sessionId: string): Promise<number> {
    let count = 0;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new this.sdk.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.prefix}/${sessionId}/`,
          MaxKeys: 1000,
          ContinuationToken: token,
        }),
      );
      const keys = (page.Contents ?? []).map((o) => o.Key!);
      const heads = await mapLimit(keys, this.listConcurrency, (Key) =>
        this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key })),
      );
      count += heads.filter((h) => h.Metadata?.sha256).length;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return count;
  }

  async storeStream(source: Readable, sessionId: string): Promise<string> {
    const key = `${this.prefix}/${sessionId}/${randomBytes(16).toString("hex")}`;
    const hash = createHash("sha256");
    let bytes = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        done(null, chunk);
      },
    });
    const { Upload } = await import("@aws-sdk/lib-storage");
    await new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: source.pipe(measure),
        ContentType: "application/octet-stream",
      },
    }).done();
    const record = rawRecord(key, sessionId, bytes, hash.digest("hex"));
    await this.redis.set(this.redisKey(key), JSON.stringify(record));
    return key;
  }

  async readStream(key: string, sink: (chunk: Uint8Array) => void): Promise<string> {
    const record = await this.record(key);
    const out = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
    // Checked as the library checks a streamed read.
    const hash = createHash("sha256");
    for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      sink(chunk);
    }
    if (hash.digest("hex") !== record.sha256) throw new Error(`checksum mismatch at ${key}`);
    return record.sha256;
  }

  /** A key for a new artifact in `sessionId`. */
  newKey(sessionId: string): string {
    return `${this.prefix}/${sessionId}/${randomBytes(16).toString("hex")}`;
  }

  /** The bytes of an object (or a range of them), unchecked; the caller checks a whole one. */
  async objectBytes(key: string, range?: { start: number; end: number }): Promise<Uint8Array> {
    const out = await this.client.send(
      new this.sdk.GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ...(range && { Range: `bytes=${range.start}-${range.end}` }),
      }),
    );
    return out.Body!.transformToByteArray();
  }

  async *objectChunks(key: string): AsyncIterable<Uint8Array> {
    const out = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
    yield* out.Body as AsyncIterable<Uint8Array>;
  }

  /** One PutObject with the sha256 in its metadata, then the record's SET. */
  async putWithRecord(key: string, data: Uint8Array, pending = false): Promise<RawRecord> {
    const sessionId = key.split("/").at(-2)!;
    const record = {
      ...rawRecord(key, sessionId, data.byteLength, sha256Of(data)),
      ...(pending && { pending }),
    };
    await this.put(key, data, record);
    return record;
  }

  /** A SigV4 URL a client PUTs an upload to, straight to the S3 server. */
  presignPut(key: string): Promise<string> {
    return this.presigner.getSignedUrl(
      this.client,
      new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: key }),
      { expiresIn: 3600 },
    );
  }

  /** Registers what a client PUT straight to S3: its real size and sha256 (read back), then the record's SET. */
  async adopt(key: string): Promise<RawRecord> {
    const out = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const hash = createHash("sha256");
    let bytes = 0;
    for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      bytes += chunk.byteLength;
    }
    const record = rawRecord(key, key.split("/").at(-2)!, bytes, hash.digest("hex"));
    await this.redis.set(this.redisKey(key), JSON.stringify(record));
    return record;
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    await this.redis.del(this.redisKey(key));
  }

  /** Left to destroy(), which removes everything this baseline wrote at the end of the run. */
  async dropSession(_sessionId: string): Promise<void> {}

  /** Removes every object and Redis key this baseline wrote. */
  async destroy(): Promise<void> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new this.sdk.ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: `${this.prefix}/`,
          ContinuationToken: token,
        }),
      );
      const objects = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (objects.length > 0) {
        await this.client.send(
          new this.sdk.DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: objects, Quiet: true },
          }),
        );
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${this.prefix}:*`, "COUNT", 1000);
      if (keys.length > 0) await this.redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  }

  async close(): Promise<void> {
    this.client.destroy();
    await this.redis.quit().catch(() => {});
  }

  private async put(key: string, data: Uint8Array, record: RawRecord): Promise<void> {
    await this.client.send(
      new this.sdk.PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: data,
        ContentType: record.mime,
        Metadata: { sha256: record.sha256 },
      }),
    );
    await this.redis.set(this.redisKey(key), JSON.stringify(record));
  }

  async record(key: string): Promise<RawRecord> {
    const json = await this.redis.get(this.redisKey(key));
    if (json === null) throw new Error(`no record for ${key}`);
    return JSON.parse(json) as RawRecord;
  }

  private redisKey(key: string): string {
    return `${this.prefix}:${key}`;
  }
}

/**
 * The bare SDK client both raw S3 baselines use, with the provider's checksum and middleware
 * settings (src/storage/s3/client.ts): the ratio then measures the library, not an SDK option.
 */
export function rawS3Client(sdk: S3Module, s3: S3Settings): S3Client {
  return new sdk.S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    cacheMiddleware: true,
  });
}
