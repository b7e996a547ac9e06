import { S3Client } from "@aws-sdk/client-s3";
import type { ResolvedConfig } from "../../config.js";

/** Bounds on every request, so a dead or black-holed endpoint fails in seconds, not minutes. */
export interface S3Limits {
  connectMs: number;
  requestMs: number;
  idleMs: number;
  copyRequestMs: number;
  maxAttempts: number;
}

export const S3_LIMITS: S3Limits = {
  /** TCP connect. */
  connectMs: 5_000,
  /** Until the response headers arrive (one part upload or one small request). */
  requestMs: 30_000,
  /** A socket with no traffic, e.g. a body stream nobody reads. */
  idleMs: 60_000,
  /** Server-side copies of large objects take longer before they answer. */
  copyRequestMs: 10 * 60_000,
  /** Attempts per request, first included (standard retry with backoff). */
  maxAttempts: 3,
};

/**
 * One client for requests and presigning. Checksums only WHEN_REQUIRED: the newer default sends
 * `aws-chunked` bodies with CRC32 trailers (refused by RGW and others) and writes
 * `x-amz-checksum-crc32` into presigned PUT URLs, which breaks real uploads.
 *
 * `cacheMiddleware`: the SDK otherwise builds the whole middleware chain again for every request,
 * about 38 KB of garbage per PutObject. Nothing here changes a client's or a command's middleware
 * after the first request (the presigner works on a copy of the stack), which is what it requires.
 */
export function createS3Client(config: ResolvedConfig["s3"], limits: S3Limits = S3_LIMITS): S3Client {
  const agent = { keepAlive: true, maxSockets: 64 };
  return new S3Client({
    region: config.region,
    ...(config.endpoint !== undefined && { endpoint: config.endpoint }),
    forcePathStyle: config.forcePathStyle,
    // Without keys the SDK's default chain (IAM role, profile, web identity) is used.
    ...(config.accessKeyId !== undefined &&
      config.secretAccessKey !== undefined && {
        credentials: {
          accessKeyId: config.accessKeyId,
          secretAccessKey: config.secretAccessKey,
          ...(config.sessionToken !== undefined && { sessionToken: config.sessionToken }),
        },
      }),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    cacheMiddleware: true,
    maxAttempts: limits.maxAttempts,
    requestHandler: {
      connectionTimeout: limits.connectMs,
      requestTimeout: limits.requestMs,
      throwOnRequestTimeout: true,
      socketTimeout: limits.idleMs,
      httpAgent: agent,
      httpsAgent: agent,
    },
  });
}
