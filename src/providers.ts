import type { ResolvedConfig, S3Options } from "./config.js";
import type { SessionProvider } from "./sessions/provider.js";
import type { RedisSessionOptions } from "./sessions/redis.js";
import type { StorageDriver } from "./storage/driver.js";
import type { FilesystemDriverOptions } from "./storage/filesystem.js";

/**
 * Small factories, one per backend, each owning its options and importing its code (and SDK) only
 * when opened, so the zero-config path never loads the AWS SDK or ioredis. Pass one as
 * `storageProvider` / `sessionProvider`, or name a backend and let the environment fill it in
 * (resolveConfig in config.ts is the one place that reads the environment).
 */

export interface StorageFactory {
  readonly name: string;
  open(): Promise<StorageDriver>;
}

export interface SessionFactory {
  readonly name: string;
  open(): Promise<SessionProvider>;
}

export function memoryStorage(): StorageFactory {
  return {
    name: "memory",
    open: async () => new (await import("./storage/memory.js")).MemoryDriver(),
  };
}

export function filesystemStorage(options: FilesystemDriverOptions): StorageFactory {
  return {
    name: "filesystem",
    open: async () => (await import("./storage/filesystem.js")).FilesystemDriver.open(options),
  };
}

/**
 * S3 or an S3-compatible service; `provider: "ibm_cos"` names IBM COS (same code path).
 * `atomicConditionalWrites: true` (AWS S3) skips the deletion marks RGW needs (see records.ts).
 */
export function s3Storage(
  options: S3Options & { bucket: string; provider?: "s3" | "ibm_cos"; atomicConditionalWrites?: boolean },
): StorageFactory {
  const { provider = "s3", atomicConditionalWrites = false, ...s3 } = options;
  return {
    name: provider,
    open: async () =>
      (await import("./storage/s3/driver.js")).S3Driver.open(
        provider,
        {
          ...s3,
          region: s3.region ?? "us-east-1",
          forcePathStyle: s3.forcePathStyle ?? s3.endpoint !== undefined,
        },
        { atomicConditionalWrites },
      ),
  };
}

export function memorySessions(): SessionFactory {
  return {
    name: "memory",
    open: async () => new (await import("./sessions/memory.js")).MemorySessionProvider(),
  };
}

/**
 * Redis (or Redis Cluster) sessions behind a circuit breaker: Redis is a cache and a session index
 * that may fail, and a dead Redis then costs callers a fast SessionUnavailableError, which the
 * store answers from storage where it can.
 */
export function redisSessions(url: string, options: RedisSessionOptions = {}): SessionFactory {
  return {
    name: "redis",
    open: async () => {
      const { RedisSessionProvider } = await import("./sessions/redis.js");
      const { SessionBreaker } = await import("./sessions/breaker.js");
      return new SessionBreaker(await RedisSessionProvider.open(url, options));
    },
  };
}

/** The factory a resolved configuration names. */
export function storageFactory(config: ResolvedConfig): StorageFactory {
  const choice = config.storageProvider;
  if (typeof choice !== "string")
    return isFactory(choice) ? choice : { name: choice.name, open: async () => choice };
  switch (choice) {
    case "memory":
      return memoryStorage();
    case "filesystem":
      return filesystemStorage({ root: config.fsRoot });
    case "s3":
    case "ibm_cos":
      return s3Storage({ ...config.s3, provider: choice });
  }
}

export function sessionFactory(config: ResolvedConfig): SessionFactory {
  const choice = config.sessionProvider;
  if (typeof choice !== "string")
    return isFactory(choice) ? choice : { name: choice.name, open: async () => choice };
  switch (choice) {
    case "memory":
      return memorySessions();
    case "redis":
      return redisSessions(config.redisUrl!);
  }
}

function isFactory<T>(value: object): value is { name: string; open(): Promise<T> } {
  return (
    typeof (value as { open?: unknown }).open === "function" &&
    !("capabilities" in value) &&
    !("shared" in value)
  );
}
