import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { ArtifactStoreOptions } from "../config.js";
import { RawFilesystem } from "./raw-filesystem.js";
import { RawMemory } from "./raw-memory.js";
import { RawS3Redis, type S3Settings } from "./raw-s3.js";
import { OursSubject, type Subject } from "./subject.js";

export const PROVIDERS = ["memory", "filesystem", "s3"] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Where one provider's benchmark runs. Plain data, so it can be handed to a child process. */
export interface ProviderSettings {
  provider: ProviderName;
  /** filesystem: a folder the bench owns; `ours/` and `raw/` live under it. */
  root?: string;
  s3?: S3Settings;
  redisUrl?: string;
  /** Requests in flight where a workload runs concurrently (also the raw listing's HEADs). */
  concurrency: number;
  /** The library's sandbox for this run, so runs never see each other's artifacts. */
  sandboxId: string;
}

export function newSandboxId(): string {
  return `bench-${randomBytes(6).toString("hex")}`;
}

export function storeOptions(settings: ProviderSettings): ArtifactStoreOptions {
  const base: ArtifactStoreOptions = { sandboxId: settings.sandboxId };
  switch (settings.provider) {
    case "memory":
      return { ...base, storageProvider: "memory", sessionProvider: "memory" };
    case "filesystem":
      return {
        ...base,
        storageProvider: "filesystem",
        sessionProvider: "memory",
        fsRoot: join(settings.root!, "ours"),
      };
    case "s3": {
      const s3 = settings.s3!;
      return {
        ...base,
        storageProvider: "s3",
        sessionProvider: "redis",
        redisUrl: settings.redisUrl!,
        bucket: s3.bucket,
        s3: {
          bucket: s3.bucket,
          endpoint: s3.endpoint,
          region: s3.region,
          accessKeyId: s3.accessKeyId,
          secretAccessKey: s3.secretAccessKey,
          forcePathStyle: true,
        },
      };
    }
  }
}

export async function openSubject(settings: ProviderSettings, side: "ours" | "raw"): Promise<Subject> {
  if (side === "ours") return new OursSubject(storeOptions(settings)).open();
  switch (settings.provider) {
    case "memory":
      return new RawMemory();
    case "filesystem":
      return RawFilesystem.open(join(settings.root!, "raw"));
    case "s3":
      return RawS3Redis.open(settings.s3!, settings.redisUrl!, settings.concurrency);
  }
}
