import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mapLimit } from "../concurrency.js";
import { HTTP_WORKLOADS, measureHttp } from "./http/workloads.js";
import { type LargeSample, runLarge } from "./large.js";
import { type Machine, machine } from "./machine.js";
import { sampleRedisDown } from "./redis-down.js";
import { peakRow, throughputRow } from "./rows.js";
import { measureSearch } from "./search.js";
import type { S3Services } from "./services.js";
import {
  newSandboxId,
  openSubject,
  type ProviderName,
  type ProviderSettings,
  storeOptions,
} from "./setup.js";
import { collectGarbage, type Spread, spread, timed } from "./stats.js";
import { OursSubject, type Subject } from "./subject.js";
import { TripCounter, type Trips } from "./trips.js";

export const WORKLOADS = [
  "store-seq",
  "store-conc",
  "batch",
  "retrieve-seq",
  "retrieve-conc",
  "update",
  "update-history",
  "metadata",
  "presign",
  "list-small",
  "list-large",
  "large",
  "redis-down",
  "search",
  ...HTTP_WORKLOADS,
] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

/** Per-provider N when --n is not given: enough work per rep to time, a few minutes in all on 2 cores. */
export const DEFAULT_N: Record<ProviderName, number> = { memory: 20000, filesystem: 2000, s3: 1000 };

/** Minimum ours ÷ raw throughput per provider and workload (listing: under 3× the raw time). */
export const TARGETS: Record<ProviderName, Partial<Record<WorkloadId, number>>> = {
  memory: {
    "store-seq": 0.5,
    "store-conc": 0.5,
    batch: 0.5,
    "retrieve-seq": 0.5,
    "retrieve-conc": 0.5,
    update: 0.5,
    metadata: 0.5,
    presign: 0.5,
    "list-small": 0.5,
    "list-large": 1 / 3,
  },
  filesystem: {
    "store-seq": 0.7,
    "store-conc": 0.7,
    batch: 0.7,
    "retrieve-seq": 0.7,
    "retrieve-conc": 0.7,
    update: 0.7,
    metadata: 0.7,
    presign: 0.7,
    "list-small": 0.7,
    "list-large": 1 / 3,
  },
  s3: {
    "store-seq": 0.9,
    "store-conc": 0.9,
    batch: 0.9,
    "retrieve-seq": 0.9,
    "retrieve-conc": 0.9,
    update: 0.9,
    metadata: 0.9,
    presign: 0.9,
    "list-large": 1 / 3,
    "redis-down": 0.8,
  },
};

/** Peak RSS above baseline allowed while storing or retrieving the large artifact, in MB. */
export const LARGE_RSS_TARGET_MB = 100;

export interface BenchOptions {
  providers: ProviderName[];
  /** Operations per rep; null for the provider's default. */
  n: number | null;
  size: number;
  concurrency: number;
  reps: number;
  batch: number;
  listSmall: number;
  listLarge: number;
  /** Artifacts in the searched user area; null for the default (100,000). */
  searchN: number | null;
  /** Bytes of the large artifact; 0 skips that workload. */
  largeBytes: number;
  /** Seconds of load per rep and side in the HTTP workloads. */
  httpSeconds: number;
  workloads: Set<WorkloadId> | null;
  /** Folder for the filesystem provider's data; default a new temporary folder, removed afterwards. */
  fsRoot: string | null;
  keep: boolean;
  /** Starts or finds Redis and S3 when the s3 provider runs; null or a reason when unavailable. */
  s3Services: (() => Promise<S3Services | string>) | null;
  log: (line: string) => void;
  /** Adds a line to the report's notes (set by runBench). */
  note: (line: string) => void;
}

export interface Row {
  provider: ProviderName;
  workload: WorkloadId;
  /** Which measurement of the workload (the large workload has several). */
  metric: string;
  label: string;
  /** Units of work per timed rep. */
  work: number;
  unit: string;
  higherIsBetter: boolean;
  ours: Spread;
  raw: Spread;
  /** ours ÷ raw of the medians (throughput rows); null where a ratio means nothing. */
  ratio: number | null;
  target: string | null;
  status: "PASS" | "MISS" | "ERROR" | null;
  /** Round trips per unit of work in the last rep (s3 + redis): HTTP requests and Redis commands. */
  trips?: { ours: Trips; raw: Trips };
  /** HTTP workloads: median latency percentiles in milliseconds. */
  latency?: { ours: { p50: number; p99: number }; raw: { p50: number; p99: number } };
  /** HTTP workloads: the server process's CPU time per request (user + system), in microseconds. */
  cpu?: { ours: number; raw: number };
  note?: string;
}

export interface BenchReport {
  tool: string;
  date: string;
  machine: Machine;
  settings: Record<string, unknown>;
  rows: Row[];
  notes: string[];
}

type Side = "ours" | "raw";
const SIDES: Side[] = ["ours", "raw"];

interface Workload {
  id: WorkloadId;
  label: string;
  unit: string;
  work: number;
  /** Runs on this subject instead of the shared `ours` one (a store configured differently). */
  ours?: Subject;
  /** Untimed preparation, once per side. */
  setup?: (subject: Subject, side: Side) => Promise<void>;
  /** Untimed housekeeping before every run of one side. */
  before?: (subject: Subject, side: Side) => Promise<void>;
  /** One timed rep (or a warm-up with `scale` < 1). */
  run: (subject: Subject, side: Side, scale: number) => Promise<void>;
  /**
   * The run only reads, so a rep may repeat it: a pass shorter than MIN_REP_SECONDS (a list of a
   * 20-artifact session 1,000 times takes about 20 ms in memory) is repeated until a rep lasts that
   * long, with the same number of passes on both sides.
   */
  reads?: true;
}

/** The shortest rep worth timing on a busy machine (see Workload.reads). */
const MIN_REP_SECONDS = 0.25;
/** Passes a reads-only rep repeats at most. */
const MAX_PASSES = 50;

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const report: BenchReport = {
    tool: "chuk-artifacts bench",
    date: new Date().toISOString(),
    machine: machine(),
    settings: {
      providers: options.providers,
      n: options.n ?? DEFAULT_N,
      sizeBytes: options.size,
      concurrency: options.concurrency,
      reps: options.reps,
      warmup: "one smaller untimed run of each workload per side",
      batch: options.batch,
      listSessions: [options.listSmall, options.listLarge],
      largeBytes: options.largeBytes,
      httpSeconds: options.httpSeconds,
    },
    rows: [],
    notes: [],
  };
  options.note = (line) => report.notes.push(line);
  for (const provider of options.providers) {
    const started = Date.now();
    options.log(`== ${provider}`);
    if (provider === "s3") {
      const services = options.s3Services ? await options.s3Services() : "no S3/Redis settings";
      if (typeof services === "string") {
        const note = `s3 + redis skipped: ${services}`;
        options.log(note);
        report.notes.push(note);
        continue;
      }
      try {
        const settings: ProviderSettings = {
          provider,
          s3: services.s3,
          redisUrl: services.redisUrl,
          concurrency: options.concurrency,
          sandboxId: newSandboxId(),
        };
        report.rows.push(...(await benchProvider(settings, options, !services.owned)));
        report.notes.push(`s3 + redis: ${services.description}`);
      } finally {
        await services.stop();
      }
    } else if (provider === "filesystem") {
      const root = options.fsRoot ?? (await mkdtemp(join(tmpdir(), "chuk-artifacts-bench-")));
      try {
        const settings: ProviderSettings = {
          provider,
          root,
          concurrency: options.concurrency,
          sandboxId: newSandboxId(),
        };
        report.rows.push(...(await benchProvider(settings, options)));
        report.notes.push(`filesystem: data under ${root} (${options.keep ? "kept" : "removed afterwards"})`);
      } finally {
        if (!options.keep) await rm(join(root, "ours"), { recursive: true, force: true });
        if (!options.keep) await rm(join(root, "raw"), { recursive: true, force: true });
        if (!options.keep && options.fsRoot === null) await rm(root, { recursive: true, force: true });
      }
    } else {
      const settings: ProviderSettings = {
        provider,
        concurrency: options.concurrency,
        sandboxId: newSandboxId(),
      };
      report.rows.push(...(await benchProvider(settings, options)));
    }
    options.log(`== ${provider} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return report;
}

async function benchProvider(
  settings: ProviderSettings,
  options: BenchOptions,
  removeWhatWeWrote = false,
): Promise<Row[]> {
  const { provider } = settings;
  const n = options.n ?? DEFAULT_N[provider];
  const c = options.concurrency;
  const wants = (id: WorkloadId) => options.workloads === null || options.workloads.has(id);
  const subjects: Record<Side, Subject> = {
    ours: await openSubject(settings, "ours"),
    raw: await openSubject(settings, "raw"),
  };
  const noHistory = await new OursSubject({ ...storeOptions(settings), keepVersions: 0 }).open();
  const noHistoryIds: Record<Side, string[]> = { ours: [], raw: [] };
  const counter = await TripCounter.open(settings.redisUrl);
  const payloads = Array.from({ length: n }, () => randomBytes(options.size));
  const replacements = Array.from({ length: n }, () => randomBytes(options.size));
  const ids: Record<Side, string[]> = { ours: [], raw: [] };
  const sessions: Record<Side, string[]> = { ours: [], raw: [] };
  const fresh = (side: Side, label: string) => {
    const id = `${label}-${randomBytes(5).toString("hex")}`;
    sessions[side].push(id);
    return id;
  };
  const count = (scale: number) => Math.max(1, Math.round(n * scale));
  const storeRun = (limit: number) => async (s: Subject, side: Side, scale: number) => {
    const session = fresh(side, "store");
    ids[side] = await mapLimit(payloads.slice(0, count(scale)), limit, (d) => s.store(d, session));
    written[side] = session;
  };
  // In memory, every stored rep stays on the heap and makes the next rep's garbage collection
  // slower for whoever allocates more; so the previous rep's session is dropped before each run.
  const written: Record<Side, string | null> = { ours: null, raw: null };
  const dropWritten = async (s: Subject, side: Side) => {
    if (provider !== "memory" || written[side] === null) return;
    await s.dropSession(written[side]!);
    written[side] = null;
    ids[side] = [];
  };
  const needIds = async (s: Subject, side: Side) => {
    if (ids[side].length < n) await storeRun(c)(s, side, 1);
  };
  const onIds = (limit: number, fn: (s: Subject, id: string, i: number) => Promise<unknown>) => {
    return async (s: Subject, side: Side, scale: number) => {
      await mapLimit(ids[side].slice(0, count(scale)), limit, (id, i) => fn(s, id, i));
    };
  };
  const batchSession: Record<Side, string> = { ours: "", raw: "" };
  const smallList: Record<Side, string> = { ours: "", raw: "" };
  const largeList: Record<Side, string> = { ours: "", raw: "" };
  const listRounds = Math.max(1, Math.ceil(n / options.listSmall));
  const sizeLabel = bytesLabel(options.size);

  const workloads: Workload[] = [
    {
      id: "store-seq",
      label: `store ${sizeLabel}, sequential`,
      unit: "ops/s",
      work: n,
      before: dropWritten,
      run: storeRun(1),
    },
    {
      id: "store-conc",
      label: `store ${sizeLabel}, ${c} in flight`,
      unit: "ops/s",
      work: n,
      before: dropWritten,
      run: storeRun(c),
    },
    {
      id: "batch",
      label: `storeBatch of ${options.batch} × ${sizeLabel}`,
      unit: "items/s",
      work: n,
      before: async (s, side) => {
        if (provider === "memory" && batchSession[side]) await s.dropSession(batchSession[side]);
      },
      run: async (s, side, scale) => {
        const session = fresh(side, "batch");
        batchSession[side] = session;
        const items = payloads.slice(0, count(scale));
        for (let i = 0; i < items.length; i += options.batch) {
          await s.storeBatch(items.slice(i, i + options.batch), session);
        }
      },
    },
    {
      id: "retrieve-seq",
      reads: true,
      label: `retrieve ${sizeLabel}, sequential`,
      unit: "ops/s",
      work: n,
      setup: needIds,
      run: onIds(1, (s, id) => s.retrieve(id)),
    },
    {
      id: "retrieve-conc",
      reads: true,
      label: `retrieve ${sizeLabel}, ${c} in flight`,
      unit: "ops/s",
      work: n,
      setup: needIds,
      run: onIds(c, (s, id) => s.retrieve(id)),
    },
    {
      // Updates as cheap as before versions existed: a store that keeps no history.
      id: "update",
      label: `updateFile ${sizeLabel}, ${c} in flight, history off (keepVersions 0)`,
      unit: "ops/s",
      work: n,
      ours: noHistory,
      setup: async (s, side) => {
        if (noHistoryIds[side].length >= n) return;
        const session = fresh(side, "update");
        noHistoryIds[side] = await mapLimit(payloads, c, (d) => s.store(d, session));
      },
      run: async (s, side, scale) => {
        await mapLimit(noHistoryIds[side].slice(0, count(scale)), c, (id, i) =>
          s.update(id, replacements[i]!),
        );
      },
    },
    {
      // The default store: every update also keeps the version it replaces (src/versions.ts).
      id: "update-history",
      label: `updateFile ${sizeLabel}, ${c} in flight, history on (keepVersions 10)`,
      unit: "ops/s",
      work: n,
      setup: needIds,
      run: onIds(c, (s, id, i) => s.update(id, replacements[i]!)),
    },
    {
      id: "metadata",
      reads: true,
      label: `metadata, ${c} in flight`,
      unit: "ops/s",
      work: n,
      setup: needIds,
      run: onIds(c, (s, id) => s.metadata(id)),
    },
    {
      id: "presign",
      reads: true,
      label: `presign, ${c} in flight`,
      unit: "ops/s",
      work: n,
      setup: needIds,
      run: onIds(c, (s, id) => s.presign(id)),
    },
    {
      id: "list-small",
      reads: true,
      label: `listBySession, ${options.listSmall}-artifact session`,
      unit: "lists/s",
      work: listRounds,
      setup: async (s, side) => {
        smallList[side] = fresh(side, "list-small");
        await s.storeBatch(payloads.slice(0, options.listSmall), smallList[side]);
      },
      run: async (s, side, scale) => {
        const rounds = Math.max(1, Math.round(listRounds * scale));
        for (let i = 0; i < rounds; i++) {
          const found = await s.list(smallList[side]);
          if (found !== options.listSmall) throw new Error(`listed ${found} of ${options.listSmall}`);
        }
      },
    },
    {
      id: "list-large",
      label: `listBySession, ${options.listLarge}-artifact session (all pages)`,
      unit: "items/s",
      work: options.listLarge,
      setup: async (s, side) => {
        largeList[side] = fresh(side, "list-large");
        const payload = payloads[0]!;
        for (let i = 0; i < options.listLarge; i += 1000) {
          const size = Math.min(1000, options.listLarge - i);
          await s.storeBatch(
            Array.from({ length: size }, () => payload),
            largeList[side],
          );
        }
      },
      run: async (s, side, scale) => {
        // The warm-up lists the small session: a second 10,000-item listing adds time, not accuracy.
        if (scale < 1) {
          await s.list(smallList[side] || largeList[side]);
          return;
        }
        const found = await s.list(largeList[side]);
        if (found !== options.listLarge) throw new Error(`listed ${found} of ${options.listLarge}`);
      },
    },
  ];

  const rows: Row[] = [];
  const warmScale = Math.min(1, Math.max(50, Math.round(n / 10)) / n);
  try {
    for (const w of workloads) {
      if (!wants(w.id)) continue;
      if (w.id === "list-large" && !smallList.ours) {
        // list-large warms up on the small session; make sure it exists.
        for (const side of SIDES) {
          smallList[side] = fresh(side, "list-small");
          await subjects[side].storeBatch(payloads.slice(0, options.listSmall), smallList[side]);
        }
      }
      rows.push(await measure(provider, w, subjects, counter, options, warmScale));
    }
    if (wants("large") && options.largeBytes > 0) rows.push(...(await measureLarge(settings, options)));
    if (provider === "s3" && wants("redis-down")) rows.push(await measureRedisDown(settings, options));
    if (wants("search")) rows.push(...(await measureSearch(settings, options)));
    if (HTTP_WORKLOADS.some(wants)) rows.push(...(await measureHttp(settings, options, wants)));
  } finally {
    await counter.close();
    await cleanup(subjects, sessions, removeWhatWeWrote && !options.keep);
    await noHistory.close();
  }
  return rows;
}

async function measure(
  provider: ProviderName,
  w: Workload,
  subjects: Record<Side, Subject>,
  counter: TripCounter,
  options: BenchOptions,
  warmScale: number,
): Promise<Row> {
  const samples: Record<Side, number[]> = { ours: [], raw: [] };
  const trips: Record<Side, Trips> = { ours: { http: 0, redis: 0 }, raw: { http: 0, redis: 0 } };
  const row = (status: Row["status"], note?: string): Row => {
    const ours = spread(samples.ours);
    const raw = spread(samples.raw);
    const ratio = ours.median / raw.median;
    const target = TARGETS[provider][w.id];
    const counted = trips.ours.http + trips.ours.redis + trips.raw.http + trips.raw.redis > 0;
    return {
      provider,
      workload: w.id,
      metric: "throughput",
      label: w.label,
      work: w.work * passes,
      unit: w.unit,
      higherIsBetter: true,
      ours,
      raw,
      ratio: Number.isFinite(ratio) ? ratio : null,
      target: target === undefined ? null : w.id === "list-large" ? "time <3×" : `≥${target.toFixed(2)}×`,
      status: status ?? (target === undefined ? null : ratio >= target ? "PASS" : "MISS"),
      ...(counted && { trips }),
      ...(note !== undefined && { note }),
    };
  };
  const subjectOf = (side: Side) => (side === "ours" && w.ours ? w.ours : subjects[side]);
  let passes = 1;
  try {
    for (const side of SIDES) await w.setup?.(subjectOf(side), side);
    const fullPass: number[] = [];
    for (const side of SIDES) {
      await w.before?.(subjectOf(side), side);
      const { seconds } = await timed(() => w.run(subjectOf(side), side, warmScale));
      fullPass.push(seconds / warmScale);
    }
    if (w.reads) {
      // From the faster side's warm-up (cold, so if anything an overestimate of a pass).
      passes = Math.min(MAX_PASSES, Math.max(1, Math.ceil(MIN_REP_SECONDS / Math.min(...fullPass))));
    }
    for (let rep = 0; rep < options.reps; rep++) {
      // Alternate who goes first, so drift in machine load does not favour one side.
      const order: Side[] = rep % 2 === 0 ? ["raw", "ours"] : ["ours", "raw"];
      for (const side of order) {
        await w.before?.(subjectOf(side), side);
        collectGarbage();
        const before = await counter.snapshot();
        const { seconds } = await timed(async () => {
          for (let pass = 0; pass < passes; pass++) await w.run(subjectOf(side), side, 1);
        });
        const after = await counter.snapshot();
        const work = w.work * passes;
        samples[side].push(work / seconds);
        trips[side] = {
          http: round2((after.http - before.http) / work),
          redis: round2((after.redis - before.redis) / work),
        };
      }
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    options.log(`${provider} ${w.id}: ERROR ${message}`);
    return row("ERROR", message);
  }
  const done = row(null);
  options.log(
    `${provider} ${w.label}: ours ${fmt(done.ours.median)} ${w.unit}, raw ${fmt(done.raw.median)} ${w.unit}, ratio ${done.ratio === null ? "-" : done.ratio.toFixed(2)}`,
  );
  return done;
}

async function measureLarge(settings: ProviderSettings, options: BenchOptions): Promise<Row[]> {
  const { provider } = settings;
  const bytes = options.largeBytes;
  const samples: Record<Side, LargeSample[]> = { ours: [], raw: [] };
  const label = bytesLabel(bytes);
  try {
    for (let rep = 0; rep < options.reps; rep++) {
      const order: Side[] = rep % 2 === 0 ? ["raw", "ours"] : ["ours", "raw"];
      for (const side of order) samples[side].push(await runLarge({ settings, side, bytes }));
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    options.log(`${provider} large: ERROR ${message}`);
    const empty = spread([]);
    return [
      {
        provider,
        workload: "large",
        metric: "store",
        label: `store + retrieve ${label} (stream)`,
        work: bytes,
        unit: "MB/s",
        higherIsBetter: true,
        ours: empty,
        raw: empty,
        ratio: null,
        target: null,
        status: "ERROR",
        note: message,
      },
    ];
  }
  // The memory provider keeps the artifact in this process by design; its peak is judged less those bytes.
  const keepsBytes = provider === "memory";
  const of = (side: Side, f: (s: LargeSample) => number) => spread(samples[side].map(f));
  const mbps = (seconds: number) => bytes / 1e6 / seconds;
  const mb = (b: number) => b / 1e6;
  const base = (metric: string, text: string, note?: string) => ({
    provider,
    workload: "large" as const,
    metric,
    label: text,
    work: bytes,
    ...(note !== undefined && { note }),
  });
  const throughput = (metric: string, text: string, f: (s: LargeSample) => number): Row =>
    throughputRow(base(metric, text), "MB/s", of("ours", f), of("raw", f), null);
  const peak = (metric: string, text: string, f: (s: LargeSample) => number, note?: string): Row =>
    peakRow(base(metric, text, note), of("ours", f), of("raw", f), LARGE_RSS_TARGET_MB);
  const rows = [
    throughput("store", `store ${label} from a stream`, (s) => mbps(s.storeSeconds)),
    throughput("retrieve", `retrieve ${label} via openStream`, (s) => mbps(s.retrieveSeconds)),
    keepsBytes
      ? peak(
          "store-rss",
          `store ${label}: peak RSS above baseline, less the bytes kept`,
          (s) => mb(s.storePeakBytes - s.retainedBytes),
          `the memory provider keeps the artifact (${fmt(mb(samples.ours[0]!.retainedBytes))} MB retained after the store)`,
        )
      : peak("store-rss", `store ${label}: peak RSS above baseline`, (s) => mb(s.storePeakBytes)),
    peak("retrieve-rss", `retrieve ${label}: peak RSS above baseline`, (s) => mb(s.retrievePeakBytes)),
  ];
  for (const r of rows) {
    options.log(
      `${provider} ${r.label}: ours ${fmt(r.ours.median)} ${r.unit}, raw ${fmt(r.raw.median)} ${r.unit}`,
    );
  }
  const methods = new Set([...samples.ours, ...samples.raw].map((s) => s.peakMethod));
  options.note(
    `${provider}: large-artifact peaks measured in a child process per rep by ${[...methods].join(" and ")}` +
      (methods.has("VmHWM") ? " (the kernel's peak, reset before each phase)" : " (rss polled every 2 ms)"),
  );
  return rows;
}

/** The s3 library with its Redis stopped, against raw S3 alone (see redis-down.ts). */
async function measureRedisDown(settings: ProviderSettings, options: BenchOptions): Promise<Row> {
  const n = options.n ?? DEFAULT_N.s3;
  const c = options.concurrency;
  const target = TARGETS.s3["redis-down"]!;
  const base = {
    provider: settings.provider,
    workload: "redis-down" as const,
    metric: "throughput",
    label: `store + retrieve ${bytesLabel(options.size)}, ${c} in flight, Redis stopped (raw: S3 alone)`,
    work: n,
    unit: "ops/s",
    higherIsBetter: true,
    target: `≥${target.toFixed(2)}×`,
  };
  try {
    const samples = await sampleRedisDown(settings, {
      n,
      size: options.size,
      concurrency: c,
      reps: options.reps,
    });
    const ours = spread(samples.ours);
    const raw = spread(samples.raw);
    const ratio = ours.median / raw.median;
    options.log(
      `${settings.provider} ${base.label}: ours ${fmt(ours.median)} ops/s, raw ${fmt(raw.median)} ops/s, ratio ${ratio.toFixed(2)}`,
    );
    return { ...base, ours, raw, ratio, status: ratio >= target ? "PASS" : "MISS" };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    options.log(`${settings.provider} redis-down: ERROR ${message}`);
    return { ...base, ours: spread([]), raw: spread([]), ratio: null, status: "ERROR", note: message };
  }
}

async function cleanup(
  subjects: Record<Side, Subject>,
  sessions: Record<Side, string[]>,
  removeWhatWeWrote: boolean,
): Promise<void> {
  if (removeWhatWeWrote) {
    // The servers are the caller's own: remove what this run wrote.
    const ours = subjects.ours as OursSubject;
    for (const sessionId of sessions.ours) await ours.lib.deleteSession(sessionId).catch(() => {});
    const raw = subjects.raw as Subject & { destroy?: () => Promise<void> };
    await raw.destroy?.().catch(() => {});
  }
  await Promise.allSettled([subjects.ours.close(), subjects.raw.close()]);
}

export function bytesLabel(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

export function fmt(value: number): string {
  if (!Number.isFinite(value)) return "-";
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
