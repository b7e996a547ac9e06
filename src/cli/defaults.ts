import { resolve } from "node:path";
import {
  type ArtifactStoreOptions,
  type ResolvedConfig,
  readServerEnvironment,
  resolveConfig,
  type ServerEnvironment,
} from "../config.js";
import { signingSecretFor } from "../http/settings.js";

/**
 * The one set of defaults `serve`, `mcp` and every file command share, because they keep files
 * for a person rather than for an app: filesystem storage under ./artifacts, the signing secret
 * kept in that folder (so a URL `presign` prints is accepted by `serve` on the same folder), and
 * no expiry unless one is configured. The library itself keeps its own defaults (memory, 900 s).
 * Flags win over the environment, the environment over these defaults.
 */
export interface PersonalStore {
  options: ArtifactStoreOptions;
  config: ResolvedConfig;
  /** Where the signing secret comes from, for banners. */
  secretNote: string;
}

export async function personalStore(
  flags: ArtifactStoreOptions,
  defaultTtl: number | null | undefined,
  env: ServerEnvironment = readServerEnvironment(),
): Promise<PersonalStore> {
  const options: ArtifactStoreOptions = { ...flags };
  if (options.storageProvider === undefined && !env.storageProviderSet)
    options.storageProvider = "filesystem";
  if (defaultTtl !== undefined) options.defaultTtl = defaultTtl;
  else if (!env.ttlSet) options.defaultTtl = null;
  const config = resolveConfig(options); // bad configuration fails here, before anything starts
  const { secret, note } = await signingSecretFor(config);
  // Only the kept secret is passed on: without one the store makes its own and warns when it signs.
  if (config.signingSecret === null && config.storageProvider === "filesystem")
    options.signingSecret = secret;
  return { options, config, secretNote: note };
}

/** "filesystem (/abs/artifacts)", "s3 (bucket b)" or "memory (nothing is kept after exit)". */
export function storageLine(config: ResolvedConfig): string {
  const name = typeof config.storageProvider === "string" ? config.storageProvider : "custom";
  if (name === "filesystem") return `filesystem (${resolve(config.fsRoot)})`;
  if (name === "s3" || name === "ibm_cos") return `${name} (bucket ${config.s3.bucket})`;
  if (name === "memory") return "memory (nothing is kept after exit)";
  return name;
}

/** The default expiry in words, with how to change it. */
export function ttlLine(config: ResolvedConfig): string {
  return config.defaultTtl === null
    ? "artifacts never expire unless given a TTL (set ARTIFACT_TTL or --ttl for a default)"
    : `artifacts expire after ${config.defaultTtl} s unless given another TTL`;
}
