import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { mapLimit } from "../../concurrency.js";
import { S3_LIMITS } from "./client.js";

export interface CopyTuning {
  /** Largest object one CopyObject may copy (S3: 5 GiB); larger ones copy part by part. */
  singleCopyMax: number;
  /** Part size of a multipart copy (5 MiB to 5 GiB). */
  copyPartSize: number;
}

export const DEFAULT_COPY_TUNING: CopyTuning = {
  singleCopyMax: 5 * 1024 ** 3,
  copyPartSize: 512 * 1024 ** 2,
};

export interface CopySpec {
  from: string;
  to: string;
  /** Size of the source in bytes (decides single or multipart copy). */
  size: number;
  /** Copy only if the source still has this ETag (it may change between reading and copying). */
  ifMatch?: string | undefined;
  /** The target's content type, always set explicitly (REPLACE), so one path serves both kinds of copy. */
  contentType: string;
  /** The target's user metadata (REPLACE). */
  metadata?: Record<string, string>;
}

/**
 * Server-side copy: the bytes never pass through this process, and the target appears at once
 * (CopyObject, or above `singleCopyMax` a multipart copy committed by CompleteMultipartUpload).
 */
export async function serverCopy(
  client: S3Client,
  bucket: string,
  spec: CopySpec,
  tuning: CopyTuning = DEFAULT_COPY_TUNING,
): Promise<{ etag: string }> {
  const copySource = `${bucket}/${spec.from.split("/").map(encodeURIComponent).join("/")}`;
  const slow = { requestTimeout: S3_LIMITS.copyRequestMs };
  if (spec.size <= tuning.singleCopyMax) {
    const copied = await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: spec.to,
        CopySource: copySource,
        ...(spec.ifMatch !== undefined && { CopySourceIfMatch: spec.ifMatch }),
        MetadataDirective: "REPLACE",
        ContentType: spec.contentType,
        ...(spec.metadata && { Metadata: spec.metadata }),
      }),
      slow,
    );
    return { etag: copied.CopyObjectResult?.ETag ?? "" };
  }
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: spec.to,
      ContentType: spec.contentType,
      ...(spec.metadata && { Metadata: spec.metadata }),
    }),
  );
  try {
    const count = Math.ceil(spec.size / tuning.copyPartSize);
    const numbers = Array.from({ length: count }, (_, i) => i + 1);
    const parts = await mapLimit(numbers, 4, async (partNumber) => {
      const start = (partNumber - 1) * tuning.copyPartSize;
      const end = Math.min(spec.size, start + tuning.copyPartSize) - 1;
      const result = await client.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: spec.to,
          UploadId,
          PartNumber: partNumber,
          CopySource: copySource,
          CopySourceRange: `bytes=${start}-${end}`,
          ...(spec.ifMatch !== undefined && { CopySourceIfMatch: spec.ifMatch }),
        }),
        slow,
      );
      return { PartNumber: partNumber, ETag: result.CopyPartResult?.ETag };
    });
    const done = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: spec.to,
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
      slow,
    );
    return { etag: done.ETag ?? "" };
  } catch (err) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: spec.to, UploadId }))
      .catch(() => {});
    throw err;
  }
}
