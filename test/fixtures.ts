import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import type { ArtifactStoreOptions } from "../src/config.js";
import { IdLocator } from "../src/id-locator.js";
import { RecordStore } from "../src/records.js";
import type { SessionProvider } from "../src/sessions/provider.js";
import type { StorageDriver } from "../src/storage/driver.js";
import type { StorageProvider } from "../src/storage/provider.js";
import { type PrivateCluster, startPrivateCluster } from "./helpers/redis-cluster.js";

/**
 * The providers every contract suite runs against, unchanged. S3 and Redis entries point at the
 * real servers started by test/setup/services.ts.
 */

export interface Fixture<T> {
  name: string;
  open(): Promise<T>;
  /** Removes what `open` created (temporary folders); the provider itself is closed by the test. */
  dispose(): Promise<void>;
}

const services = () => inject("services");

/** A sandbox id of its own for each fixture, so suites sharing a bucket or Redis never collide. */
export function uniqueSandbox(prefix = "t"): string {
  return `${prefix}-${randomBytes(6).toString("hex")}`;
}

function tempDirFixture<T>(name: string, make: (dir: string) => Promise<T>): () => Fixture<T> {
  return () => {
    let dir: string | null = null;
    return {
      name,
      async open() {
        dir = await mkdtemp(join(tmpdir(), "chuk-art-"));
        return make(dir);
      },
      async dispose() {
        if (dir) await rm(dir, { recursive: true, force: true });
      },
    };
  };
}

/** Every storage driver, opened on its own temporary folder or the test bucket. */
export function driverFixtures(): Fixture<StorageDriver>[] {
  const list: Fixture<StorageDriver>[] = [
    {
      name: "memory",
      open: async () => new (await import("../src/storage/memory.js")).MemoryDriver(),
      dispose: async () => {},
    },
    tempDirFixture("filesystem", async (dir) =>
      (await import("../src/storage/filesystem.js")).FilesystemDriver.open({ root: dir }),
    )(),
  ];
  const s3 = services().s3;
  if (s3) {
    list.push({
      name: "s3",
      open: async () =>
        (await import("../src/storage/s3/driver.js")).S3Driver.open("s3", {
          bucket: s3.bucket,
          region: s3.region,
          endpoint: s3.endpoint,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
          forcePathStyle: true,
        }),
      dispose: async () => {},
    });
  }
  return list;
}

/**
 * The record layer over every driver, as the store uses it. Drivers without an id index of their
 * own keep it in a memory session provider here (rebuilt from a listing when it misses).
 */
export function storageFixtures(): Fixture<StorageProvider>[] {
  return driverFixtures().map((driver) => ({
    name: driver.name,
    open: async () => {
      const opened = await driver.open();
      const { MemorySessionProvider } = await import("../src/sessions/memory.js");
      const index = new MemorySessionProvider();
      return new RecordStore(opened, new IdLocator(opened, async () => index));
    },
    dispose: () => driver.dispose(),
  }));
}

export function sessionFixtures(): Fixture<SessionProvider>[] {
  const list: Fixture<SessionProvider>[] = [
    {
      name: "memory",
      open: async () => new (await import("../src/sessions/memory.js")).MemorySessionProvider(),
      dispose: async () => {},
    },
  ];
  const redisUrl = services().redisUrl;
  if (redisUrl) {
    const redis = async (url: string) =>
      (await import("../src/sessions/redis.js")).RedisSessionProvider.open(url);
    list.push(
      { name: "redis", open: () => redis(redisUrl), dispose: async () => {} },
      {
        // As the store uses it: behind the circuit breaker.
        name: "redis behind the breaker",
        open: async () =>
          new (await import("../src/sessions/breaker.js")).SessionBreaker(await redis(redisUrl)),
        dispose: async () => {},
      },
      (() => {
        let cluster: PrivateCluster | null = null;
        return {
          name: "redis cluster (3 masters)",
          async open() {
            cluster = await startPrivateCluster();
            return redis(cluster.url);
          },
          async dispose() {
            await cluster?.stop();
          },
        };
      })(),
    );
  }
  return list;
}

/**
 * Whole-store configurations for end-to-end library tests (the seed examples, bad input):
 * memory, filesystem, and S3 + Redis when the servers are up. Each call gets a fresh sandbox.
 */
export function storeConfigs(): Fixture<ArtifactStoreOptions>[] {
  const list: Fixture<ArtifactStoreOptions>[] = [
    { name: "memory", open: async () => ({ sandboxId: uniqueSandbox() }), dispose: async () => {} },
    tempDirFixture("filesystem", async (dir) => ({
      storageProvider: "filesystem" as const,
      // Two private folders above the root: the bad-input tests watch what `..` and `../..` name,
      // and the shared temp folder itself changes whenever any other process uses it.
      fsRoot: join(dir, "above", "root"),
      sandboxId: uniqueSandbox(),
    }))(),
  ];
  const { s3, redisUrl } = services();
  if (s3 && redisUrl) {
    list.push({
      name: "s3+redis",
      open: async () => ({
        storageProvider: "s3" as const,
        sessionProvider: "redis" as const,
        redisUrl,
        sandboxId: uniqueSandbox(),
        s3: {
          bucket: s3.bucket,
          region: s3.region,
          endpoint: s3.endpoint,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
        },
      }),
      dispose: async () => {},
    });
  }
  return list;
}
