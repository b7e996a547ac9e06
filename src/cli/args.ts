import type { ParseArgsConfig } from "node:util";
import type { ArtifactStoreOptions } from "../config.js";
import { ArtifactStoreError } from "../errors.js";
import { SCOPES, type Scope } from "../grid.js";
import { ArtifactStore } from "../store.js";
import { personalStore } from "./defaults.js";

/** Flags every command that opens a store accepts; each overrides its environment variable. */
export const STORE_FLAGS = {
  provider: { type: "string" },
  "session-provider": { type: "string" },
  "fs-root": { type: "string" },
  bucket: { type: "string" },
  sandbox: { type: "string" },
  "redis-url": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

export const STORE_FLAGS_HELP = `store options (each overrides its environment variable; without any, files are kept
under ./artifacts, never expire, and URLs are signed with the secret kept there, as "serve" does):
  --provider NAME          memory | filesystem | s3 | ibm_cos   (ARTIFACT_PROVIDER)
  --session-provider NAME  memory | redis                       (SESSION_PROVIDER)
  --fs-root DIR            filesystem root                      (ARTIFACT_FS_ROOT)
  --bucket NAME            s3/ibm_cos bucket                    (ARTIFACT_BUCKET)
  --sandbox ID             sandbox id                           (ARTIFACT_SANDBOX_ID)
  --redis-url URL          Redis URL                            (SESSION_REDIS_URL)`;

export function storeOptionsFrom(values: Record<string, unknown>): ArtifactStoreOptions {
  const options: ArtifactStoreOptions = {};
  const str = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  if (str("provider")) options.storageProvider = str("provider") as ArtifactStoreOptions["storageProvider"];
  if (str("session-provider"))
    options.sessionProvider = str("session-provider") as ArtifactStoreOptions["sessionProvider"];
  if (str("fs-root")) options.fsRoot = str("fs-root")!;
  if (str("bucket")) options.bucket = str("bucket")!;
  if (str("sandbox")) options.sandboxId = str("sandbox")!;
  if (str("redis-url")) options.redisUrl = str("redis-url")!;
  return options;
}

/** A mistake in how the command was called: reported in one line, exit status 2. */
export class UsageError extends Error {}

/** The user the file commands and `mcp` act for when --user is not given. */
export const DEFAULT_USER = "local";

/** `--ttl` and friends: whole seconds, or "never". */
export function parseTtl(value: string, flag: string): number | null {
  if (value === "never") return null;
  if (!/^[1-9]\d*$/.test(value))
    throw new UsageError(`${flag} must be whole seconds or "never" (got ${value})`);
  return Number(value);
}

/** `--meta`: a JSON object. */
export function parseMeta(text: string, flag = "--meta"): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new UsageError(`${flag} must be a JSON object`);
  return value as Record<string, unknown>;
}

/** A whole number flag (0 allowed unless `min` says otherwise). */
export function wholeNumber(value: string, flag: string, min = 0): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`${flag} must be a whole number ≥ ${min} (got ${value})`);
  return n;
}

/** `--scope`: session (the default), user or sandbox. */
export function parseScope(value: string | undefined): Scope {
  if (value === undefined) return "session";
  if (!(SCOPES as readonly string[]).includes(value))
    throw new UsageError(`--scope must be one of ${SCOPES.join(", ")} (got ${value})`);
  return value as Scope;
}

/** `--version`: an artifact version, 1 or more. */
export function parseVersion(value: string | undefined): number | undefined {
  return value === undefined ? undefined : wholeNumber(value, "--version", 1);
}

/** Handles --help for a command: prints `help` and returns true when it was asked for. */
export function helpRequested(values: { help?: boolean | undefined }, help: string): boolean {
  if (values.help) console.log(help);
  return values.help === true;
}

/**
 * Any failure as one line on standard error, and its exit status: 2 for a usage mistake (a bad
 * flag or argument, an invalid id or value), 1 for everything else (a missing file, a missing
 * artifact, a backend that failed).
 */
export function reportError(err: unknown): number {
  if (err instanceof ArtifactStoreError) {
    console.error(`chuk-artifacts: ${err.code}: ${err.message}`);
    return err.code === "VALIDATION_ERROR" ? 2 : 1;
  }
  if (err instanceof UsageError || isParseArgsError(err)) {
    // parseArgs's advice on passing values that start with "-" would break the one line.
    const message = (err as Error).message
      .replace(/\s*To specify [\s\S]*$/, "")
      .replace(/\s*\n\s*/g, " ")
      .replace(/\.$/, "");
    console.error(`chuk-artifacts: ${message} (see --help)`);
    return 2;
  }
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === "string" && FILE_ERRORS[code]) {
    const path = (err as NodeJS.ErrnoException).path;
    console.error(`chuk-artifacts: ${path ? `${path}: ` : ""}${FILE_ERRORS[code]}`);
    return 1;
  }
  console.error(`chuk-artifacts: ${err instanceof Error ? err.message : String(err)}`);
  return 1;
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EISDIR: "is a directory",
  ENOTDIR: "not a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EEXIST: "already exists",
  ENOSPC: "no space left on the device",
  EPIPE: "the output was closed",
};

function isParseArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}

/**
 * Opens the store the flags describe on the shared person-facing defaults (see defaults.ts), runs
 * `fn`, reports any failure as a one-line message and exit status, closes.
 */
export async function withStore(
  values: Record<string, unknown>,
  fn: (store: ArtifactStore) => Promise<number>,
): Promise<number> {
  let store: ArtifactStore | null = null;
  try {
    const { options } = await personalStore(storeOptionsFrom(values), undefined);
    store = new ArtifactStore(options);
    return await fn(store);
  } catch (err) {
    return reportError(err);
  } finally {
    await store?.close();
  }
}

/** The access context given by --user / --session (empty: the CLI is trusted, as server code is). */
export function contextFrom(values: { user?: string | undefined; session?: string | undefined }): {
  userId?: string;
  sessionId?: string;
} {
  return {
    ...(values.user !== undefined && { userId: values.user }),
    ...(values.session !== undefined && { sessionId: values.session }),
  };
}

export const CONTEXT_FLAGS = {
  user: { type: "string" },
  session: { type: "string" },
  json: { type: "boolean" },
} as const satisfies ParseArgsConfig["options"];
