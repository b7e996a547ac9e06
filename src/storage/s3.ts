import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { BodyTooLargeError, Measured } from "../body.js";
import { mapLimit } from "../concurrency.js";
import { type ResolvedConfig, redactUrl } from "../config.js";
import { ArtifactNotFoundError, ConflictError, ValidationError } from "../errors.js";
import { parseGridKey } from "../grid.js";
import type { ArtifactRecord } from "../metadata.js";
import { assertContentUnchanged } from "./content-check.js";
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
import { type CopyTuning, DEFAULT_COPY_TUNING, serverCopy } from "./s3-copy.js";
import { type Envelope, newRevision, parseEnvelope, serializeEnvelope } from "./s3-envelope.js";
import {
  isMissingObject,
  isMissingUpload,
  isPreconditionFailed,
  type S3Context,
  s3Failure,
  statusOf,
} from "./s3-errors.js";
import {
  bodyKey,
  bodyPrefix,
  gridKeyOfRecord,
  indexKey,
  probeKey,
  recordKey,
  recordPrefix,
  stagingKey,
} from "./s3-layout.js";
import { presignGetUrl, presignPartUrl, presignPutUrl } from "./s3-presign.js";
import { RecentRevisions } from "./s3-revisions.js";

/**
 * Artifacts in an S3 bucket (AWS, IBM COS, Ceph RGW, MinIO, R2). The bucket alone is the truth; the
 * key layout is in s3-layout.ts. The same design as the filesystem provider, in objects:
 *
 * - Bytes live in immutable body revisions, `{gridKey}/{rev}`, a fresh one per write (streamed
 *   straight there: a single PUT up to 5 MiB, a multipart upload above, bounded memory). Nobody
 *   references a revision until the record envelope names it.
 * - The record envelope `{ record, body: rev }` is one object; writing it is the commit point. Its
 *   sha256 and size describe exactly the bytes of the revision it names, so a reader never gets
 *   bytes that do not match their recorded sha256 — not during an update, not after a crash at any
 *   point (a crash leaves at most an unreferenced revision, removed when the artifact is deleted).
 *   The superseded revision is deleted after the commit.
 * - Presigned PUTs and multipart uploads land on a staging key; adoptUpload() hashes what arrived
 *   and server-side copies it to a new revision before committing. So a reused upload URL can only
 *   touch the staging key, never a registered artifact, with no extra header for the client to send
 *   (RGW and AWS honour `If-None-Match: *` on PUT, but not every S3-compatible service does).
 * - The id → key index object is written once per artifact (this process remembers which it has
 *   written or read), in parallel with the record.
 *
 * Requests, and round trips in sequence: a new artifact = 4 in 2 (body PUT ∥ record GET, then
 * record PUT ∥ index PUT); replacing bytes = 4 in 2 (the superseded revision is deleted off the
 * write's path); retrieve = 2 in 2 with a session id (record GET, body GET), one more without (index
 * GET); with the record from the session cache and its revision remembered, 1 (body GET); metadata
 * update = 2 in 2; presign GET = none when the revision is remembered; copy = 3-4 in 3; delete = 3+.
 *
 * Limits: S3 cannot cap the size of a presigned PUT, so `maxBytes` is enforced when the upload is
 * adopted: a larger one is deleted, never committed. As on the filesystem provider, a metadata-only
 * update that reads the record just before a content update commits and writes just after it can
 * name the revision that update deleted (S3-compatible servers disagree on If-Match for PUT, so
 * there is no portable compare-and-swap to close that window). Unregistered uploads under
 * `_uploads/` and incomplete multipart uploads left by a crash are best expired by a bucket
 * lifecycle rule.
 */

export interface S3Tuning extends BodyTuning, CopyTuning {
  /** Records fetched in parallel while listing. */
  listConcurrency: number;
  /** Timeouts and attempts of every request. */
  limits: S3Limits;
}

export const DEFAULT_S3_TUNING: S3Tuning = {
  // 5 MiB (the S3 minimum part): with 2 parts in flight and one filling, a 100 MiB stream peaked at
  // 56-70 MB above baseline, against 74-99 MB with 8 MiB parts, at the same speed (bench/README.md).
  partSize: 5 * 1024 * 1024,
  queueSize: 2,
  ...DEFAULT_COPY_TUNING,
  listConcurrency: 32,
  limits: S3_LIMITS,
};

/** How many grid keys with a known index object this process remembers. */
const INDEX_MEMORY = 10_000;
const LIST_PAGE_MAX = 1000;
const MAX_PARTS = 10_000;
/** Attempts when a revision is replaced (and deleted) between reading a record and using it. */
const REREAD_ATTEMPTS = 5;

export class S3StorageProvider implements StorageProvider {
  readonly capabilities: StorageCapabilities = {
    persistent: true,
    shared: true,
    nativePresign: true,
    nativeMultipart: true,
  };
  private readonly indexed = new Set<string>();
  private readonly revisions = new RecentRevisions();
  private readonly background = new Set<Promise<unknown>>();
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
      const rev = newRevision();
      // A new artifact has no previous version to read and later delete; its index entry is
      // written while the bytes go up, so the commit that follows is one request.
      const previous = options.fresh
        ? this.writeIndex(record).then(() => null)
        : this.readEnvelope(record.key);
      previous.catch(() => {}); // awaited below; only the body's failure matters if both fail
      const written = await writeBody(
        this.client,
        this.bucket,
        { key: bodyKey(record.key, rev), contentType: record.mime },
        body,
        options.maxBytes ?? null,
        this.tuning,
      );
      const committed = { ...record, bytes: written.bytes, sha256: written.sha256 };
      await this.commitRevision({ record: committed, body: rev }, previous);
      return committed;
    });
  }

  async putRecord(record: ArtifactRecord): Promise<void> {
    await this.run("write record", async () => {
      const previous = await this.readEnvelope(record.key);
      assertContentUnchanged(previous?.record, record);
      await this.commitEnvelope({ record, body: previous?.body ?? null });
    });
  }

  async getRecord(key: string): Promise<ArtifactRecord | null> {
    return this.run("read record", async () => (await this.readEnvelope(key))?.record ?? null);
  }

  async adoptUpload(
    record: ArtifactRecord,
    options: { maxBytes: number | null },
  ): Promise<ArtifactRecord | null> {
    return this.run("register upload", async () => {
      const staging = stagingKey(record.key);
      const previousRead = this.readEnvelope(record.key);
      previousRead.catch(() => {});
      let got: GetObjectCommandOutput;
      try {
        got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: staging }));
      } catch (err) {
        if (!isMissingObject(err)) throw err;
        return this.adoptCommitted(record, await previousRead, options.maxBytes);
      }
      const stream = got.Body as Readable;
      const measured = new Measured(stream, options.maxBytes);
      try {
        if (options.maxBytes !== null && (got.ContentLength ?? 0) > options.maxBytes) {
          throw new BodyTooLargeError(`upload is larger than the limit of ${options.maxBytes} bytes`);
        }
        for await (const _ of measured);
      } catch (err) {
        stream.destroy();
        if (err instanceof BodyTooLargeError) await this.removeAll(record.key, await previousRead);
        throw err;
      }
      const rev = newRevision();
      try {
        await serverCopy(
          this.client,
          this.bucket,
          {
            from: staging,
            to: bodyKey(record.key, rev),
            size: measured.bytes,
            ifMatch: got.ETag,
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
      await this.commitRevision({ record: committed, body: rev }, previousRead);
      // Best effort: a leftover staging object is never read again once the record is ready.
      await this.deleteKey(staging).catch(() => {});
      return committed;
    });
  }

  async openBody(key: string, range?: ByteRange, expected?: { sha256: string }): Promise<OpenedBody | null> {
    return this.run("read", async () => {
      for (let attempt = 0; attempt < REREAD_ATTEMPTS; attempt++) {
        const current = attempt === 0 ? this.revisions.get(key, expected?.sha256) : null;
        const target = current ?? (await this.currentRevision(key));
        if (!target) return null;
        let got: GetObjectCommandOutput;
        try {
          got = await this.client.send(
            new GetObjectCommand({
              Bucket: this.bucket,
              Key: bodyKey(key, target.rev),
              ...(range && { Range: `bytes=${range.start}-${range.end}` }),
            }),
          );
        } catch (err) {
          // Replaced and deleted since the record was read: read the record again.
          if (isMissingObject(err)) {
            this.revisions.delete(key);
            continue;
          }
          if (statusOf(err) === 416)
            throw new ValidationError("range is outside the artifact", { cause: err });
          throw err;
        }
        const length = got.ContentLength ?? 0;
        const total = range ? Number(/\/(\d+)$/.exec(got.ContentRange ?? "")?.[1]) : length;
        return {
          stream: got.Body as Readable,
          length,
          totalBytes: Number.isFinite(total) ? total : length,
          sha256: target.sha256,
        };
      }
      return null;
    });
  }

  async copy(sourceKey: string, record: ArtifactRecord): Promise<ArtifactRecord> {
    return this.run("copy", async () => {
      const previousRead = this.readEnvelope(record.key);
      previousRead.catch(() => {});
      for (let attempt = 0; attempt < REREAD_ATTEMPTS; attempt++) {
        const source = await this.readEnvelope(sourceKey);
        if (!source?.body) throw new ArtifactNotFoundError(`no body at ${sourceKey}`);
        const rev = newRevision();
        try {
          await serverCopy(
            this.client,
            this.bucket,
            {
              from: bodyKey(sourceKey, source.body),
              to: bodyKey(record.key, rev),
              size: source.record.bytes,
              contentType: record.mime,
            },
            this.tuning,
          );
        } catch (err) {
          if (isMissingObject(err)) continue; // the source was replaced meanwhile
          throw err;
        }
        const committed = { ...record, bytes: source.record.bytes, sha256: source.record.sha256 };
        await this.commitRevision({ record: committed, body: rev }, previousRead);
        return committed;
      }
      throw new ConflictError("the source kept changing during the copy");
    });
  }

  async delete(key: string): Promise<boolean> {
    return this.run("delete", async () => {
      const envelope = await this.readEnvelope(key);
      if (!envelope) return false;
      await this.removeAll(key, envelope);
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
      const envelopes = await mapLimit(keys, this.tuning.listConcurrency, (key) => this.readEnvelope(key));
      const last = keys[keys.length - 1];
      return {
        records: envelopes.filter((e): e is Envelope => e !== null).map((e) => e.record),
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

  /** Signs the current revision: the URL serves exactly those bytes, or 404 once they are replaced. */
  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    return this.run("presign download", async () => {
      const target = this.revisions.get(key, options.sha256) ?? (await this.currentRevision(key));
      if (!target) throw new ArtifactNotFoundError(`no body at ${key}`);
      return presignGetUrl(this.client, this.bucket, bodyKey(key, target.rev), options);
    });
  }

  /** Signs a PUT to the staging key; adoptUpload() later measures it and commits it. */
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
    await Promise.allSettled([...this.background]);
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

  private async readEnvelope(key: string): Promise<Envelope | null> {
    const text = await this.getText(recordKey(key));
    const envelope = text === null ? null : parseEnvelope(text, key);
    if (envelope) this.revisions.set(key, envelope.body, envelope.record.sha256);
    return envelope;
  }

  private async currentRevision(key: string): Promise<{ rev: string; sha256: string } | null> {
    const envelope = await this.readEnvelope(key);
    return envelope?.body ? { rev: envelope.body, sha256: envelope.record.sha256 } : null;
  }

  /** Writes the envelope (the commit point) and, the first time, the id → key index. */
  private async commitEnvelope(envelope: Envelope): Promise<void> {
    const { record } = envelope;
    // The index goes first: once the record (the commit point) exists, a lookup by id must find it,
    // even if the process dies right after.
    if (!this.indexed.has(record.key)) await this.writeIndex(record);
    await this.putText(recordKey(record.key), serializeEnvelope(envelope), "application/json");
    this.revisions.set(record.key, envelope.body, record.sha256);
  }

  private async writeIndex(record: ArtifactRecord): Promise<void> {
    await this.putText(indexKey(record.sandboxId, record.artifactId), record.key);
    this.rememberIndexed(record.key);
  }

  /**
   * Commits an envelope naming a freshly written revision (`previous` is the envelope read while
   * the bytes went up), then deletes the revision it replaced. If anything before the commit fails,
   * the new revision is removed again, so a failed write leaves nothing.
   */
  private async commitRevision(
    envelope: Envelope & { body: string },
    previousRead: Promise<Envelope | null>,
  ): Promise<void> {
    const { key } = envelope.record;
    let previous: Envelope | null;
    try {
      previous = await previousRead;
      await this.commitEnvelope(envelope);
    } catch (err) {
      await this.deleteKey(bodyKey(key, envelope.body)).catch(() => {});
      throw err;
    }
    // Off the write's path and best effort: a leftover revision is unreferenced, and removed with
    // the artifact; close() waits for these.
    if (previous?.body && previous.body !== envelope.body)
      this.inBackground(this.deleteKey(bodyKey(key, previous.body)));
  }

  private inBackground(work: Promise<unknown>): void {
    const tracked = work.catch(() => {}).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  private rememberIndexed(key: string): void {
    // Forgetting only costs a repeated (idempotent) index write, so a plain bounded set will do.
    if (this.indexed.size >= INDEX_MEMORY) this.indexed.clear();
    this.indexed.add(key);
  }

  /**
   * Removes an artifact: the record first (once it is gone the artifact is gone, even if removing
   * the rest fails), then every body revision (orphans of a crash included), staging and index.
   */
  private async removeAll(key: string, envelope: Envelope | null): Promise<void> {
    const { sandboxId, artifactId } = parseGridKey(key)!;
    const revisions = this.listKeys(bodyPrefix(key));
    revisions.catch(() => {});
    await this.deleteKey(recordKey(key));
    this.revisions.delete(key);
    this.indexed.delete(key);
    const bodies = new Set(await revisions);
    if (envelope?.body) bodies.add(bodyKey(key, envelope.body));
    await mapLimit([...bodies, stagingKey(key), indexKey(sandboxId, artifactId)], 16, (k) =>
      this.deleteKey(k),
    );
  }

  /** A presigned upload already copied to a revision (or stored by put()): commit what is there. */
  private async adoptCommitted(
    record: ArtifactRecord,
    current: Envelope | null,
    maxBytes: number | null,
  ): Promise<ArtifactRecord | null> {
    if (!current?.body) return null;
    if (maxBytes !== null && current.record.bytes > maxBytes) {
      await this.removeAll(record.key, current);
      throw new BodyTooLargeError(`upload is larger than the limit of ${maxBytes} bytes`);
    }
    const committed = { ...record, bytes: current.record.bytes, sha256: current.record.sha256 };
    await this.commitEnvelope({ record: committed, body: current.body });
    return committed;
  }

  private async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
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
}
