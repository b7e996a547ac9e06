import type { ParseArgsConfig } from "node:util";
import type { ArtifactStoreOptions } from "../config.js";
import { ArtifactStoreError } from "../errors.js";
import { ArtifactStore } from "../store.js";

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

export const STORE_FLAGS_HELP = `store options (each overrides its environment variable):
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

/** Handles --help for a command: prints `help` and returns true when it was asked for. */
export function helpRequested(values: { help?: boolean | undefined }, help: string): boolean {
  if (values.help) console.log(help);
  return values.help === true;
}

/** Prints a typed store error as `code: message` and returns the exit status for it. */
export function reportError(err: unknown): number {
  if (err instanceof ArtifactStoreError) {
    console.error(`chuk-artifacts: ${err.code}: ${err.message}`);
    return err.code === "ARTIFACT_NOT_FOUND" ? 4 : err.code === "VALIDATION_ERROR" ? 2 : 1;
  }
  throw err;
}

/** Opens the store the flags describe, runs `fn`, reports a typed error as an exit status, closes. */
export async function withStore(
  values: Record<string, unknown>,
  fn: (store: ArtifactStore) => Promise<number>,
): Promise<number> {
  let store: ArtifactStore | null = null;
  try {
    store = new ArtifactStore(storeOptionsFrom(values));
    return await fn(store);
  } catch (err) {
    return reportError(err);
  } finally {
    await store?.close();
  }
}
