import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

/**
 * Starts a real Redis and a real S3 server (Ceph RGW) for the whole test run with the project's
 * own scripts, and stops them afterwards. Tests read the connection settings with
 * `inject("services")`.
 *
 * - Already running services can be given instead: set TEST_REDIS_URL and TEST_S3_ENDPOINT_URL
 *   (with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ARTIFACT_BUCKET).
 * - CHUK_TEST_SERVICES=none runs only the memory and filesystem suites, and says so loudly.
 */

export interface Services {
  redisUrl: string | null;
  redisPidFile: string | null;
  stateDir: string | null;
  s3: {
    endpoint: string;
    accessKeyId: string;
    secretAccessKey: string;
    bucket: string;
    region: string;
  } | null;
}

declare module "vitest" {
  export interface ProvidedContext {
    services: Services;
  }
}

const repo = resolve(import.meta.dirname, "../..");

function parseEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const match = /^(?:export\s+)?([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]!] = match[2]!.replace(/^['"]|['"]$/g, "");
  }
  return env;
}

export default function setup(project: TestProject) {
  if (process.env.CHUK_TEST_SERVICES === "none") {
    console.warn("\n*** CHUK_TEST_SERVICES=none: S3 and Redis suites are NOT run ***\n");
    project.provide("services", { redisUrl: null, redisPidFile: null, stateDir: null, s3: null });
    return;
  }
  const { TEST_REDIS_URL: givenRedis, TEST_S3_ENDPOINT_URL: givenS3 } = process.env;
  if (givenRedis && givenS3) {
    const env = process.env;
    project.provide("services", {
      redisUrl: givenRedis,
      redisPidFile: env.TEST_REDIS_PID_FILE ?? null,
      stateDir: null,
      s3: {
        endpoint: givenS3,
        accessKeyId: env.AWS_ACCESS_KEY_ID ?? "",
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "",
        bucket: env.ARTIFACT_BUCKET ?? "chuk-artifacts-test",
        region: env.AWS_REGION ?? "us-east-1",
      },
    });
    return;
  }

  const stateDir = join(repo, ".services", `test-${process.pid}`);
  const run = (script: string, ...args: string[]) =>
    execFileSync("bash", [join(repo, "scripts", script), ...args], {
      stdio: ["ignore", "inherit", "inherit"],
    });
  run("install-services.sh");
  run("start-services.sh", stateDir);
  const envFile = join(stateDir, "env");
  if (!existsSync(envFile)) throw new Error(`start-services.sh wrote no ${envFile}`);
  const env = parseEnvFile(envFile);
  project.provide("services", {
    redisUrl: env.REDIS_URL!,
    redisPidFile: env.REDIS_PID_FILE ?? null,
    stateDir,
    s3: {
      endpoint: env.S3_ENDPOINT_URL!,
      accessKeyId: env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY!,
      bucket: env.ARTIFACT_BUCKET!,
      region: env.AWS_REGION ?? "us-east-1",
    },
  });
  return () => {
    run("stop-services.sh", stateDir);
  };
}
