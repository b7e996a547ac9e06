/**
 * Progress bars for transfers: drawn on standard error, only when it is a terminal and the
 * transfer is big enough to wait for, so scripts and pipes see nothing. cli-progress loads only
 * when a bar is actually drawn.
 */

export const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;

export interface Progress {
  /** Passes chunks through, advancing the bar by their size. */
  track(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array>;
  stop(): void;
}

const SILENT: Progress = { track: (source) => source, stop: () => {} };

export async function progressFor(label: string, totalBytes: number): Promise<Progress> {
  if (!process.stderr.isTTY || totalBytes < PROGRESS_MIN_BYTES) return SILENT;
  const { default: cliProgress } = await import("cli-progress");
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} {bar} {percentage}% | {done} of {size} | {speed}/s | eta {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let done = 0;
  bar.start(totalBytes, 0, { done: humanBytes(0), size: humanBytes(totalBytes), speed: humanBytes(0) });
  return {
    async *track(source) {
      for await (const chunk of source) {
        done += chunk.byteLength;
        const seconds = Math.max((Date.now() - started) / 1000, 0.001);
        bar.update(done, { done: humanBytes(done), speed: humanBytes(done / seconds) });
        yield chunk;
      }
    },
    stop: () => bar.stop(),
  };
}

/** 1536 → "1.5 KB" (powers of 1024, as file managers show sizes). */
export function humanBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
