import { Readable } from "node:stream";
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { Measured } from "../body.js";
import { type CopyTuning, serverCopy } from "./s3-copy.js";
import { SHA256_META } from "./s3-layout.js";

export interface BodyTuning extends CopyTuning {
  /** Multipart part size, and the largest body sent as one buffered PutObject. */
  partSize: number;
  /** Parts in flight at once; memory is about (queueSize + 1) * partSize. */
  queueSize: number;
}

export interface BodyTarget {
  key: string;
  /** Where a large body is streamed before the copy that commits it. */
  tempKey: string;
  contentType: string;
}

/**
 * Writes a body so that the object at `target.key` changes in one step, together with the sha256
 * of its bytes in its user metadata. The sha256 is only known once the stream ends, and S3 takes
 * user metadata only when an object is created, so:
 * - a body up to `partSize` is buffered, hashed, and written by one PutObject carrying its sha256;
 * - a larger one streams (bounded memory, multipart) to a temporary key, then a server-side copy
 *   with the sha256 replaces the target at once, and the temporary object is deleted.
 * Past `maxBytes` (or on a stream error) the upload is aborted and nothing is left behind.
 */
export async function writeBody(
  client: S3Client,
  bucket: string,
  target: BodyTarget,
  body: AsyncIterable<Uint8Array>,
  maxBytes: number | null,
  tuning: BodyTuning,
): Promise<{ bytes: number; sha256: string }> {
  const measured = new Measured(body, maxBytes);
  const source = measured[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  try {
    while (buffered <= tuning.partSize) {
      const next = await source.next();
      if (next.done) {
        ended = true;
        break;
      }
      head.push(next.value);
      buffered += next.value.byteLength;
    }
  } catch (err) {
    await source.return?.();
    throw err;
  }

  if (ended) {
    const bytes = Buffer.concat(head);
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: target.key,
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: target.contentType,
        Metadata: { [SHA256_META]: measured.sha256 },
      }),
    );
    return { bytes: measured.bytes, sha256: measured.sha256 };
  }

  async function* rest(): AsyncIterable<Uint8Array> {
    while (head.length > 0) yield head.shift()!;
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      yield next.value;
    }
  }
  const stream = Readable.from(rest(), { objectMode: false, highWaterMark: 64 * 1024 });
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: target.tempKey, Body: stream, ContentType: target.contentType },
    partSize: tuning.partSize,
    queueSize: tuning.queueSize,
    leavePartsOnError: false,
  });
  let uploaded = false;
  try {
    // On a failed part or a stream error (BodyTooLargeError included), Upload aborts the
    // multipart upload itself once its in-flight parts settle, then rethrows the first error.
    await upload.done();
    uploaded = true;
    await serverCopy(
      client,
      bucket,
      {
        from: target.tempKey,
        to: target.key,
        size: measured.bytes,
        metadata: { [SHA256_META]: measured.sha256 },
        contentType: target.contentType,
      },
      tuning,
    );
    return { bytes: measured.bytes, sha256: measured.sha256 };
  } catch (err) {
    await upload.abort();
    throw err;
  } finally {
    stream.destroy();
    if (uploaded) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: target.tempKey })).catch(() => {});
    }
  }
}
