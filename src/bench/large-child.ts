import { createHash, randomBytes } from "node:crypto";
import { generated, type LargeRequest, type LargeSample, memoryStatus, resetPeak } from "./large.js";
import { openSubject } from "./setup.js";
import { collectGarbage, timed } from "./stats.js";
import type { Subject } from "./subject.js";

/**
 * Child process of the large-artifact workload: streams one big artifact in from a generated
 * Readable, then out through the streaming read, measuring time and peak resident memory above a
 * settled baseline for each phase. A child of its own keeps the parent's heap out of the numbers.
 */

class PeakMeter {
  private max = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly usesKernel: boolean;
  private base = 0;

  constructor() {
    collectGarbage();
    collectGarbage();
    this.base = memoryStatus()?.rss ?? process.memoryUsage.rss();
    this.usesKernel = resetPeak();
    if (!this.usesKernel) {
      this.max = process.memoryUsage.rss();
      this.timer = setInterval(() => {
        this.max = Math.max(this.max, process.memoryUsage.rss());
      }, 2);
    }
  }

  get baseline(): number {
    return this.base;
  }

  get method(): LargeSample["peakMethod"] {
    return this.usesKernel ? "VmHWM" : "sampled";
  }

  /** Peak above the baseline since construction. */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    const peak = this.usesKernel ? memoryStatus()!.hwm : Math.max(this.max, process.memoryUsage.rss());
    return Math.max(0, peak - this.base);
  }
}

async function measure(request: LargeRequest): Promise<LargeSample> {
  const subject: Subject = await openSubject(request.settings, request.side);
  const sessionId = `large-${randomBytes(6).toString("hex")}`;
  try {
    // Warm up both paths (module loading, connections) with a small artifact.
    const warm = await subject.storeStream(generated(4 * 1024 * 1024), sessionId);
    await subject.readStream(warm, () => {});
    await subject.delete(warm);

    const storeMeter = new PeakMeter();
    const stored = await timed(() => subject.storeStream(generated(request.bytes), sessionId));
    const storePeakBytes = storeMeter.stop();

    const readMeter = new PeakMeter();
    const hash = createHash("sha256");
    let received = 0;
    const read = await timed(() =>
      subject.readStream(stored.value, (chunk) => {
        hash.update(chunk);
        received += chunk.byteLength;
      }),
    );
    const retrievePeakBytes = readMeter.stop();
    if (received !== request.bytes) throw new Error(`read ${received} bytes, expected ${request.bytes}`);
    if (hash.digest("hex") !== read.value) throw new Error("the bytes read back do not match their sha256");
    await subject.delete(stored.value);
    return {
      bytes: request.bytes,
      storeSeconds: stored.seconds,
      retrieveSeconds: read.seconds,
      storePeakBytes,
      retrievePeakBytes,
      retainedBytes: Math.max(0, readMeter.baseline - storeMeter.baseline),
      peakMethod: storeMeter.method,
    };
  } finally {
    await subject.close();
  }
}

process.once("message", (request: LargeRequest) => {
  measure(request).then(
    (result) => process.send!({ result }, () => process.exit(0)),
    (err: unknown) =>
      process.send!({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () =>
        process.exit(1),
      ),
  );
});
