import type { AuditListener } from "./audit/event.js";
import { ValidationError } from "./errors.js";
import { validateSegment } from "./grid.js";
import type { ArtifactMetadata } from "./metadata.js";
import type { SessionFactory, StorageFactory } from "./providers.js";
import { type QuotaOptions, validateQuotas } from "./quotas.js";
import type { SessionProvider } from "./sessions/provider.js";
import type { StorageDriver } from "./storage/driver.js";

/**
 * The one place that reads the environment. It is read when a store is built, never at import
 * time. Precedence: constructor options, then `configure*()` helpers, then environment variables.
 */

export const STORAGE_PROVIDERS = ["memory", "filesystem", "s3", "ibm_cos"] as const;
export const SESSION_PROVIDERS = ["memory", "redis"] as const;
export type StorageProviderName = (typeof STORAGE_PROVIDERS)[number];
export type SessionProviderName = (typeof SESSION_PROVIDERS)[number];

export const DEFAULT_SANDBOX_ID = "chuk-artifacts";
export const DEFAULT_TTL_SECONDS = 900;
export const DEFAULT_SESSION_TTL_HOURS = 24;
export const DEFAULT_FS_ROOT = "./artifacts";
export const DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080";

export interface S3Options {
  bucket?: string;
  region?: string;
  /** Custom endpoint for S3-compatible services (Ceph RGW, MinIO, R2, IBM COS). */
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Path-style addressing; defaults to true when `endpoint` is set. */
  forcePathStyle?: boolean;
}

export interface ArtifactStoreOptions {
  /**
   * A backend name, a factory (`s3Storage({...})`, `filesystemStorage({...})`, …) or a driver of
   * your own. Env: ARTIFACT_PROVIDER. Default "memory".
   */
  storageProvider?: StorageProviderName | StorageFactory | StorageDriver;
  /** A backend name, a factory (`redisSessions(url)`, …) or a provider of your own. Env: SESSION_PROVIDER. Default "memory". */
  sessionProvider?: SessionProviderName | SessionFactory | SessionProvider;
  /** Names the application; stable across restarts and replicas. Env: ARTIFACT_SANDBOX_ID. */
  sandboxId?: string;
  /** Root folder of the filesystem provider. Env: ARTIFACT_FS_ROOT. Default "./artifacts". */
  fsRoot?: string;
  /** Bucket for s3/ibm_cos. Env: ARTIFACT_BUCKET. */
  bucket?: string;
  s3?: S3Options;
  /** Env: SESSION_REDIS_URL, else REDIS_URL. */
  redisUrl?: string;
  /** Env: ARTIFACT_SESSION_TTL_HOURS. Default 24. */
  sessionTtlHours?: number;
  /** Default artifact TTL in seconds, or null for never. Env: ARTIFACT_TTL ("never" allowed). Default 900. */
  defaultTtl?: number | null;
  /** HMAC secret for URLs signed for memory/filesystem storage. Env: ARTIFACT_SIGNING_SECRET. */
  signingSecret?: string;
  /** Base URL of the HTTP handler that serves signed URLs. Env: ARTIFACT_PUBLIC_URL. */
  publicUrl?: string;
  /**
   * Named sessions must be created with createSession() before anything is written to them; a
   * write to an unknown one is a SessionError instead of creating it for the writer. A user's own
   * `user_{id}` session is still made on first use. Env: ARTIFACT_REQUIRE_SESSIONS=1. Default false.
   */
  requireExplicitSessions?: boolean;
  /**
   * Receives every audit event of this store (stores, updates, deletes, presigns, registered
   * uploads, refusals, cleanups); see AuditEvent. Called without waiting; a throw is ignored.
   */
  onEvent?: AuditListener;
  /** Called with the metadata of each upload made visible by registerUploadedArtifact (not awaited). */
  onUploadRegistered?: (metadata: ArtifactMetadata) => void | Promise<void>;
  /**
   * What each user and each session may hold: `{ user: { bytes, artifacts }, session: { bytes,
   * artifacts } }`; absent fields are unlimited. Env: ARTIFACT_QUOTA_USER_BYTES,
   * ARTIFACT_QUOTA_USER_ARTIFACTS, ARTIFACT_QUOTA_SESSION_BYTES, ARTIFACT_QUOTA_SESSION_ARTIFACTS
   * (each option wins over its own variable). Default: none.
   */
  quotas?: QuotaOptions;
  /**
   * Earlier versions of each artifact kept besides the current one; 0 keeps no history (an update
   * then costs what it did before versions existed). Env: ARTIFACT_KEEP_VERSIONS. Default 10.
   */
  keepVersions?: number;
  /** Earlier versions older than this many days are dropped; null keeps them regardless of age. Env: ARTIFACT_KEEP_VERSIONS_DAYS. Default null. */
  keepVersionsDays?: number | null;
  /**
   * Cleanup deletes a body revision that no artifact or kept version names (left by a crash between
   * writing it and committing its artifact) once it is this many seconds old; younger ones may
   * belong to a write still in flight. Env: ARTIFACT_ORPHAN_GRACE_SECONDS. Default 3600.
   */
  orphanGraceSeconds?: number;
}

export interface ResolvedConfig {
  storageProvider: StorageProviderName | StorageFactory | StorageDriver;
  sessionProvider: SessionProviderName | SessionFactory | SessionProvider;
  sandboxId: string;
  fsRoot: string;
  s3: Required<Pick<S3Options, "bucket" | "region" | "forcePathStyle">> &
    Omit<S3Options, "bucket" | "region" | "forcePathStyle">;
  redisUrl: string | null;
  sessionTtlHours: number;
  defaultTtl: number | null;
  signingSecret: string | null;
  publicUrl: string;
  requireExplicitSessions: boolean;
  quotas: QuotaOptions | null;
  keepVersions: number;
  keepVersionsDays: number | null;
  orphanGraceSeconds: number;
}

let configured: ArtifactStoreOptions = {};

function configure(options: ArtifactStoreOptions): void {
  configured = { ...configured, ...options, s3: { ...configured.s3, ...options.s3 } };
}

/** Later `new ArtifactStore()` calls use the filesystem provider under `root`. */
export function configureFilesystem(options: { root?: string; sandboxId?: string } = {}): void {
  configure({
    storageProvider: "filesystem",
    fsRoot: options.root ?? DEFAULT_FS_ROOT,
    ...pickSandbox(options),
  });
}

/** Later stores use S3 (or any S3-compatible endpoint). */
export function configureS3(options: {
  accessKey?: string;
  secretKey?: string;
  bucket: string;
  region?: string;
  endpointUrl?: string;
  sandboxId?: string;
}): void {
  configure({
    storageProvider: "s3",
    bucket: options.bucket,
    s3: {
      bucket: options.bucket,
      ...(options.region !== undefined && { region: options.region }),
      ...(options.endpointUrl !== undefined && { endpoint: options.endpointUrl }),
      ...(options.accessKey !== undefined && { accessKeyId: options.accessKey }),
      ...(options.secretKey !== undefined && { secretAccessKey: options.secretKey }),
    },
    ...pickSandbox(options),
  });
}

/** Later stores use IBM Cloud Object Storage through its S3 API with HMAC keys. */
export function configureIbmCos(options: {
  accessKey: string;
  secretKey: string;
  bucket: string;
  endpoint: string;
  region?: string;
  sandboxId?: string;
}): void {
  configure({
    storageProvider: "ibm_cos",
    bucket: options.bucket,
    s3: {
      bucket: options.bucket,
      endpoint: options.endpoint,
      accessKeyId: options.accessKey,
      secretAccessKey: options.secretKey,
      ...(options.region !== undefined && { region: options.region }),
    },
    ...pickSandbox(options),
  });
}

/** Later stores keep sessions in Redis. */
export function configureRedisSession(redisUrl: string): void {
  configure({ sessionProvider: "redis", redisUrl });
}

/** Later stores use memory storage and memory sessions (the zero-config default). */
export function configureMemory(): void {
  configure({ storageProvider: "memory", sessionProvider: "memory" });
}

/** Forgets everything set by the `configure*()` helpers. */
export function resetConfiguration(): void {
  configured = {};
}

function pickSandbox(options: { sandboxId?: string }): Pick<ArtifactStoreOptions, "sandboxId"> {
  return options.sandboxId === undefined ? {} : { sandboxId: options.sandboxId };
}

type Env = Record<string, string | undefined>;

export function resolveConfig(options: ArtifactStoreOptions = {}, env: Env = process.env): ResolvedConfig {
  const o: ArtifactStoreOptions = {
    ...configured,
    ...stripUndefined(options),
    s3: { ...configured.s3, ...options.s3 },
  };
  const nonEmpty = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());

  const storageProvider =
    o.storageProvider ?? (nonEmpty(env.ARTIFACT_PROVIDER) as StorageProviderName | undefined) ?? "memory";
  if (typeof storageProvider === "string" && !STORAGE_PROVIDERS.includes(storageProvider)) {
    throw new ValidationError(
      `Unknown storage provider ${JSON.stringify(storageProvider)}: set ARTIFACT_PROVIDER (or storageProvider) to one of ${STORAGE_PROVIDERS.join(", ")}`,
    );
  }
  const sessionProvider =
    o.sessionProvider ?? (nonEmpty(env.SESSION_PROVIDER) as SessionProviderName | undefined) ?? "memory";
  if (typeof sessionProvider === "string" && !SESSION_PROVIDERS.includes(sessionProvider)) {
    throw new ValidationError(
      `Unknown session provider ${JSON.stringify(sessionProvider)}: set SESSION_PROVIDER (or sessionProvider) to one of ${SESSION_PROVIDERS.join(", ")}`,
    );
  }

  const sandboxId = o.sandboxId ?? nonEmpty(env.ARTIFACT_SANDBOX_ID) ?? DEFAULT_SANDBOX_ID;
  validateSegment(sandboxId, "sandboxId");

  const isCos = storageProvider === "ibm_cos";
  const endpoint =
    o.s3?.endpoint ?? (isCos ? nonEmpty(env.IBM_COS_ENDPOINT) : undefined) ?? nonEmpty(env.S3_ENDPOINT_URL);
  const s3: ResolvedConfig["s3"] = {
    bucket: o.s3?.bucket ?? o.bucket ?? nonEmpty(env.ARTIFACT_BUCKET) ?? "",
    region:
      o.s3?.region ??
      (isCos ? nonEmpty(env.IBM_COS_REGION) : undefined) ??
      nonEmpty(env.AWS_REGION) ??
      nonEmpty(env.AWS_DEFAULT_REGION) ??
      "us-east-1",
    forcePathStyle: o.s3?.forcePathStyle ?? endpoint !== undefined,
    ...(endpoint !== undefined && { endpoint }),
  };
  const accessKeyId =
    o.s3?.accessKeyId ??
    (isCos ? nonEmpty(env.IBM_COS_ACCESS_KEY) : undefined) ??
    nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey =
    o.s3?.secretAccessKey ??
    (isCos ? nonEmpty(env.IBM_COS_SECRET_KEY) : undefined) ??
    nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = o.s3?.sessionToken ?? nonEmpty(env.AWS_SESSION_TOKEN);
  if (accessKeyId !== undefined) s3.accessKeyId = accessKeyId;
  if (secretAccessKey !== undefined) s3.secretAccessKey = secretAccessKey;
  if (sessionToken !== undefined) s3.sessionToken = sessionToken;

  if (storageProvider === "s3" || storageProvider === "ibm_cos") checkS3(storageProvider, s3, env);

  const redisUrl = o.redisUrl ?? nonEmpty(env.SESSION_REDIS_URL) ?? nonEmpty(env.REDIS_URL) ?? null;
  if (sessionProvider === "redis" && redisUrl === null) {
    throw new ValidationError(
      "Session provider redis needs a URL: set SESSION_REDIS_URL or REDIS_URL (redis://host:6379/0)",
    );
  }

  return {
    storageProvider,
    sessionProvider,
    sandboxId,
    fsRoot: o.fsRoot ?? nonEmpty(env.ARTIFACT_FS_ROOT) ?? DEFAULT_FS_ROOT,
    s3,
    redisUrl,
    sessionTtlHours: positiveNumber(
      o.sessionTtlHours ?? nonEmpty(env.ARTIFACT_SESSION_TTL_HOURS),
      "ARTIFACT_SESSION_TTL_HOURS",
      DEFAULT_SESSION_TTL_HOURS,
    ),
    defaultTtl: resolveTtl(o.defaultTtl, nonEmpty(env.ARTIFACT_TTL)),
    signingSecret: o.signingSecret ?? nonEmpty(env.ARTIFACT_SIGNING_SECRET) ?? null,
    publicUrl: (o.publicUrl ?? nonEmpty(env.ARTIFACT_PUBLIC_URL) ?? DEFAULT_PUBLIC_URL).replace(/\/+$/, ""),
    requireExplicitSessions:
      o.requireExplicitSessions ??
      ["1", "true", "yes"].includes(nonEmpty(env.ARTIFACT_REQUIRE_SESSIONS) ?? ""),
    quotas: validateQuotas(mergeQuotas(quotasFromEnv(env), o.quotas)),
    keepVersions: resolveKeepVersions(o.keepVersions ?? nonEmpty(env.ARTIFACT_KEEP_VERSIONS)),
    keepVersionsDays:
      o.keepVersionsDays === null
        ? null
        : o.keepVersionsDays === undefined && nonEmpty(env.ARTIFACT_KEEP_VERSIONS_DAYS) === undefined
          ? null
          : positiveNumber(
              o.keepVersionsDays ?? nonEmpty(env.ARTIFACT_KEEP_VERSIONS_DAYS),
              "ARTIFACT_KEEP_VERSIONS_DAYS",
              0,
            ),
    orphanGraceSeconds: positiveNumber(
      o.orphanGraceSeconds ?? nonEmpty(env.ARTIFACT_ORPHAN_GRACE_SECONDS),
      "orphanGraceSeconds (ARTIFACT_ORPHAN_GRACE_SECONDS)",
      DEFAULT_ORPHAN_GRACE_SECONDS,
    ),
  };
}

const QUOTA_VARIABLES = {
  user: { bytes: "ARTIFACT_QUOTA_USER_BYTES", artifacts: "ARTIFACT_QUOTA_USER_ARTIFACTS" },
  session: { bytes: "ARTIFACT_QUOTA_SESSION_BYTES", artifacts: "ARTIFACT_QUOTA_SESSION_ARTIFACTS" },
} as const;

/** Each limit given as an option wins over its environment variable; the others keep theirs. */
function mergeQuotas(
  fromEnv: QuotaOptions | undefined,
  given: QuotaOptions | undefined,
): QuotaOptions | undefined {
  if (!fromEnv || !given) return given ?? fromEnv;
  return {
    user: { ...fromEnv.user, ...given.user },
    session: { ...fromEnv.session, ...given.session },
  };
}

function quotasFromEnv(env: Env): QuotaOptions | undefined {
  const quotas: QuotaOptions = {};
  for (const kind of ["user", "session"] as const) {
    for (const field of ["bytes", "artifacts"] as const) {
      const name = QUOTA_VARIABLES[kind][field];
      const raw = env[name]?.trim();
      if (!raw) continue;
      const value = Number(raw);
      if (!Number.isSafeInteger(value) || value < 0)
        throw new ValidationError(
          `${name} must be a whole number of at least 0 (got ${JSON.stringify(raw)})`,
        );
      quotas[kind] = { ...quotas[kind], [field]: value };
    }
  }
  return quotas.user || quotas.session ? quotas : undefined;
}

function checkS3(provider: string, s3: ResolvedConfig["s3"], env: Env): void {
  const isCos = provider === "ibm_cos";
  if (!s3.bucket)
    throw new ValidationError(`Storage provider ${provider} needs a bucket: set ARTIFACT_BUCKET (or bucket)`);
  if (isCos && !s3.endpoint) {
    throw new ValidationError(
      "Storage provider ibm_cos needs an endpoint: set IBM_COS_ENDPOINT (e.g. https://s3.us-south.cloud-object-storage.appdomain.cloud)",
    );
  }
  const hasKeys = s3.accessKeyId !== undefined && s3.secretAccessKey !== undefined;
  if (hasKeys) return;
  if (s3.accessKeyId !== undefined || s3.secretAccessKey !== undefined) {
    throw new ValidationError(
      isCos
        ? "IBM COS needs both IBM_COS_ACCESS_KEY and IBM_COS_SECRET_KEY (HMAC credentials)"
        : "S3 needs both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither to use an IAM role/profile",
    );
  }
  // Without keys, AWS's default chain may still find credentials (IAM role, profile, web identity).
  const ambient = [
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_USE_DEFAULT_CREDENTIALS",
  ];
  if (!isCos && ambient.some((name) => env[name])) return;
  throw new ValidationError(
    isCos
      ? "Storage provider ibm_cos needs HMAC credentials: set IBM_COS_ACCESS_KEY and IBM_COS_SECRET_KEY"
      : "Storage provider s3 needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or AWS_USE_DEFAULT_CREDENTIALS=1 to use an IAM role",
  );
}

const DEFAULT_KEEP_VERSIONS = 10;
/** Far longer than any write takes between its revision and its head, even a retried one. */
const DEFAULT_ORPHAN_GRACE_SECONDS = 3600;

function resolveKeepVersions(value: number | string | undefined): number {
  if (value === undefined) return DEFAULT_KEEP_VERSIONS;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ValidationError(
      `keepVersions (ARTIFACT_KEEP_VERSIONS) must be a whole number, 0 or more (got ${JSON.stringify(value)})`,
    );
  }
  return n;
}

function positiveNumber(value: number | string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ValidationError(`${name} must be a positive number (got ${JSON.stringify(value)})`);
  return n;
}

function resolveTtl(option: number | null | undefined, env: string | undefined): number | null {
  if (option !== undefined) {
    if (option !== null && (!Number.isInteger(option) || option <= 0)) {
      throw new ValidationError("defaultTtl must be a positive whole number of seconds, or null for never");
    }
    return option;
  }
  if (env === undefined) return DEFAULT_TTL_SECONDS;
  if (env === "never" || env === "0") return null;
  const n = Number(env);
  if (!Number.isInteger(n) || n <= 0)
    throw new ValidationError(`ARTIFACT_TTL must be seconds or "never" (got ${JSON.stringify(env)})`);
  return n;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Settings of the servers and CLI (not of the store), read from the environment when they start. */
export interface ServerEnvironment {
  /** ARTIFACT_PROVIDER was set: the CLI's own default storage must not override it. */
  storageProviderSet: boolean;
  /** ARTIFACT_TTL was set: the CLI's own "never expire" default must not override it. */
  ttlSet: boolean;
  /** ARTIFACT_PUBLIC_URL, when set: where signed URLs point instead of the listening address. */
  publicUrl: string | null;
  /** CHUK_API_KEYS="key=user,…" */
  apiKeys: string | null;
  /** CHUK_ADMIN_KEYS="key,…" or "key=name,…" */
  adminKeys: string | null;
  /** CHUK_API_KEYS_FILE: a JSON file of keys. */
  apiKeysFile: string | null;
  /** CHUK_MCP_USER: the user of `chuk-artifacts mcp` when --user is not given. */
  mcpUser: string | null;
  /** CHUK_AUDIT_LOG: where `serve` writes audit events as JSON lines ("-" for stdout). */
  auditLog: string | null;
  /** CHUK_WEBHOOKS: webhook URLs, comma- or space-separated. */
  webhooks: string[];
  /** CHUK_WEBHOOK_SECRET: the HMAC secret webhooks are signed with. */
  webhookSecret: string | null;
  /** CHUK_WEBHOOK_LOG: where the webhook delivery log goes ("-" for stdout, the default). */
  webhookLog: string | null;
}

export function readServerEnvironment(env: Env = process.env): ServerEnvironment {
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v ? v : null;
  };
  return {
    storageProviderSet: value("ARTIFACT_PROVIDER") !== null,
    ttlSet: value("ARTIFACT_TTL") !== null,
    publicUrl: value("ARTIFACT_PUBLIC_URL"),
    apiKeys: value("CHUK_API_KEYS"),
    adminKeys: value("CHUK_ADMIN_KEYS"),
    apiKeysFile: value("CHUK_API_KEYS_FILE"),
    mcpUser: value("CHUK_MCP_USER"),
    auditLog: value("CHUK_AUDIT_LOG"),
    webhooks: (value("CHUK_WEBHOOKS") ?? "").split(/[\s,]+/).filter((url) => url !== ""),
    webhookSecret: value("CHUK_WEBHOOK_SECRET"),
    webhookLog: value("CHUK_WEBHOOK_LOG"),
  };
}

/** A URL with its password masked, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable url>";
  }
}
