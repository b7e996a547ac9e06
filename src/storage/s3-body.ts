import { Readable } from "node:stream";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { Measured } from "../body.js";

export interface BodyTuning {
  /** Multipart part size, and the largest body sent as one buffered PutObject. */
  partSize: number;
  /** Parts in flight at once; memory is about (queueSize + 1) * partSize. */
  queueSize: number;
}

/**
 * Streams a body to a fresh (not yet referenced) key, measuring and hashing it on the way. A body
 * up to `partSize` is buffered and sent as one PutObject; a larger one goes up as a multipart upload
 * in `partSize` parts, `queueSize` at a time, so memory stays bounded whatever the size. Past
 * `maxBytes`, or on a stream error, the multipart upload is aborted and nothing is left at `key`.
 */
export async function writeBody(
  client: S3Client,
  bucket: string,
  target: { key: string; contentType: string },
  body: AsyncIterable<Uint8Array>,
  maxBytes: number | null,
  tuning: BodyTuning,
): Promise<{ bytes: number; sha256: string }> {
  const measured = new Measured(body, maxBytes);
  const source = measured[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  while (buffered <= tuning.partSize) {
    const next = await source.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    buffered += next.value.byteLength;
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
    params: { Bucket: bucket, Key: target.key, Body: stream, ContentType: target.contentType },
    partSize: tuning.partSize,
    queueSize: tuning.queueSize,
    leavePartsOnError: false,
  });
  try {
    // On a failed part or a stream error (BodyTooLargeError included), Upload aborts the
    // multipart upload itself once its in-flight parts settle, then rethrows the first error.
    await upload.done();
    return { bytes: measured.bytes, sha256: measured.sha256 };
  } catch (err) {
    await upload.abort();
    throw err;
  } finally {
    stream.destroy();
  }
}
