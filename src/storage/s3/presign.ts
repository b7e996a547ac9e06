import { GetObjectCommand, PutObjectCommand, type S3Client, UploadPartCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { attachmentDisposition } from "../content-disposition.js";

/**
 * SigV4 query-string presigning. The client is built with checksums WHEN_REQUIRED, so no
 * `x-amz-checksum-*` parameter is signed into PUT or part URLs (it would make real uploads fail).
 */

export function presignGetUrl(
  client: S3Client,
  bucket: string,
  key: string,
  options: { expires: number; filename?: string | null | undefined; mime?: string | undefined },
): Promise<string> {
  return getSignedUrl(
    client,
    new GetObjectCommand({
      Bucket: bucket,
      Key: key,
      ...(options.mime !== undefined && { ResponseContentType: options.mime }),
      ...(options.filename != null && {
        ResponseContentDisposition: attachmentDisposition(options.filename),
      }),
    }),
    { expiresIn: options.expires },
  );
}

/**
 * A PUT URL. With a mime, Content-Type is signed too (the presigner leaves it out by default), so
 * the client must send exactly that type: the URL enforces the type it was issued for.
 */
export function presignPutUrl(
  client: S3Client,
  bucket: string,
  key: string,
  options: { expires: number; mime?: string | null | undefined },
): Promise<string> {
  const mime = options.mime ?? null;
  return getSignedUrl(
    client,
    new PutObjectCommand({ Bucket: bucket, Key: key, ...(mime !== null && { ContentType: mime }) }),
    { expiresIn: options.expires, ...(mime !== null && { signableHeaders: new Set(["content-type"]) }) },
  );
}

export function presignPartUrl(
  client: S3Client,
  bucket: string,
  key: string,
  uploadId: string,
  partNumber: number,
  expires: number,
): Promise<string> {
  return getSignedUrl(
    client,
    new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber }),
    { expiresIn: expires },
  );
}
