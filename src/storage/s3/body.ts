import { Readable } from "node:stream";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { heldChunks } from "../../body.js";

export interface BodyTuning {
  /** Multipart part size, and the largest body sent as one buffered PutObject. */
  partSize: number;
  /** Parts in flight at once; memory is about (queueSize + 1) * partSize. */
  queueSize: number;
}

export interface BodyTarget {
  key: string;
  contentType?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** Header values for a conditional single PUT (the multipart path writes fresh keys only). */
  ifNoneMatch?: string | undefined;
  ifMatch?: string | undefined;
}

/**
 * Streams a body to `key`. A body up to `partSize` is buffered and sent as one PutObject (with the
 * write conditions); a larger one goes up as a multipart upload in `partSize` parts, `queueSize`
 * at a time, so memory stays bounded whatever the size. On a stream error the multipart upload is
 * aborted and nothing is left at `key`. Returns the size and the ETag (empty when the server gave
 * none, as RGW's CompleteMultipartUpload does).
 */
export async function writeBody(
  client: S3Client,
  bucket: string,
  target: BodyTarget,
  body: AsyncIterable<Uint8Array>,
  tuning: BodyTuning,
): Promise<{ bytes: number; etag: string }> {
  const source = body[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  const held = heldChunks(body);
  const heldBytes = held?.reduce((n, c) => n + c.byteLength, 0) ?? Number.POSITIVE_INFINITY;
  if (held !== null && heldBytes <= tuning.partSize) {
    // All at hand and small enough for one PutObject: taken as they are.
    head.push(...held);
    buffered = heldBytes;
    ended = true;
  }
  while (!ended && buffered <= tuning.partSize) {
    const next = await source.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    buffered += next.value.byteLength;
  }
  const common = {
    Bucket: bucket,
    Key: target.key,
    ...(target.contentType !== undefined && { ContentType: target.contentType }),
    ...(target.metadata && { Metadata: target.metadata }),
  };

  if (ended) {
    const bytes = head.length === 1 ? head[0]! : Buffer.concat(head);
    const put = await client.send(
      new PutObjectCommand({
        ...common,
        Body: bytes,
        ContentLength: bytes.byteLength,
        ...(target.ifNoneMatch !== undefined && { IfNoneMatch: target.ifNoneMatch }),
        ...(target.ifMatch !== undefined && { IfMatch: target.ifMatch }),
      }),
    );
    return { bytes: bytes.byteLength, etag: put.ETag ?? "" };
  }

  let bytes = 0;
  async function* rest(): AsyncIterable<Uint8Array> {
    while (head.length > 0) {
      const chunk = head.shift()!;
      bytes += chunk.byteLength;
      yield chunk;
    }
    for (;;) {
      const next = await source.next();
      if (next.done) return;
      bytes += next.value.byteLength;
      yield next.value;
    }
  }
  const stream = Readable.from(rest(), { objectMode: false, highWaterMark: 64 * 1024 });
  const upload = new Upload({
    client,
    params: { ...common, Body: stream },
    partSize: tuning.partSize,
    queueSize: tuning.queueSize,
    leavePartsOnError: false,
  });
  try {
    // On a failed part or a stream error (BodyTooLargeError included), Upload aborts the
    // multipart upload itself once its in-flight parts settle, then rethrows the first error.
    const done = await upload.done();
    return { bytes, etag: ("ETag" in done && done.ETag) || "" };
  } catch (err) {
    await upload.abort();
    throw err;
  } finally {
    stream.destroy();
  }
}
