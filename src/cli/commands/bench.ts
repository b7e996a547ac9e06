import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { renderTable } from "../../bench/report.js";
import { type BenchOptions, DEFAULT_N, runBench, WORKLOADS, type WorkloadId } from "../../bench/run.js";
import { findOrStartServices } from "../../bench/services.js";
import { PROVIDERS, type ProviderName } from "../../bench/setup.js";

const HELP = `usage: chuk-artifacts bench [options]

Runs every workload on each provider, and in the same run the bare backend doing the same work
(a Map with sha256; fs write+fsync+rename; SDK PutObject/GetObject + Redis SET/GET), then prints
median [min–max] over the reps and the ratio ours ÷ raw throughput (higher is better).

  --providers LIST     memory,filesystem,s3 (default: all; s3 is skipped with a note when no
                       servers can be found or started)
  --n N                operations per rep (default: memory ${DEFAULT_N.memory}, filesystem ${DEFAULT_N.filesystem}, s3 ${DEFAULT_N.s3})
  --size BYTES         artifact size for the small workloads (default 1024)
  --concurrency N      requests in flight for the concurrent workloads (default 32)
  --reps N             timed repetitions per workload and side (default 3)
  --batch N            storeBatch size (default 100)
  --list-small N       artifacts in the small listed session (default 20)
  --list-large N       artifacts in the large listed session (default 10000)
  --search-n N         artifacts in the searched user area (default 100000)
  --large-mib N        size of the streamed large artifact in MiB (default 100; 0 skips it)
  --http-seconds N     seconds of load per rep and side in the HTTP workloads (default 3)
  --workloads LIST     only these: ${WORKLOADS.join(",")}
  --json               print the report as JSON on stdout (the table goes to stderr)
  --out FILE           also write the JSON report to FILE
  --fs-root DIR        folder for the filesystem provider's data (default: a temporary folder)
  --keep               keep the data written (filesystem folder, S3 objects)
  --s3-endpoint URL    S3 endpoint to use (with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ARTIFACT_BUCKET)
  --bucket NAME        bucket (default ARTIFACT_BUCKET)
  --redis-url URL      Redis to use (default SESSION_REDIS_URL or REDIS_URL)
  --no-start-services  never start local Redis/Ceph RGW with scripts/start-services.sh`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      providers: { type: "string" },
      n: { type: "string" },
      size: { type: "string" },
      concurrency: { type: "string" },
      reps: { type: "string" },
      batch: { type: "string" },
      "list-small": { type: "string" },
      "list-large": { type: "string" },
      "search-n": { type: "string" },
      "large-mib": { type: "string" },
      "http-seconds": { type: "string" },
      workloads: { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
      "fs-root": { type: "string" },
      keep: { type: "boolean" },
      "s3-endpoint": { type: "string" },
      bucket: { type: "string" },
      "redis-url": { type: "string" },
      "no-start-services": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const int = (name: string, value: string | undefined, fallback: number, min = 1): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}`);
    return n;
  };
  let options: BenchOptions;
  try {
    const providers = list(values.providers, PROVIDERS, "providers") as ProviderName[];
    const workloads =
      values.workloads === undefined
        ? null
        : new Set(list(values.workloads, WORKLOADS, "workloads") as WorkloadId[]);
    const log = (line: string) => console.error(line);
    options = {
      providers,
      n: values.n === undefined ? null : int("n", values.n, 1),
      size: int("size", values.size, 1024),
      concurrency: int("concurrency", values.concurrency, 32),
      reps: int("reps", values.reps, 3),
      batch: int("batch", values.batch, 100),
      listSmall: int("list-small", values["list-small"], 20),
      listLarge: int("list-large", values["list-large"], 10000),
      searchN: values["search-n"] === undefined ? null : int("search-n", values["search-n"], 1),
      largeBytes: int("large-mib", values["large-mib"], 100, 0) * 1024 * 1024,
      httpSeconds: int("http-seconds", values["http-seconds"], 3),
      workloads,
      fsRoot: values["fs-root"] ?? null,
      keep: values.keep === true,
      s3Services: () =>
        findOrStartServices({
          s3Endpoint: values["s3-endpoint"],
          redisUrl: values["redis-url"],
          bucket: values.bucket,
          start: values["no-start-services"] !== true,
          env: process.env,
          log,
        }),
      log,
      note: () => {},
    };
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`chuk-artifacts bench: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  const report = await runBench(options);
  const table = renderTable(report);
  const json = JSON.stringify(report, null, 2);
  if (values.out) await writeFile(values.out, `${json}\n`);
  if (values.json) {
    console.error(`\n${table}`);
    console.log(json);
  } else {
    console.log(`\n${table}`);
  }
  return report.rows.some((r) => r.status === "ERROR") ? 1 : 0;
}

class UsageError extends Error {}

function list(value: string | undefined, allowed: readonly string[], name: string): string[] {
  if (value === undefined) return [...allowed];
  const items = value
    .split(",")
    .map((v) => v.trim())
    .filter(Boolean);
  const unknown = items.filter((v) => !allowed.includes(v));
  if (unknown.length > 0 || items.length === 0) {
    throw new UsageError(
      `--${name}: unknown ${unknown.join(", ") || "(empty)"}; choose from ${allowed.join(", ")}`,
    );
  }
  return items;
}
