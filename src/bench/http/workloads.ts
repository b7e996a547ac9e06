import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { peakRow, throughputRow } from "../rows.js";
import { type BenchOptions, bytesLabel, type Row } from "../run.js";
import type { ProviderName, ProviderSettings } from "../setup.js";
import { type Spread, spread } from "../stats.js";
import type {
  HttpWorkloadId,
  LoadJob,
  LoadResult,
  RequestSpec,
  ServerReply,
  ServerRequest,
} from "./protocol.js";

/**
 * The HTTP workloads: the library's server (as `serve` runs it) and a bare node:http baseline doing
 * the same work, each in a child process, loaded in turn by autocannon from a third process.
 */

export const HTTP_WORKLOADS = [
  "http-signed-get",
  "http-rest-get",
  "http-rest-upload",
  "http-presigned-put",
  "http-head-inm",
  "http-range-get",
  "http-large",
] as const;

const LABELS: Record<HttpWorkloadId | "http-s3-register", (size: string) => string> = {
  "http-signed-get": (s) => `HTTP signed GET ${s}`,
  "http-rest-get": (s) => `HTTP REST GET ${s} (bearer)`,
  "http-rest-upload": (s) => `HTTP REST upload ${s} (POST /v1/artifacts)`,
  "http-presigned-put": (s) => `HTTP presigned PUT ${s} + register`,
  "http-s3-register": (s) => `HTTP register after a presigned PUT of ${s} to S3`,
  "http-head-inm": () => "HTTP HEAD, If-None-Match → 304",
  "http-range-get": () => "HTTP range GET 512 B",
};

/** Minimum ours ÷ raw requests/s; every workload also has p99 ≤ 2× raw's. */
export const HTTP_TARGETS: Partial<
  Record<ProviderName, Partial<Record<HttpWorkloadId | "http-large", number>>>
> = {
  memory: { "http-signed-get": 0.5, "http-rest-get": 0.5 },
  filesystem: {
    "http-signed-get": 0.7,
    "http-rest-get": 0.7,
    "http-rest-upload": 0.6,
    "http-presigned-put": 0.6,
  },
};
export const HTTP_LARGE_RATIO = 0.8;
export const HTTP_LARGE_RSS_MB = 64;
export const HTTP_P99_FACTOR = 2;

/** Fixtures per GET workload, and upload flows per rep of the presigned workload. */
const FIXTURES = 1000;
const FLOWS: Record<ProviderName, number> = { memory: 4000, filesystem: 1500, s3: 400 };

/** What remains of this server's work when the storage is S3. */
const S3_HTTP = new Set<string>(["http-rest-get", "http-rest-upload", "http-presigned-put"]);

type Side = "ours" | "raw";

class Child {
  private readonly queue: ((reply: never) => void)[] = [];
  constructor(readonly process: ChildProcess) {
    process.on("message", (reply) => this.queue.shift()?.(reply as never));
    process.on("exit", (code) => {
      for (const waiting of this.queue.splice(0)) waiting({ error: `child exited (${code})` } as never);
    });
  }
  static fork(file: string, execArgv: string[]): Child {
    const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], {
      execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Child(child);
  }
  ask<T extends { error?: string }>(message: ServerRequest | LoadJob): Promise<T> {
    return new Promise((resolve, reject) => {
      this.queue.push(((reply: T) =>
        reply.error ? reject(new Error(reply.error)) : resolve(reply)) as never);
      this.process.send(message);
    });
  }
}

/** Server children get `--cpu-prof` when CHUK_BENCH_CPU_PROF names a folder for the profiles. */
function serverArgs(side: Side): string[] {
  const dir = process.env.CHUK_BENCH_CPU_PROF;
  const prof = dir
    ? ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${side}-${Date.now()}.cpuprofile`]
    : [];
  return ["--expose-gc", ...prof];
}

export async function measureHttp(
  settings: ProviderSettings,
  options: BenchOptions,
  wants: (id: (typeof HTTP_WORKLOADS)[number]) => boolean,
): Promise<Row[]> {
  const { provider } = settings;
  if (provider === "s3") {
    options.note(
      "s3: signed GET, HEAD, range GET and the 100 MiB transfers go straight to the S3 server (SigV4 URLs), so only the REST GET, REST upload and the register after a presigned PUT (the PUT itself untimed, straight to S3) run through this server",
    );
  }
  try {
    await import("autocannon");
  } catch {
    options.note("HTTP workloads skipped: autocannon is not installed (npm install autocannon)");
    return [];
  }
  const servers: Record<Side, Child> = {
    ours: Child.fork("./server-child.js", serverArgs("ours")),
    raw: Child.fork("./server-child.js", serverArgs("raw")),
  };
  const load = Child.fork("./load-child.js", []);
  const rows: Row[] = [];
  try {
    const ports: Record<Side, number> = { ours: 0, raw: 0 };
    for (const side of ["ours", "raw"] as Side[]) {
      ports[side] = (await servers[side].ask<ServerReply>({ type: "start", settings, side })).port!;
    }
    for (const id of HTTP_WORKLOADS) {
      if (!wants(id) || (provider === "s3" && !S3_HTTP.has(id))) continue;
      if (id === "http-large") {
        if (options.largeBytes > 0)
          rows.push(...(await measureLarge(provider, options, servers, load, ports)));
        continue;
      }
      rows.push(...(await measureOne(provider, id, options, servers, load, ports)));
    }
  } finally {
    await Promise.allSettled([servers.ours.ask({ type: "stop" }), servers.raw.ask({ type: "stop" })]);
    load.process.kill();
  }
  return rows;
}

async function measureOne(
  provider: ProviderName,
  id: HttpWorkloadId,
  options: BenchOptions,
  servers: Record<Side, Child>,
  load: Child,
  ports: Record<Side, number>,
): Promise<Row[]> {
  const label = (provider === "s3" && id === "http-presigned-put" ? LABELS["http-s3-register"] : LABELS[id])(
    bytesLabel(options.size),
  );
  const flows = id === "http-presigned-put";
  const perFlow = provider === "s3" ? 1 : 2;
  const amount = options.n ?? FLOWS[provider];
  type Sample = LoadResult & { cpuMicros: number };
  const job = async (side: Side, seconds: number, scale: number): Promise<Sample> => {
    const prepared = await servers[side].ask<ServerReply>({
      type: "prepare",
      workload: id,
      // A few spare flows: connections still busy when the count is reached start one more.
      count: flows ? Math.max(32, Math.round(amount * scale)) + 2 * options.concurrency : FIXTURES,
      size: options.size,
    });
    const before = await servers[side].ask<ServerReply>({ type: "cpu" });
    const result = await load.ask<LoadResult>({
      type: "cannon",
      port: ports[side],
      connections: options.concurrency,
      seconds: prepared.once ? null : seconds,
      amount: prepared.once
        ? ((prepared.flows ?? prepared.requests)!.length - 2 * options.concurrency) * perFlow
        : null,
      ...(prepared.requests && { requests: prepared.requests }),
      ...(prepared.flows && { flows: prepared.flows }),
      expect: id === "http-head-inm" ? 3 : 2,
    });
    if (result.error) throw new Error(`${side}: ${result.error}`);
    // A warm-up may end before a slow backend answers anything; a timed run may not.
    if (result.requests === 0 && scale === 1)
      throw new Error(`${side}: no request completed in ${seconds} s`);
    const after = await servers[side].ask<ServerReply>({ type: "cpu" });
    return { ...result, cpuMicros: (after.cpuMicros! - before.cpuMicros!) / result.requests };
  };
  const samples: Record<Side, Sample[]> = { ours: [], raw: [] };
  try {
    for (const side of ["ours", "raw"] as Side[]) await job(side, 1, 0.1);
    for (let rep = 0; rep < options.reps; rep++) {
      const order: Side[] = rep % 2 === 0 ? ["raw", "ours"] : ["ours", "raw"];
      for (const side of order) samples[side].push(await job(side, options.httpSeconds, 1));
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    options.log(`${provider} ${id}: ERROR ${message}`);
    return [errorRow(provider, id, label, message)];
  }
  const rate = (side: Side) => spread(samples[side].map((r) => r.requests / r.seconds));
  const p = (side: Side, f: (r: Sample) => number) => spread(samples[side].map(f));
  const ours = rate("ours");
  const raw = rate("raw");
  const target = HTTP_TARGETS[provider]?.[id] ?? null;
  const latency = {
    ours: { p50: p("ours", (r) => r.p50).median, p99: p("ours", (r) => r.p99).median },
    raw: { p50: p("raw", (r) => r.p50).median, p99: p("raw", (r) => r.p99).median },
  };
  const work = flows ? amount * perFlow : Math.round(raw.median * options.httpSeconds);
  const base = {
    provider,
    workload: id,
    metric: "throughput",
    label: `${label}, ${options.concurrency} conn.`,
    work,
  };
  const throughput: Row = {
    ...throughputRow(base, "req/s", ours, raw, target),
    latency,
    cpu: { ours: p("ours", (r) => r.cpuMicros).median, raw: p("raw", (r) => r.cpuMicros).median },
  };
  const p99: Row = {
    provider,
    workload: id,
    metric: "p99",
    label: `${label}: p99 latency`,
    work,
    unit: "ms",
    higherIsBetter: false,
    ours: p("ours", (r) => r.p99),
    raw: p("raw", (r) => r.p99),
    ratio: null,
    target: `≤${HTTP_P99_FACTOR}× raw`,
    status: latency.ours.p99 <= HTTP_P99_FACTOR * latency.raw.p99 ? "PASS" : "MISS",
  };
  options.log(
    `${provider} ${label}: ours ${Math.round(ours.median)} req/s, raw ${Math.round(raw.median)} req/s, ratio ${throughput.ratio!.toFixed(2)}; p99 ${latency.ours.p99} ms | ${latency.raw.p99} ms; server CPU ${Math.round(throughput.cpu!.ours)} µs/req | ${Math.round(throughput.cpu!.raw)} µs/req`,
  );
  return [throughput, p99];
}

async function measureLarge(
  provider: ProviderName,
  options: BenchOptions,
  servers: Record<Side, Child>,
  load: Child,
  ports: Record<Side, number>,
): Promise<Row[]> {
  const bytes = options.largeBytes;
  const size = bytesLabel(bytes);
  interface Sample {
    put: number;
    get: number;
    putPeak: number;
    getPeak: number;
    kept: number;
  }
  const samples: Record<Side, Sample[]> = { ours: [], raw: [] };
  const phase = async (side: Side, type: "large-put" | "large-get", request: RequestSpec) => {
    const base = await servers[side].ask<ServerReply>({ type: "peak-reset" });
    const result = await load.ask<LoadResult>({ type, port: ports[side], request, bytes } as LoadJob);
    if (result.error) throw new Error(`${side} ${type}: ${result.error}`);
    const peak = await servers[side].ask<ServerReply>({ type: "peak-read" });
    return {
      seconds: result.seconds,
      base: base.peakBytes!,
      peak: Math.max(0, peak.peakBytes! - base.peakBytes!),
    };
  };
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      const order: Side[] = rep % 2 === 0 ? ["raw", "ours"] : ["ours", "raw"];
      for (const side of order) {
        const slot = await servers[side].ask<ServerReply>({ type: "large-put" });
        const put = await phase(side, "large-put", slot.requests![0]!);
        const url = await servers[side].ask<ServerReply>({ type: "large-get", upload: slot.upload! });
        const get = await phase(side, "large-get", url.requests![0]!);
        samples[side].push({
          put: bytes / 1e6 / put.seconds,
          get: bytes / 1e6 / get.seconds,
          putPeak: put.peak / 1e6,
          getPeak: get.peak / 1e6,
          kept: Math.max(0, get.base - put.base) / 1e6,
        });
      }
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    options.log(`${provider} http-large: ERROR ${message}`);
    return [errorRow(provider, "http-large", `HTTP ${size} signed PUT/GET`, message)];
  }
  const of = (side: Side, f: (s: Sample) => number) => spread(samples[side].map(f));
  const keeps = provider === "memory";
  const base = (metric: string, text: string, note?: string) => ({
    provider,
    workload: "http-large" as const,
    metric,
    label: text,
    work: bytes,
    ...(note !== undefined && { note }),
  });
  const mbps = (metric: string, text: string, f: (s: Sample) => number): Row =>
    throughputRow(base(metric, text), "MB/s", of("ours", f), of("raw", f), HTTP_LARGE_RATIO);
  const rss = (metric: string, text: string, f: (s: Sample) => number, note?: string): Row =>
    peakRow(base(metric, text, note), of("ours", f), of("raw", f), HTTP_LARGE_RSS_MB);
  const rows = [
    mbps("put", `HTTP signed PUT ${size}`, (s) => s.put),
    mbps("get", `HTTP signed GET ${size}`, (s) => s.get),
    keeps
      ? rss(
          "put-rss",
          `HTTP signed PUT ${size}: server peak RSS, less the bytes kept`,
          (s) => Math.max(0, s.putPeak - s.kept),
          `the memory provider keeps the upload (${Math.round(samples.ours[0]!.kept)} MB retained)`,
        )
      : rss("put-rss", `HTTP signed PUT ${size}: server peak RSS above baseline`, (s) => s.putPeak),
    rss("get-rss", `HTTP signed GET ${size}: server peak RSS above baseline`, (s) => s.getPeak),
  ];
  for (const r of rows) {
    options.log(
      `${provider} ${r.label}: ours ${r.ours.median.toFixed(1)} ${r.unit}, raw ${r.raw.median.toFixed(1)} ${r.unit}`,
    );
  }
  return rows;
}

function errorRow(provider: ProviderName, workload: Row["workload"], label: string, message: string): Row {
  const empty: Spread = spread([]);
  return {
    provider,
    workload,
    metric: "throughput",
    label,
    work: 0,
    unit: "req/s",
    higherIsBetter: true,
    ours: empty,
    raw: empty,
    ratio: null,
    target: null,
    status: "ERROR",
    note: message,
  };
}
