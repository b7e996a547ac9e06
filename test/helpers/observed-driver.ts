import {
  type ArtifactStoreOptions,
  filesystemStorage,
  memoryStorage,
  ProviderError,
  s3Storage,
} from "../../src/index.js";
import type { StorageFactory } from "../../src/providers.js";
import type { StorageDriver } from "../../src/storage/driver.js";

/** One driver call as the observer saw it; `bytes` is what a put streamed (0 for other calls). */
export interface DriverCall {
  op: string;
  key: string;
  bytes: number;
}

/**
 * A storage driver that records every call (and the bytes each put streams), and on demand fails
 * the n-th call from now as a backend outage would: a fault injected at one exact step.
 */
export class DriverObserver {
  calls: DriverCall[] = [];
  private failIn: number | null = null;
  driver: StorageDriver | null = null;

  /** `inlineBodyBytes`, when given, replaces the driver's: bodies past it go to revision objects. */
  constructor(private readonly inlineBodyBytes?: number) {}

  /** Forgets what was seen so far. */
  reset(): void {
    this.calls = [];
  }

  /**
   * Runs `work` once, just before the first call that `match` picks goes to the driver (the call
   * waits for it): another writer landing at that exact step.
   */
  before(match: (call: DriverCall) => boolean, work: () => Promise<unknown>): void {
    this.hook = { match, work };
  }

  private hook: { match: (call: DriverCall) => boolean; work: () => Promise<unknown> } | null = null;

  /** Fails the n-th driver call from now (1: the next one), and only that one. */
  failCall(n: number | null): void {
    this.failIn = n;
  }

  bytesWritten(): number {
    return this.calls.reduce((sum, c) => sum + c.bytes, 0);
  }

  count(op: string): number {
    return this.calls.filter((c) => c.op === op).length;
  }

  wrap(inner: StorageDriver): StorageDriver {
    this.driver = inner;
    const observer = this;
    const step = (op: string, key: string) => {
      if (observer.failIn !== null && --observer.failIn === 0) {
        observer.failIn = null;
        throw new ProviderError(`injected fault at ${op} ${key}`);
      }
    };
    const counted = async function* (body: AsyncIterable<Uint8Array>, call: DriverCall) {
      for await (const chunk of body) {
        call.bytes += chunk.byteLength;
        yield chunk;
      }
    };
    return new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop === "capabilities" && observer.inlineBodyBytes !== undefined)
          return { ...target.capabilities, inlineBodyBytes: observer.inlineBodyBytes };
        if (
          typeof value !== "function" ||
          !["put", "head", "get", "copy", "delete", "list"].includes(String(prop))
        )
          return typeof value === "function" ? value.bind(target) : value;
        return async (key: string, ...rest: unknown[]) => {
          const call: DriverCall = { op: String(prop), key, bytes: 0 };
          observer.calls.push(call);
          const hook = observer.hook;
          if (hook?.match(call)) {
            observer.hook = null;
            await hook.work();
          }
          step(call.op, key);
          if (prop === "put") {
            return target.put(key, counted(rest[0] as AsyncIterable<Uint8Array>, call), rest[1] as never);
          }
          return (value as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      },
    });
  }
}

/** The fixture's store options with its storage driver observed by `observer`. */
export function observedOptions(
  options: ArtifactStoreOptions,
  observer: DriverObserver,
): ArtifactStoreOptions {
  const base = baseFactory(options);
  return {
    ...options,
    storageProvider: { name: base.name, open: async () => observer.wrap(await base.open()) },
  };
}

function baseFactory(options: ArtifactStoreOptions): StorageFactory {
  switch (options.storageProvider) {
    case "filesystem":
      return filesystemStorage({ root: options.fsRoot! });
    case "s3":
      return s3Storage({ ...options.s3!, bucket: options.s3!.bucket! });
    case undefined:
    case "memory":
      return memoryStorage();
    default:
      throw new Error(`no observed factory for ${String(options.storageProvider)}`);
  }
}
