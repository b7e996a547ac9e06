import { createHash, randomBytes } from "node:crypto";
import {
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { inject } from "vitest";
import { buildKey, newArtifactId } from "../src/grid.js";
import { IdLocator } from "../src/id-locator.js";
import type { ArtifactRecord } from "../src/metadata.js";
import { RecordStore } from "../src/records.js";
import { MemorySessionProvider } from "../src/sessions/memory.js";
import { S3Driver, type S3Tuning } from "../src/storage/s3/driver.js";

/** Helpers for the s3 provider tests, which run against the real RGW from test/setup/services.ts. */

export function s3Services() {
  const { s3 } = inject("services");
  return s3;
}

export function s3Config(overrides: Partial<NonNullable<ReturnType<typeof s3Services>>> = {}) {
  const s3 = { ...s3Services()!, ...overrides };
  return {
    bucket: s3.bucket,
    region: s3.region,
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: true,
  };
}

/** The record layer over the S3 driver, as the store uses it (the id index in a memory session provider). */
export async function openS3(
  tuning: Partial<S3Tuning> = {},
  name: "s3" | "ibm_cos" = "s3",
  config: Parameters<typeof S3Driver.open>[1] = s3Config(),
): Promise<RecordStore> {
  const driver = await S3Driver.open(name, config, tuning);
  const index = new MemorySessionProvider();
  return new RecordStore(driver, new IdLocator(driver, async () => index));
}

/** A bare SDK client, to look at the bucket behind the provider's back. */
export function rawClient(extra: Partial<S3ClientConfig> = {}): S3Client {
  const c = s3Config();
  return new S3Client({
    region: c.region,
    endpoint: c.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    ...extra,
  });
}

export { collect as readAll } from "../src/body.js";
export { sha256, single as once } from "./helpers/bytes.js";

export function sandbox(): string {
  return `s3t-${randomBytes(6).toString("hex")}`;
}

export function record(sandboxId: string, sessionId: string, overrides: Partial<ArtifactRecord> = {}) {
  const artifactId = overrides.artifactId ?? newArtifactId();
  const now = new Date().toISOString();
  const r: ArtifactRecord = {
    artifactId,
    sessionId,
    sandboxId,
    key: buildKey(sandboxId, sessionId, artifactId),
    mime: "application/octet-stream",
    summary: "s3 test",
    meta: { n: 1 },
    filename: "file.bin",
    bytes: 0,
    sha256: "",
    storedAt: now,
    updatedAt: now,
    ttl: null,
    expiresAt: null,
    storageProvider: "s3",
    sessionProvider: "memory",
    userId: null,
    status: "ready",
    sessionExpiresAt: null,
    scope: "session",
    version: 1,
    etag: "1-s3test",
  };
  return { ...r, ...overrides, key: buildKey(sandboxId, sessionId, artifactId) };
}

/**
 * `total` bytes generated chunk by chunk (never held whole), with their sha256 computed as they
 * pass; `onChunk` lets a test sample memory while the provider consumes the stream.
 */
export function generated(total: number, chunk = 64 * 1024, onChunk?: () => void) {
  const hash = createHash("sha256");
  const seed = randomBytes(chunk);
  let digest: string | null = null;
  async function* source(): AsyncIterable<Uint8Array> {
    let sent = 0;
    let n = 0;
    while (sent < total) {
      const size = Math.min(chunk, total - sent);
      const piece = Buffer.from(seed.subarray(0, size));
      piece.writeUInt32BE(n++, 0); // every chunk differs, so a reordered part changes the hash
      hash.update(piece);
      sent += size;
      onChunk?.();
      yield piece;
    }
    digest = hash.digest("hex");
  }
  return {
    source,
    get sha256() {
      if (digest === null) throw new Error("the source has not been fully read");
      return digest;
    },
  };
}

/** Every object key under a prefix, from the bucket itself. */
export async function objectKeys(client: S3Client, prefix: string): Promise<string[]> {
  const bucket = s3Config().bucket;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Multipart uploads still open under a prefix (an aborted upload must leave none). */
export async function openUploads(client: S3Client, prefix: string): Promise<string[]> {
  const page = await client.send(
    new ListMultipartUploadsCommand({ Bucket: s3Config().bucket, Prefix: prefix }),
  );
  return (page.Uploads ?? []).map((u) => u.Key ?? "");
}
