import { randomBytes } from "node:crypto";
import type { S3Client } from "@aws-sdk/client-s3";
import { mapLimit } from "../concurrency.js";
import { sha256Of } from "./raw-memory.js";
import { rawS3Client, type S3Module, type S3Settings } from "./raw-s3.js";
import { type ProviderSettings, storeOptions } from "./setup.js";
import { collectGarbage, timed } from "./stats.js";
import { OursSubject } from "./subject.js";
import { startTcpForwarder } from "./tcp-forwarder.js";

/**
 * The "s3 with Redis stopped" row: the library on S3 whose Redis has gone away (its connection
 * runs through a forwarder that is stopped after the store opens, so the shared Redis is never
 * touched), against raw S3 alone. One unit of work is a store into the user's own session
 * (`user_{id}`, usable while sessions are unavailable) plus a retrieve of it by id.
 */

export interface RedisDownSample {
  ours: number[];
  raw: number[];
}

/** PutObject with the sha256 in the object's metadata; GetObject, checked against it. */
class RawS3Alone {
  private readonly prefix = `bench-raw-noredis-${randomBytes(6).toString("hex")}`;
  private readonly keys: string[] = [];

  private constructor(
    private readonly sdk: S3Module,
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  static async open(s3: S3Settings): Promise<RawS3Alone> {
    const sdk = await import("@aws-sdk/client-s3");
    return new RawS3Alone(sdk, rawS3Client(sdk, s3), s3.bucket);
  }

  async storeAndRetrieve(data: Uint8Array): Promise<void> {
    const Key = `${this.prefix}/${randomBytes(16).toString("hex")}`;
    this.keys.push(Key);
    await this.client.send(
      new this.sdk.PutObjectCommand({
        Bucket: this.bucket,
        Key,
        Body: data,
        ContentType: "application/octet-stream",
        Metadata: { sha256: sha256Of(data) },
      }),
    );
    const out = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key }));
    const body = await out.Body!.transformToByteArray();
    if (sha256Of(body) !== out.Metadata?.sha256) throw new Error(`checksum mismatch at ${Key}`);
  }

  async close(): Promise<void> {
    for (let i = 0; i < this.keys.length; i += 1000) {
      const Objects = this.keys.slice(i, i + 1000).map((Key) => ({ Key }));
      await this.client
        .send(new this.sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects, Quiet: true } }))
        .catch(() => {});
    }
    this.client.destroy();
  }
}

/** Throughput samples (units per second) of each side, `reps` each, sides alternating. */
export async function sampleRedisDown(
  settings: ProviderSettings,
  options: { n: number; size: number; concurrency: number; reps: number },
): Promise<RedisDownSample> {
  const redis = new URL(settings.redisUrl!);
  const forwarder = await startTcpForwarder({ host: redis.hostname, port: Number(redis.port || 6379) });
  const through = new URL(settings.redisUrl!);
  through.hostname = "127.0.0.1";
  through.port = String(forwarder.port);
  const ours = await new OursSubject(storeOptions({ ...settings, redisUrl: through.toString() })).open();
  const raw = await RawS3Alone.open(settings.s3!);
  const session = `user_bench-${randomBytes(4).toString("hex")}`;
  const payloads = Array.from({ length: options.n }, () => randomBytes(options.size));
  const run = {
    ours: (items: Uint8Array[]) =>
      mapLimit(items, options.concurrency, async (data) => {
        await ours.retrieve(await ours.store(data, session));
      }),
    raw: (items: Uint8Array[]) => mapLimit(items, options.concurrency, (data) => raw.storeAndRetrieve(data)),
  };
  const samples: RedisDownSample = { ours: [], raw: [] };
  try {
    await forwarder.stop(); // Redis is gone for the library from here on
    const warm = payloads.slice(0, Math.max(1, Math.round(options.n / 10)));
    await run.raw(warm);
    await run.ours(warm);
    for (let rep = 0; rep < options.reps; rep++) {
      const order = rep % 2 === 0 ? (["raw", "ours"] as const) : (["ours", "raw"] as const);
      for (const side of order) {
        collectGarbage();
        const { seconds } = await timed(() => run[side](payloads));
        samples[side].push(options.n / seconds);
      }
    }
  } finally {
    // Redis back, so the session's artifacts can be deleted (after the breaker's next probe).
    await forwarder.start();
    await new Promise((r) => setTimeout(r, 1200));
    await ours.lib.deleteSession(session).catch(() => {});
    await Promise.allSettled([ours.close(), raw.close()]);
    await forwarder.stop();
  }
  return samples;
}
