import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { inject } from "vitest";
import { uniqueSandbox } from "./fixtures.js";

/**
 * Starts `chuk-artifacts serve` exactly as a user would (the built CLI in a child process) and
 * reads the URL and API key it prints. Tests then drive it with fetch.
 */

export const CLI = resolve(import.meta.dirname, "../dist/cli/main.js");

export const KEYS = {
  alice: "alice-key-0123456789abcdef",
  bob: "bob-key-0123456789abcdef00",
  admin: "admin-key-0123456789abcdef",
};
export const KEY_ENV = {
  CHUK_API_KEYS: `${KEYS.alice}=alice,${KEYS.bob}=bob`,
  CHUK_ADMIN_KEYS: KEYS.admin,
};

export interface RunningServer {
  url: string;
  /** The key the server printed when it generated one. */
  generatedKey: string | null;
  pid: number;
  output(): string;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

// Variables that would leak the developer's own configuration into a test server.
const SCRUBBED = /^(ARTIFACT_|SESSION_|REDIS_URL$|S3_ENDPOINT_URL$|AWS_|IBM_COS_|CHUK_API|CHUK_ADMIN)/;

export async function startServer(
  options: { args?: string[]; env?: Record<string, string>; cwd?: string } = {},
): Promise<RunningServer> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !SCRUBBED.test(k)) env[k] = v;
  Object.assign(env, options.env ?? {});
  const child = spawn(process.execPath, [CLI, "serve", "--port", "0", ...(options.args ?? [])], {
    cwd: options.cwd ?? process.cwd(),
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)));
  const started = Date.now();
  while (!/listening on [\s\S]*(API key \(.*\): \S+|API keys: .*)\n/.test(out)) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${out}`);
    if (Date.now() - started > 20_000) {
      child.kill("SIGKILL");
      throw new Error(`serve did not start in 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const url = /listening on (\S+)/.exec(out)![1]!;
  const generatedKey = /API key \(.*\): (\S+)/.exec(out)?.[1] ?? null;
  return {
    url,
    generatedKey,
    pid: child.pid!,
    output: () => out,
    stop: async (signal: NodeJS.Signals = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

export function bearer(key: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${key}`, ...extra };
}

/** Backends a server can run on: memory, filesystem, and S3 (RGW) + Redis when they are up. */
export interface Backend {
  name: string;
  /** Arguments and environment for `serve`; each call gets a fresh sandbox (and folder). */
  setup(): Promise<{ args: string[]; env: Record<string, string>; dispose(): Promise<void> }>;
}

export function backends(): Backend[] {
  const list: Backend[] = [
    {
      name: "memory",
      setup: async () => ({
        args: ["--provider", "memory"],
        env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("http") },
        dispose: async () => {},
      }),
    },
    {
      name: "filesystem",
      setup: async () => {
        const dir = await mkdtemp(join(tmpdir(), "chuk-http-"));
        return {
          args: ["--provider", "filesystem", "--fs-root", dir],
          env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("http") },
          dispose: () => rm(dir, { recursive: true, force: true }),
        };
      },
    },
  ];
  const s3 = s3RedisEnv();
  if (s3) {
    list.push({
      name: "s3+redis",
      setup: async () => ({
        args: [],
        env: { ...KEY_ENV, ...s3, ARTIFACT_SANDBOX_ID: uniqueSandbox("http") },
        dispose: async () => {},
      }),
    });
  }
  return list;
}

/** Environment for a server on the test run's RGW and Redis (null when they are not running). */
export function s3RedisEnv(): Record<string, string> | null {
  const { s3, redisUrl } = inject("services");
  if (!s3 || !redisUrl) return null;
  return {
    ARTIFACT_PROVIDER: "s3",
    ARTIFACT_BUCKET: s3.bucket,
    S3_ENDPOINT_URL: s3.endpoint,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_REGION: s3.region,
    SESSION_PROVIDER: "redis",
    SESSION_REDIS_URL: redisUrl,
  };
}

/** A parsed JSON response body, read field by field in assertions. */
// biome-ignore lint/suspicious/noExplicitAny: assertions check the shape; a schema here would only repeat them
export type JsonBody = any;

/** fetch with a JSON body. */
export async function json(
  url: string,
  method: string,
  key: string | null,
  body?: unknown,
): Promise<{ status: number; body: JsonBody; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(key ? bearer(key) : {}),
      ...(body !== undefined && { "content-type": "application/json" }),
    },
    ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
