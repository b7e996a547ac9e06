import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordStore } from "../src/records.js";
import {
  generated,
  objectKeys,
  openS3,
  openUploads,
  rawClient,
  record,
  s3Services,
  sandbox,
} from "./s3-helpers.js";

const MiB = 1024 * 1024;
/** Two sizes: memory must not grow with the body. */
const SMALL = 24 * MiB;
const LARGE = 96 * MiB;

/**
 * Peak memory above a baseline while `fn` runs, sampled often: resident set size (what the OS
 * sees, including freed memory the allocator has not returned yet) and live ArrayBuffer/Buffer
 * bytes (what the code actually holds).
 */
async function peakMemory<T>(
  fn: (sample: () => void) => Promise<T>,
): Promise<{ result: T; rssMiB: number; buffersMiB: number }> {
  const base = process.memoryUsage();
  let rss = base.rss;
  let buffers = base.arrayBuffers;
  const sample = () => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss);
    buffers = Math.max(buffers, now.arrayBuffers);
  };
  const timer = setInterval(sample, 10);
  try {
    const result = await fn(sample);
    sample();
    return { result, rssMiB: (rss - base.rss) / MiB, buffersMiB: (buffers - base.arrayBuffers) / MiB };
  } finally {
    clearInterval(timer);
  }
}

describe.skipIf(!s3Services())("s3 provider with a large streamed body", () => {
  let s3: RecordStore;
  const sb = sandbox();

  beforeAll(async () => {
    s3 = await openS3();
    // Warm up the SDK and sockets so the baseline includes them.
    const warm = record(sb, "warm");
    await s3.put(warm, generated(9 * MiB).source());
    await s3.delete(warm.key);
  });
  afterAll(async () => {
    await s3.close();
  });

  async function roundTrip(size: number) {
    const r = record(sb, "big");
    let body: ReturnType<typeof generated> | null = null;
    const started = Date.now();
    const put = await peakMemory(async (sample) => {
      body = generated(size, 64 * 1024, sample);
      return s3.put(r, body.source());
    });
    const putMs = Date.now() - started;
    expect(put.result).toMatchObject({ bytes: size, sha256: body!.sha256 });

    const readStarted = Date.now();
    const read = await peakMemory(async (sample) => {
      const opened = (await s3.openBody(r.key))!;
      const hash = createHash("sha256");
      for await (const chunk of opened.stream) {
        hash.update(chunk);
        sample();
      }
      return { digest: hash.digest("hex"), recorded: opened.sha256 };
    });
    const readMs = Date.now() - readStarted;
    expect(read.result.digest).toBe(body!.sha256);
    expect(read.result.recorded).toBe(body!.sha256);
    await s3.delete(r.key);
    console.log(
      `${size / MiB} MiB: put ${putMs} ms, peak +${put.rssMiB.toFixed(1)} MiB RSS ` +
        `(+${put.buffersMiB.toFixed(1)} MiB buffers); read ${readMs} ms, peak ` +
        `+${read.rssMiB.toFixed(1)} MiB RSS (+${read.buffersMiB.toFixed(1)} MiB buffers)`,
    );
    return { put, read };
  }

  it("streams bodies in and out with memory bounded by the part size, not the body size", async () => {
    const small = await roundTrip(SMALL);
    const large = await roundTrip(LARGE);
    // 5 MiB parts, 2 in flight, one being filled, the buffered head, plus garbage not yet
    // collected: a bounded amount, the same for 24 MiB and 96 MiB, well under the body.
    expect(large.put.rssMiB).toBeLessThan(128);
    expect(large.put.rssMiB).toBeLessThan(small.put.rssMiB + 40);
    expect(large.read.rssMiB).toBeLessThan(64);

    const raw = rawClient();
    try {
      expect(await objectKeys(raw, `grid/${sb}/big/`)).toEqual([]);
      expect(await openUploads(raw, `grid/${sb}/`)).toEqual([]);
    } finally {
      raw.destroy();
    }
  }, 300_000);
});
