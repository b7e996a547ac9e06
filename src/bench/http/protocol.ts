import type { ProviderSettings } from "../setup.js";

/** What the HTTP workloads send between the bench, its server children and its load child. */

/** The bearer key and user every REST request in the bench acts as (a plain, non-admin user). */
export const BENCH_API_KEY = "bench-api-key-0123456789abcdef";
export const BENCH_USER = "bench";
export const BENCH_SIGNING_SECRET = "bench-signing-secret";
/** The size limit signed into every presigned upload of the bench (both sides). */
export const BENCH_UPLOAD_LIMIT = 1024 ** 3;

/** One request as the load generator sends it; `body` is a size in bytes of random content. */
export interface RequestSpec {
  method: "GET" | "HEAD" | "PUT" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: number | string;
}

export type HttpWorkloadId =
  | "http-signed-get"
  | "http-rest-get"
  | "http-rest-upload"
  | "http-presigned-put"
  | "http-head-inm"
  | "http-range-get";

/** Bench → server child. */
export type ServerRequest =
  | { type: "start"; settings: ProviderSettings; side: "ours" | "raw" }
  | { type: "prepare"; workload: HttpWorkloadId; count: number; size: number }
  | { type: "large-put" }
  | { type: "large-get"; upload: string }
  | { type: "peak-reset" }
  | { type: "peak-read" }
  | { type: "cpu" }
  | { type: "stop" };

/**
 * Server child → bench: the port, prepared requests (a list, or a list of two-request flows), a
 * peak, or an error. `upload` names a large upload for the `large-get` that follows it.
 */
export interface ServerReply {
  port?: number;
  requests?: RequestSpec[];
  flows?: RequestSpec[][];
  /** Each request (or flow) may be sent only once: run a fixed amount, not for a duration. */
  once?: boolean;
  upload?: string;
  peakBytes?: number;
  peakMethod?: "VmHWM" | "sampled";
  /** CPU time (user + system) the server process has used so far, in microseconds. */
  cpuMicros?: number;
  error?: string;
}

/** Bench → load child: one timed run. */
export type LoadJob =
  | {
      type: "cannon";
      port: number;
      connections: number;
      /** Seconds to run, or null with `amount` requests. */
      seconds: number | null;
      amount: number | null;
      requests?: RequestSpec[];
      flows?: RequestSpec[][];
      /** Status class every response must have (2 or 3). */
      expect: 2 | 3;
    }
  | { type: "large-put"; port: number; request: RequestSpec; bytes: number }
  | { type: "large-get"; port: number; request: RequestSpec; bytes: number };

export interface LoadResult {
  requests: number;
  seconds: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
  error?: string;
}
