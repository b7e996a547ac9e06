import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import type { ArtifactStoreOptions } from "../../src/config.js";

/**
 * What a store left behind, read from the backend itself (not through the store): the paths under
 * a filesystem root and the object keys of an S3 sandbox.
 */

/** Paths under `dir`, relative to it; folders too when `directories` is set. */
export async function walk(
  dir: string,
  options: { directories?: boolean } = {},
  prefix = "",
): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (!entry.isDirectory() || options.directories) out.push(rel);
    if (entry.isDirectory()) out.push(...(await walk(join(dir, entry.name), options, rel)));
  }
  return out;
}

/** Object keys in the bucket under `grid/{sandbox}/`, sorted (s3 configurations only). */
export async function bucketKeys(options: ArtifactStoreOptions): Promise<string[]> {
  const s3 = options.s3!;
  const client = new S3Client({
    region: s3.region ?? "us-east-1",
    ...(s3.endpoint !== undefined && { endpoint: s3.endpoint }),
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId!, secretAccessKey: s3.secretAccessKey! },
  });
  try {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: s3.bucket!,
          Prefix: `grid/${options.sandboxId}/`,
          ContinuationToken: token,
        }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  } finally {
    client.destroy();
  }
}
