import { randomBytes } from "node:crypto";
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
  type S3Client,
} from "@aws-sdk/client-s3";
import { collect, once } from "../../body.js";
import { type ResolvedConfig, redactUrl } from "../../config.js";
import { ConflictError, ValidationError } from "../../errors.js";
import {
  type DriverCapabilities,
  type DriverPresignGet,
  type MetaSource,
  metaText,
  type ObjectBody,
  type ObjectHead,
  type PutObjectOptions,
  type PutResult,
  releaseBody,
  type StorageDriver,
  type WriteCondition,
} from "../driver.js";
import type { ByteRange } from "../provider.js";
import { type BodyTuning, writeBody } from "./body.js";
import { createS3Client, S3_LIMITS, type S3Limits } from "./client.js";
import { type CopyTuning, DEFAULT_COPY_TUNING, serverCopy } from "./copy.js";
import {
  isMissingObject,
  isMissingUpload,
  isPreconditionFailed,
  type S3Context,
  s3Failure,
  statusOf,
} from "./errors.js";
import { decodeMeta, encodeMeta, META_HEADER } from "./meta.js";
import { presignGetUrl, presignPartUrl, presignPutUrl } from "./presign.js";

/**
 * Objects in an S3 bucket (AWS, IBM COS, Ceph RGW, MinIO, R2). An object's meta travels as one
 * user-metadata header, so a small artifact is one PutObject — bytes and record together, atomic —
 * and one GetObject returns both. Conditional writes use `If-None-Match: *` and `If-Match`, which
 * AWS and RGW honour on PutObject; a metadata rewrite is a CopyObject onto itself conditional on the
 * source's ETag. The record layer asks for no condition on a new artifact's key (a fresh random
 * id), so that PUT costs what a bare one does.
 *
 * RGW compares If-Match with the ETag *without* its quotes, AWS accepts the quoted form: the
 * unquoted one is sent first, and if a 412 comes back while the object still has exactly that
 * ETag, the quoted form is used from then on (detected once per driver).
 */

export interface S3Tuning extends BodyTuning, CopyTuning {
  /**
   * The service applies If-Match atomically against a concurrent delete (AWS S3 does; Ceph RGW
   * 16 does not). When false (the safe default) deletes leave a short-lived mark in the session
   * provider that updates check after writing: one Redis command more per update and delete.
   */
  atomicConditionalWrites: boolean;
  /** Timeouts and attempts of every request. */
  limits: S3Limits;
}

export const DEFAULT_S3_TUNING: S3Tuning = {
  // 5 MiB (the S3 minimum part): with 2 parts in flight and one filling, a 100 MiB stream peaked at
  // 56-70 MB above baseline, against 74-99 MB with 8 MiB parts, at the same speed (bench/README.md).
  partSize: 5 * 1024 * 1024,
  queueSize: 2,
  ...DEFAULT_COPY_TUNING,
  limits: S3_LIMITS,
  atomicConditionalWrites: false,
};

const MAX_PARTS = 10_000;
const LIST_PAGE_MAX = 1000;
/** S3 allows 2 KB of user metadata per object, header names included. */
const META_BUDGET = 2048 - META_HEADER.length - 48;

export class S3Driver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  private readonly ctx: S3Context;
  private readonly bucket: string;
  /** Whether this endpoint wants If-Match with the ETag's quotes (AWS) or without (RGW). */
  private quotedIfMatch = false;
  /** A missing key answered as such: the bucket exists. */
  private bucketSeen = false;

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
    this.capabilities = {
      persistent: true,
      shared: true,
      inlineMetaBytes: META_BUDGET,
      inlineBodyBytes: tuning.partSize,
      conditionalCopy: false,
      atomicConditionalWrites: tuning.atomicConditionalWrites,
      nativePresign: true,
      nativeMultipart: true,
    };
  }

  /** `name` is "s3" or "ibm_cos" (IBM COS through its S3 API with HMAC keys); same code path. */
  static async open(
    name: string,
    config: ResolvedConfig["s3"],
    tuning: Partial<S3Tuning> = {},
  ): Promise<S3Driver> {
    if (!config.bucket) {
      throw new ValidationError(`Storage provider ${name} needs a bucket: set ARTIFACT_BUCKET (or bucket)`);
    }
    const tuned = { ...DEFAULT_S3_TUNING, ...tuning };
    return new S3Driver(name, createS3Client(config, tuned.limits), config, tuned);
  }

  metaBytes(meta: string): number {
    return encodeMeta(meta).length;
  }

  async put(key: string, body: AsyncIterable<Uint8Array>, options: PutObjectOptions): Promise<PutResult> {
    return this.run("store", async () => {
      const target = {
        key,
        contentType: options.contentType,
        ...(options.meta !== "" && { metadata: { [META_HEADER]: encodeMeta(metaText(options.meta)) } }),
        ...(options.ifNoneMatch && { ifNoneMatch: "*" }),
      };
      // A conditional write may be sent twice (see conditional()): hold its body, always a small one.
      const held = options.ifMatch === undefined ? null : await collect(body);
      const send = (ifMatch?: string) =>
        writeBody(this.client, this.bucket, { ...target, ifMatch }, held ? once(held) : body, this.tuning);
      try {
        const written = await this.conditional(key, options.ifMatch, send);
        const etag = unquote(written.etag) || (await this.head(key))?.etag || "";
        return { etag, bytes: written.bytes };
      } catch (err) {
        // A conditional write that lost: 412, or — when the object went away, or a concurrent write
        // was under way as the condition was checked — 404 or 409 (ConditionalRequestConflict).
        const conditional = options.ifMatch !== undefined || options.ifNoneMatch === true;
        const status = statusOf(err);
        if (isPreconditionFailed(err) || (conditional && (isMissingObject(err) || status === 409))) {
          throw new ConflictError(`${key} changed, was deleted or already exists`, { cause: err });
        }
        throw err;
      }
    });
  }

  async head(key: string): Promise<ObjectHead | null> {
    return this.run("read", async () => {
      try {
        const got = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
        return {
          etag: unquote(got.ETag),
          size: got.ContentLength ?? 0,
          meta: decodeMeta(got.Metadata),
          ...(got.LastModified && { modifiedAt: got.LastModified.getTime() }),
        };
      } catch (err) {
        // A HEAD's error has no body, so no S3 error code: a missing bucket and a missing key are
        // both a bare 404, refused credentials and a denied policy both a bare 403. Ask again with
        // a GET, which says which (only on these error paths; a bucket is checked once).
        const status = statusOf(err);
        if (status === 404 && this.bucketSeen) return null;
        if (status !== 404 && status !== 403) throw err;
        const got = await this.get(key, { start: 0, end: 0 }).catch((again: unknown) => {
          if (again instanceof ValidationError) return "empty" as const; // 416: an empty object exists
          throw again;
        });
        if (got === null) {
          this.bucketSeen = true;
          return null;
        }
        if (got !== "empty") releaseBody(got);
        // It exists after all (created between the two requests): HEAD it again.
        const again = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
        return {
          etag: unquote(again.ETag),
          size: again.ContentLength ?? 0,
          meta: decodeMeta(again.Metadata),
        };
      }
    });
  }

  async get(key: string, range?: ByteRange): Promise<ObjectBody | null> {
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
      const length = got.ContentLength ?? 0;
      const total = range ? Number(/\/(\d+)$/.exec(got.ContentRange ?? "")?.[1]) : length;
      return {
        etag: unquote(got.ETag),
        size: Number.isFinite(total) ? total : length,
        meta: decodeMeta(got.Metadata),
        stream: got.Body as Readable,
        length,
      };
    });
  }

  async copy(
    from: string,
    to: string,
    options: WriteCondition & { meta: MetaSource; contentType?: string; sourceEtag?: string },
  ): Promise<{ etag: string } | null> {
    return this.run("copy", async () => {
      const spec = {
        from,
        to,
        size: 0,
        ifMatch: options.sourceEtag,
        contentType: options.contentType ?? "application/octet-stream",
        ...(options.meta !== "" && { metadata: { [META_HEADER]: encodeMeta(metaText(options.meta)) } }),
      };
      // One CopyObject covers up to 5 GiB; only a larger source needs its size (a HEAD) first.
      const copyOnce = async (ifMatch: string | undefined) => {
        try {
          return await serverCopy(this.client, this.bucket, { ...spec, ifMatch }, this.tuning);
        } catch (err) {
          if (statusOf(err) !== 400 || isPreconditionFailed(err)) throw err;
          const source = await this.head(from);
          if (!source || source.size <= this.tuning.singleCopyMax) throw err;
          return serverCopy(this.client, this.bucket, { ...spec, ifMatch, size: source.size }, this.tuning);
        }
      };
      try {
        const copied = await this.conditional(from, options.sourceEtag, copyOnce);
        return { etag: unquote(copied.etag) || (await this.head(to))?.etag || "" };
      } catch (err) {
        if (isMissingObject(err)) return null;
        if (isPreconditionFailed(err))
          throw new ConflictError(`${from} changed before it could be copied`, { cause: err });
        throw err;
      }
    });
  }

  /** S3 answers a delete the same whether or not the object existed: true means "gone now". */
  async delete(key: string, condition: { ifMatch?: string } = {}): Promise<boolean> {
    return this.run("delete", async () => {
      // If-Match on DELETE is atomic on AWS S3; RGW ignores it (the record layer knows: see capabilities).
      const send = (ifMatch?: string) =>
        this.client.send(
          new DeleteObjectCommand({
            Bucket: this.bucket,
            Key: key,
            ...(ifMatch !== undefined && { IfMatch: ifMatch }),
          }),
        );
      try {
        await this.conditional(key, condition.ifMatch, send);
      } catch (err) {
        if (condition.ifMatch !== undefined && (isPreconditionFailed(err) || isMissingObject(err))) {
          throw new ConflictError(`${key} changed or was deleted`, { cause: err });
        }
        throw err;
      }
      return true;
    });
  }

  async list(
    prefix: string,
    options: { limit: number; after?: string | null },
  ): Promise<{ keys: string[]; more: boolean }> {
    return this.run("list", async () => {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: Math.min(LIST_PAGE_MAX, Math.max(1, options.limit)),
          ...(options.after && { StartAfter: options.after }),
        }),
      );
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : []));
      return { keys, more: page.IsTruncated === true && keys.length > 0 };
    });
  }

  async presignGet(key: string, options: DriverPresignGet): Promise<string> {
    return this.run("presign download", () => presignGetUrl(this.client, this.bucket, key, options));
  }

  async presignPut(key: string, options: { expires: number; mime?: string | null }): Promise<string> {
    return this.run("presign upload", () => presignPutUrl(this.client, this.bucket, key, options));
  }

  async createMultipart(key: string, options: { mime?: string | null }): Promise<{ uploadId: string }> {
    return this.run("start multipart upload", async () => {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
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
      presignPartUrl(this.client, this.bucket, key, uploadId, partNumber, expires),
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
          Key: key,
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
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
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
        await this.head(probeKey());
      }
    });
    const probe = probeKey();
    await this.put(probe, once(Buffer.from("ok")), { meta: "probe" });
    const back = await this.head(probe);
    await this.delete(probe);
    const ok = back?.meta === "probe" && back.size === 2;
    return {
      ok,
      detail: `bucket "${this.bucket}" at ${this.ctx.endpoint}: ${ok ? "read/write ok" : "probe read back wrong"} in ${Date.now() - started} ms`,
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

  /**
   * Sends a request conditional on `etag` of `key` in the form this endpoint accepts. A 412 while
   * the object still has exactly that ETag means the other form is wanted: switch and retry once.
   */
  private async conditional<T>(
    key: string,
    etag: string | undefined,
    send: (ifMatch?: string) => Promise<T>,
  ): Promise<T> {
    if (etag === undefined) return send();
    try {
      return await send(this.quotedIfMatch ? `"${etag}"` : etag);
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      const now = await this.head(key);
      if (now?.etag !== etag) throw err;
      this.quotedIfMatch = !this.quotedIfMatch;
      return send(this.quotedIfMatch ? `"${etag}"` : etag);
    }
  }
}

function unquote(etag: string | undefined): string {
  return (etag ?? "").replace(/^"|"$/g, "");
}

function probeKey(): string {
  return `grid/_probe/${randomBytes(12).toString("hex")}`;
}
