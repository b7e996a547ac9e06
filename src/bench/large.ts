import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { ProviderSettings } from "./setup.js";

/** One run of the large-artifact workload, measured in a child process of its own. */
export interface LargeSample {
  bytes: number;
  storeSeconds: number;
  retrieveSeconds: number;
  /** Peak resident memory above the child's settled baseline while storing. */
  storePeakBytes: number;
  /** Peak resident memory above the settled baseline (taken after the store) while retrieving. */
  retrievePeakBytes: number;
  /** Resident memory still held after the store, once garbage is collected (the memory provider keeps the bytes). */
  retainedBytes: number;
  /** "VmHWM": the kernel's peak counter, reset before each phase; "sampled": rss polled every 2 ms. */
  peakMethod: "VmHWM" | "sampled";
}

export interface LargeRequest {
  settings: ProviderSettings;
  side: "ours" | "raw";
  bytes: number;
}

/** Runs the large workload for one side in a fresh child process and returns what it measured. */
export function runLarge(request: LargeRequest): Promise<LargeSample> {
  const child = fork(fileURLToPath(new URL("./large-child.js", import.meta.url)), [], {
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    let settled = false;
    child.once("message", (message: { result?: LargeSample; error?: string }) => {
      settled = true;
      if (message.result) resolve(message.result);
      else reject(new Error(message.error ?? "large workload child failed"));
    });
    child.once("error", (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    child.once("exit", (code, signal) => {
      if (!settled) reject(new Error(`large workload child exited (${signal ?? code}) without a result`));
      settled = true;
    });
    child.send(request);
  });
}

/** A stream of `total` bytes in fresh 64 KiB chunks, as a socket or file would hand them over. */
export function generated(total: number, chunkSize = 64 * 1024): Readable {
  const pool = randomBytes(1024 * 1024 + chunkSize);
  let sent = 0;
  let turn = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, total - sent);
      const chunk = Buffer.allocUnsafe(n);
      const offset = (turn++ * 4099) % (pool.byteLength - chunkSize);
      pool.copy(chunk, 0, offset, offset + n);
      sent += n;
      this.push(chunk);
    },
  });
}

/** Resident memory now and its peak, from /proc (Linux); null elsewhere. */
export function memoryStatus(): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (!rss || !hwm) return null;
    return { rss: Number(rss[1]) * 1024, hwm: Number(hwm[1]) * 1024 };
  } catch {
    return null;
  }
}

/** Resets the kernel's peak-RSS counter to the current RSS; false when not possible. */
export function resetPeak(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    const after = memoryStatus();
    return after !== null && after.hwm - after.rss < 4 * 1024 * 1024;
  } catch {
    return false;
  }
}
