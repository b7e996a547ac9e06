import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { BodyTooLargeError, Measured } from "../body.js";
import { mapLimit } from "../concurrency.js";
import { type ResolvedConfig, redactUrl } from "../config.js";
import { ArtifactNotFoundError, ConflictError, ValidationError } from "../errors.js";
import { parseGridKey } from "../grid.js";
import { type ArtifactRecord, parseRecord } from "../metadata.js";
import { decodeCursor, encodeCursor } from "./paging.js";
import type {
  ByteRange,
  ListPage,
  MultipartUpload,
  OpenedBody,
  PresignGetOptions,
  PresignPutOptions,
  PutOptions,
  StorageCapabilities,
  StorageProvider,
} from "./provider.js";
import { type BodyTuning, writeBody } from "./s3-body.js";
import { createS3Client, S3_LIMITS, type S3Limits } from "./s3-client.js";
import { DEFAULT_COPY_TUNING, serverCopy } from "./s3-copy.js";
import {
  isMissingObject,
  isMissingUpload,
  isPreconditionFailed,
  type S3Context,
  s3Failure,
  statusOf,
} from "./s3-errors.js";
import {
  gridKeyOfRecord,
  indexKey,
  probeKey,
  recordKey,
  recordPrefix,
  SHA256_META,
  stagingKey,
  tempKey,
} from "./s3-layout.js";
import { presignGetUrl, presignPartUrl, presignPutUrl } from "./s3-presign.js";

/**
 * Artifacts in an S3 bucket (AWS, IBM COS, Ceph RGW, MinIO, R2). The bucket alone is the truth; the
 * key layout is described in s3-layout.ts. The invariants:
 *
 * - The object at a grid key is only ever written by this provider, in one PutObject or CopyObject
 *   that also sets its `sha256` user metadata, so openBody() returns bytes together with the
 *   checksum recorded with them, atomically. Presigned PUTs and multipart uploads go to a staging
 *   key; adoptUpload() hashes what arrived and copies it (server-side) to the grid key with its
 *   sha256. An upload URL that is reused afterwards can only touch the staging key, never the
 *   registered artifact — this needs no `If-None-Match` header from the client (which RGW and AWS
 *   honour, but not every S3-compatible service does) and no extra header in PresignedUpload.
 * - The record object is the commit point: it is written after the bytes, so a listed record
 *   always has its bytes. An update that changes bytes replaces the body first, then the record;
 *   in between a reader gets the new bytes with their own sha256 (never a mismatch).
 * - The id → key index object is written once per artifact (this process remembers which it has
 *   written or read), in parallel with the record.
 *
 * Round trips (sequential): store = 2 (body PUT; record PUT ∥ index PUT on first write);
 * retrieve = 2 with a session id (record GET, body GET), 3 without (index GET first);
 * metadata update = 1; copy = 3 (HEAD, server-side COPY, record ∥ index); delete = 3.
 *
 * Limits: a body larger than 8 MiB is streamed in 8 MiB parts to a temporary key and committed by a
 * server-side copy (multipart copy above 5 GiB). S3 cannot cap the size of a presigned PUT, so
 * `maxBytes` is enforced when the upload is adopted: a larger one is deleted, never committed.
 * Objects orphaned by a crash (temporary keys under `_tmp/`, unregistered uploads under
 * `_uploads/`, incomplete multipart uploads) are best expired by a bucket lifecycle rule.
 */

export interface S3Tuning extends BodyTuning {
  /** Records fetched in parallel while listing. */
  listConcurrency: number;
  /** Timeouts and attempts of every request. */
  limits: S3Limits;
}

export const DEFAULT_S3_TUNING: S3Tuning = {
  partSize: 8 * 1024 * 1024,
  queueSize: 2,
  ...DEFAULT_COPY_TUNING,
  listConcurrency: 32,
  limits: S3_LIMITS,
};

/** How many grid keys with a known index object this process remembers. */
const INDEX_MEMORY = 10_000;
const LIST_PAGE_MAX = 1000;
const MAX_PARTS = 10_000;
const COPY_ATTEMPTS = 3;

interface Head {
  size: number;
  sha256: string | null;
  etag: string | undefined;
}

export class S3StorageProvider implements StorageProvider {
  readonly capabilities: StorageCapabilities = {
    persistent: true,
    shared: true,
    nativePresign: true,
    nativeMultipart: true,
  };
  private readonly indexed = new Set<string>();
  private readonly ctx: S3Context;
  private readonly bucket: string;

  private constructor(
    readonly name: string,
    private readonly client: S3Client,
    private readonly config: ResolvedConfig["s3"],
    private readonly tuning: S3Tuning,
  ) {
    this.bucket = config.bucket;
    this.ctx = {
      provider: name,
      bucket: config.bucket,
      endpoint: config.endpoint ? redactUrl(config.endpoint).replace(/\/$/, "") : `AWS S3 (${config.region})`,
    };
  }

  /** `name` is "s3" or "ibm_cos" (IBM COS through its S3 API with HMAC keys); same code path. */
  static async open(
    name: string,
    config: ResolvedConfig["s3"],
    tuning: Partial<S3Tuning> = {},
  ): Promise<S3StorageProvider> {
    if (!config.bucket) {
      throw new ValidationError(`Storage provider ${name} needs a bucket: set ARTIFACT_BUCKET (or bucket)`);
    }
    const tuned = { ...DEFAULT_S3_TUNING, ...tuning };
    return new S3StorageProvider(name, createS3Client(config, tuned.limits), config, tuned);
  }

  async put(
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ArtifactRecord> {
    return this.run("store", async () => {
      const written = await writeBody(
        this.client,
        this.bucket,
        { key: record.key, tempKey: tempKey(record.sandboxId), contentType: record.mime },
        body,
        options.maxBytes ?? null,
        this.tuning,
      );
      const committed = { ...record, bytes: written.bytes, sha256: written.sha256 };
      await this.commitRecord(committed);
      return committed;
    });
  }

  async putRecord(record: ArtifactRecord): Promise<void> {
    await this.run("write record", () => this.commitRecord(record));
  }

  async getRecord(key: string): Promise<ArtifactRecord | null> {
    return this.run("read record", () => this.readRecordAt(recordKey(key), key));
  }

  async adoptUpload(
    record: ArtifactRecord,
    options: { maxBytes: number | null },
  ): Promise<ArtifactRecord | null> {
    return this.run("register upload", async () => {
      const staging = stagingKey(record.key);
      let got: GetObjectCommandOutput;
      try {
        got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: staging }));
      } catch (err) {
        if (isMissingObject(err)) return this.adoptCommitted(record, options.maxBytes);
        throw err;
      }
      const stream = got.Body as Readable;
      if (options.maxBytes !== null && (got.ContentLength ?? 0) > options.maxBytes) {
        stream.destroy();
        await this.removeAll(record.key);
        throw new BodyTooLargeError(`upload is larger than the limit of ${options.maxBytes} bytes`);
      }
      const measured = new Measured(stream, options.maxBytes);
      try {
        for await (const _ of measured);
      } catch (err) {
        stream.destroy();
        if (err instanceof BodyTooLargeError) await this.removeAll(record.key);
        throw err;
      }
      try {
        await serverCopy(
          this.client,
          this.bucket,
          {
            from: staging,
            to: record.key,
            size: measured.bytes,
            ifMatch: got.ETag,
            metadata: { [SHA256_META]: measured.sha256 },
            contentType: record.mime,
          },
          this.tuning,
        );
      } catch (err) {
        if (isPreconditionFailed(err)) {
          throw new ConflictError("the upload changed while it was being registered: register it again", {
            cause: err,
          });
        }
        throw err;
      }
      const committed = { ...record, bytes: measured.bytes, sha256: measured.sha256 };
      await Promise.all([this.commitRecord(committed), this.deleteKey(staging)]);
      return committed;
    });
  }

  async openBody(key: string, range?: ByteRange): Promise<OpenedBody | null> {
    return this.run("read", async () => {
      let got: GetObjectCommandOutput;
      try {
        got = await this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(range && { Range: `bytes=${range.start}-${range.end}` }),
          }),
        );
      } catch (err) {
        if (isMissingObject(err)) return null;
        if (statusOf(err) === 416) throw new ValidationError("range is outside the artifact", { cause: err });
        throw err;
      }
      const stream = got.Body as Readable;
      const sha256 = got.Metadata?.[SHA256_META];
      // Every object at a grid key carries its sha256; one without was not committed by us.
      if (!sha256) {
        stream.destroy();
        return null;
      }
      const length = got.ContentLength ?? 0;
      const total = range ? Number(/\/(\d+)$/.exec(got.ContentRange ?? "")?.[1]) : length;
      return { stream, length, totalBytes: Number.isFinite(total) ? total : length, sha256 };
    });
  }

  async copy(sourceKey: string, record: ArtifactRecord): Promise<ArtifactRecord> {
    return this.run("copy", async () => {
      for (let attempt = 1; ; attempt++) {
        const source = await this.head(sourceKey);
        if (!source?.sha256) throw new ArtifactNotFoundError(`no body at ${sourceKey}`);
        try {
          await serverCopy(
            this.client,
            this.bucket,
            {
              from: sourceKey,
              to: record.key,
              size: source.size,
              ifMatch: source.etag,
              metadata: { [SHA256_META]: source.sha256 },
              contentType: record.mime,
            },
            this.tuning,
          );
        } catch (err) {
          // The source was replaced between HEAD and COPY: read its new checksum and try again.
          if (isPreconditionFailed(err) && attempt < COPY_ATTEMPTS) continue;
          if (isPreconditionFailed(err))
            throw new ConflictError("the source kept changing during the copy", { cause: err });
          throw err;
        }
        const committed = { ...record, bytes: source.size, sha256: source.sha256 };
        await this.commitRecord(committed);
        return committed;
      }
    });
  }

  async delete(key: string): Promise<boolean> {
    return this.run("delete", async () => {
      // A GET (not HEAD) of the record: a missing bucket must fail, not read as "nothing there".
      const [record, body] = await Promise.all([this.getText(recordKey(key)), this.head(key)]);
      if (record === null && body === null) return false;
      await this.removeAll(key);
      return true;
    });
  }

  async list(prefix: string, options: { limit: number; cursor?: string | null }): Promise<ListPage> {
    return this.run("list", async () => {
      const listPrefix = recordPrefix(prefix);
      let startAfter: string | undefined;
      if (options.cursor) {
        const after = decodeCursor(options.cursor);
        if (!after.startsWith(prefix) || !parseGridKey(after))
          throw new ValidationError("invalid list cursor");
        startAfter = recordKey(after);
      }
      const keys: string[] = [];
      let truncated = true;
      while (truncated && keys.length < options.limit) {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: listPrefix,
            MaxKeys: Math.min(LIST_PAGE_MAX, options.limit - keys.length),
            ...(startAfter !== undefined && { StartAfter: startAfter }),
          }),
        );
        const contents = page.Contents ?? [];
        for (const object of contents) {
          const key = object.Key === undefined ? null : gridKeyOfRecord(object.Key);
          if (key) keys.push(key);
        }
        truncated = page.IsTruncated === true && contents.length > 0;
        startAfter = contents[contents.length - 1]?.Key ?? startAfter;
      }
      const records = await mapLimit(keys, this.tuning.listConcurrency, (key) =>
        this.readRecordAt(recordKey(key), key),
      );
      const last = keys[keys.length - 1];
      return {
        records: records.filter((r): r is ArtifactRecord => r !== null),
        cursor: truncated && last !== undefined ? encodeCursor(last) : null,
      };
    });
  }

  async locate(sandboxId: string, artifactId: string): Promise<string | null> {
    return this.run("locate", async () => {
      if (!parseGridKey(`grid/${sandboxId}/s/${artifactId}`)) return null;
      const text = await this.getText(indexKey(sandboxId, artifactId));
      if (text === null) return null;
      const key = text.trim();
      const parsed = parseGridKey(key);
      if (!parsed || parsed.sandboxId !== sandboxId || parsed.artifactId !== artifactId) return null;
      this.rememberIndexed(key);
      return key;
    });
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    return this.run("presign download", () => presignGetUrl(this.client, this.bucket, key, options));
  }

  /** Signs a PUT to the staging key; adoptUpload() later measures it and commits it to `key`. */
  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    return this.run("presign upload", () =>
      presignPutUrl(this.client, this.bucket, stagingKey(key), {
        expires: options.expires,
        mime: options.mime,
      }),
    );
  }

  async createMultipart(key: string, options: { mime?: string | null }): Promise<MultipartUpload> {
    return this.run("start multipart upload", async () => {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: stagingKey(key),
          ...(options.mime != null && { ContentType: options.mime }),
        }),
      );
      if (!created.UploadId) throw new Error("CreateMultipartUpload returned no UploadId");
      return { uploadId: created.UploadId };
    });
  }

  async presignPart(key: string, uploadId: string, partNumber: number, expires: number): Promise<string> {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
      throw new ValidationError(`partNumber must be a whole number from 1 to ${MAX_PARTS}`);
    }
    return this.run("presign part", () =>
      presignPartUrl(this.client, this.bucket, stagingKey(key), uploadId, partNumber, expires),
    );
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<void> {
    await this.run("complete multipart upload", async () => {
      const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: stagingKey(key),
          UploadId: uploadId,
          MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
      );
    });
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.run("abort multipart upload", async () => {
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: stagingKey(key), UploadId: uploadId }),
        );
      } catch (err) {
        if (!isMissingUpload(err)) throw err;
      }
    });
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    const started = Date.now();
    await this.run("check bucket", async () => {
      try {
        await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      } catch (err) {
        if (statusOf(err) !== 403) throw err;
        // A HEAD's 403 has no error code: a GET tells refused credentials from a policy that only
        // lacks s3:ListBucket, which object access does not need.
        await this.getText(probeKey());
      }
    });
    const ok = await this.run("health probe", async () => {
      const probe = probeKey();
      await this.putText(probe, "ok");
      const back = await this.getText(probe);
      await this.deleteKey(probe);
      return back === "ok";
    });
    return {
      ok,
      detail: `bucket "${this.bucket}" at ${this.ctx.endpoint}: ${ok ? "read/write ok" : "probe read back wrong bytes"} in ${Date.now() - started} ms`,
    };
  }

  describe(): Record<string, unknown> {
    return {
      bucket: this.bucket,
      endpoint: this.ctx.endpoint,
      region: this.config.region,
      forcePathStyle: this.config.forcePathStyle,
    };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // ---- internals ------------------------------------------------------------------------------

  private async run<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw s3Failure(err, action, this.ctx);
    }
  }

  /** Writes the record (the commit point) and, the first time, the id → key index. */
  private async commitRecord(record: ArtifactRecord): Promise<void> {
    const writes = [this.putText(recordKey(record.key), JSON.stringify(record), "application/json")];
    if (!this.indexed.has(record.key)) {
      writes.push(
        this.putText(indexKey(record.sandboxId, record.artifactId), record.key).then(() =>
          this.rememberIndexed(record.key),
        ),
      );
    }
    await Promise.all(writes);
  }

  private rememberIndexed(key: string): void {
    // Forgetting only costs a repeated (idempotent) index write, so a plain bounded set will do.
    if (this.indexed.size >= INDEX_MEMORY) this.indexed.clear();
    this.indexed.add(key);
  }

  /** Record first: once it is gone the artifact is gone, even if removing the rest fails. */
  private async removeAll(key: string): Promise<void> {
    const { sandboxId, artifactId } = parseGridKey(key)!;
    await this.deleteKey(recordKey(key));
    this.indexed.delete(key);
    await Promise.all([
      this.deleteKey(key),
      this.deleteKey(stagingKey(key)),
      this.deleteKey(indexKey(sandboxId, artifactId)),
    ]);
  }

  /** A presigned upload that was already copied to its grid key (or stored by put()). */
  private async adoptCommitted(
    record: ArtifactRecord,
    maxBytes: number | null,
  ): Promise<ArtifactRecord | null> {
    const body = await this.head(record.key);
    if (!body?.sha256) return null;
    if (maxBytes !== null && body.size > maxBytes) {
      await this.removeAll(record.key);
      throw new BodyTooLargeError(`upload is larger than the limit of ${maxBytes} bytes`);
    }
    const committed = { ...record, bytes: body.size, sha256: body.sha256 };
    await this.commitRecord(committed);
    return committed;
  }

  private async readRecordAt(objectKey: string, key: string): Promise<ArtifactRecord | null> {
    const text = await this.getText(objectKey);
    if (text === null) return null;
    const record = parseRecord(text);
    return record && record.key === key ? record : null;
  }

  private async getText(key: string): Promise<string | null> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await got.Body?.transformToString("utf8")) ?? "";
    } catch (err) {
      if (isMissingObject(err)) return null;
      throw err;
    }
  }

  private async putText(key: string, text: string, contentType = "text/plain; charset=utf-8"): Promise<void> {
    const body = Buffer.from(text, "utf8");
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.byteLength,
        ContentType: contentType,
      }),
    );
  }

  private async deleteKey(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /** Note: a HEAD cannot tell a missing bucket from a missing object (both a bodiless 404). */
  private async head(key: string): Promise<Head | null> {
    try {
      const got = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: got.ContentLength ?? 0, sha256: got.Metadata?.[SHA256_META] ?? null, etag: got.ETag };
    } catch (err) {
      if (isMissingObject(err)) return null;
      throw err;
    }
  }
}
