import type { ResolvedConfig } from "./config.js";
import type { SessionProvider } from "./sessions/provider.js";
import type { StorageProvider } from "./storage/provider.js";

/**
 * Builds the configured providers. Each is imported only when chosen, so the zero-config path
 * never loads the AWS SDK or ioredis.
 */
export async function createStorageProvider(config: ResolvedConfig): Promise<StorageProvider> {
  const choice = config.storageProvider;
  if (typeof choice !== "string") return choice;
  switch (choice) {
    case "memory": {
      const { MemoryStorageProvider } = await import("./storage/memory.js");
      return new MemoryStorageProvider();
    }
    case "filesystem": {
      const { FilesystemStorageProvider } = await import("./storage/filesystem.js");
      return FilesystemStorageProvider.open(config.fsRoot);
    }
    case "s3":
    case "ibm_cos": {
      const { S3StorageProvider } = await import("./storage/s3.js");
      return S3StorageProvider.open(choice, config.s3);
    }
  }
}

export async function createSessionProvider(config: ResolvedConfig): Promise<SessionProvider> {
  const choice = config.sessionProvider;
  if (typeof choice !== "string") return choice;
  switch (choice) {
    case "memory": {
      const { MemorySessionProvider } = await import("./sessions/memory.js");
      return new MemorySessionProvider();
    }
    case "redis": {
      const { RedisSessionProvider } = await import("./sessions/redis.js");
      const { SessionBreaker } = await import("./sessions/breaker.js");
      // Redis is a cache and a session index that may fail: the breaker makes a dead Redis cost
      // callers a fast SessionUnavailableError, which the store answers from storage where it can.
      return new SessionBreaker(await RedisSessionProvider.open(config.redisUrl!));
    }
  }
}
