import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { S3Settings } from "./raw-s3.js";

const run = promisify(execFile);

export interface S3Services {
  s3: S3Settings;
  redisUrl: string;
  /** True when this run started the servers (and so stops them and need not clean up). */
  owned: boolean;
  description: string;
  stop(): Promise<void>;
}

export interface ServiceInputs {
  s3Endpoint?: string | undefined;
  redisUrl?: string | undefined;
  bucket?: string | undefined;
  /** Start local servers with the project's scripts when no URLs are given. */
  start: boolean;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

const SCRIPTS = fileURLToPath(new URL("../../scripts/", import.meta.url));

/**
 * The S3 endpoint and Redis to benchmark: the ones named by flags or environment, else a private
 * Redis and Ceph RGW started with scripts/start-services.sh in a temporary folder (and stopped by
 * `stop()`). Returns a reason instead when neither is possible.
 */
export async function findOrStartServices(inputs: ServiceInputs): Promise<S3Services | string> {
  const { env } = inputs;
  const endpoint = inputs.s3Endpoint ?? nonEmpty(env.S3_ENDPOINT_URL);
  const redisUrl = inputs.redisUrl ?? nonEmpty(env.SESSION_REDIS_URL) ?? nonEmpty(env.REDIS_URL);
  const missing = [!redisUrl && "redis", !endpoint && "s3"].filter(Boolean) as string[];
  let started: { dir: string; env: Record<string, string> } | null = null;
  if (missing.length > 0) {
    if (!inputs.start) {
      return "no S3 endpoint or Redis URL given (--s3-endpoint, --redis-url, or S3_ENDPOINT_URL and REDIS_URL) and --no-start-services";
    }
    const result = await startServices(missing, inputs.bucket ?? "chuk-artifacts-bench", inputs.log);
    if (typeof result === "string") return result;
    started = result;
  }
  const source = { ...env, ...(started?.env ?? {}) };
  const s3: Partial<S3Settings> = {
    endpoint: endpoint ?? source.S3_ENDPOINT_URL,
    bucket:
      (started && !endpoint ? source.ARTIFACT_BUCKET : undefined) ?? inputs.bucket ?? source.ARTIFACT_BUCKET,
    region: nonEmpty(source.AWS_REGION) ?? "us-east-1",
    accessKeyId: source.AWS_ACCESS_KEY_ID,
    secretAccessKey: source.AWS_SECRET_ACCESS_KEY,
  };
  const stop = async () => {
    if (started) await stopServices(started.dir, inputs.log);
  };
  const absent = Object.entries(s3)
    .filter(([, v]) => !v)
    .map(([k]) => k);
  if (absent.length > 0) {
    await stop();
    return `S3 settings incomplete (${absent.join(", ")}): set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and ARTIFACT_BUCKET`;
  }
  const redis = redisUrl ?? source.REDIS_URL!;
  const where = started
    ? `local servers started by scripts/start-services.sh (${missing.join(" + ")}), stopped afterwards`
    : "servers given by flags/environment";
  return {
    s3: s3 as S3Settings,
    redisUrl: redis,
    owned: started !== null && missing.length === 2,
    description: `${where}; S3 endpoint ${s3.endpoint}, bucket ${s3.bucket}`,
    stop,
  };
}

async function startServices(
  which: string[],
  bucket: string,
  log: (line: string) => void,
): Promise<{ dir: string; env: Record<string, string> } | string> {
  const script = join(SCRIPTS, "start-services.sh");
  if (!existsSync(script)) return `${script} not found`;
  const dir = await mkdtemp(join(tmpdir(), "chuk-artifacts-bench-services-"));
  log(`starting ${which.join(" + ")} with scripts/start-services.sh (state in ${dir}) …`);
  const stopOnSignal = () => {
    spawnSync("bash", [join(SCRIPTS, "stop-services.sh"), dir], { stdio: "ignore" });
    process.exit(130);
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  try {
    await run("bash", [script, dir], {
      env: { ...process.env, SERVICES: which.join(","), ARTIFACT_BUCKET: bucket },
      timeout: 240_000,
      maxBuffer: 4 * 1024 * 1024,
    });
  } catch (err) {
    const output = err as { stdout?: string; stderr?: string; message?: string };
    await stopServices(dir, log);
    const tail = `${output.stdout ?? ""}${output.stderr ?? ""}`.trim().split("\n").slice(-4).join(" | ");
    return `could not start local services: ${tail || output.message}`;
  }
  const text = await readFile(join(dir, "env"), "utf8");
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z0-9_]+)=(.*)$/gm)) env[m[1]!] = m[2]!;
  log(`services ready: S3 ${env.S3_ENDPOINT_URL ?? "(given)"}, Redis ${env.REDIS_URL ?? "(given)"}`);
  return { dir, env };
}

async function stopServices(dir: string, log: (line: string) => void): Promise<void> {
  try {
    await run("bash", [join(SCRIPTS, "stop-services.sh"), dir], { timeout: 120_000 });
    log("local services stopped");
  } catch (err) {
    log(`stopping local services failed: ${(err as Error).message}`);
  }
  await rm(dir, { recursive: true, force: true }).catch(() => {});
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}
