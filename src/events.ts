import type { ResolvedConfig } from "./config.js";
import type { SessionProvider } from "./sessions/provider.js";

/**
 * "An artifact changed": what the store announces after every visible write, so that MCP
 * subscriptions (and anything else listening) can tell clients. With Redis sessions the
 * announcements travel over Redis pub/sub and reach every process on the same Redis; otherwise
 * they stay in this process.
 */

export type ArtifactChangeKind = "created" | "updated" | "deleted";

export interface ArtifactChange {
  sandboxId: string;
  sessionId: string;
  artifactId: string;
  kind: ArtifactChangeKind;
}

export type ArtifactChangeListener = (change: ArtifactChange) => void;

export interface ArtifactEvents {
  /** True when changes made by other processes arrive too (Redis). */
  readonly shared: boolean;
  /** Announces a change. Never throws and never waits: a lost announcement must not fail a write. */
  publish(change: ArtifactChange): void;
  /** Listens to the changes of this store's sandbox; returns the function that stops listening. */
  subscribe(listener: ArtifactChangeListener): () => void;
  close(): Promise<void>;
}

/**
 * Listeners of one process, for artifact changes and audit events alike. A listener that throws
 * (or whose promise rejects) does not stop the others, and nothing waits for it: the write that
 * announced itself has already succeeded.
 */
export class Listeners<T> {
  private readonly set = new Set<(value: T) => unknown>();

  notify(value: T): void {
    for (const listener of [...this.set]) {
      try {
        const result = listener(value);
        if (result instanceof Promise) result.catch(() => {});
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  add(listener: (value: T) => unknown): () => void {
    this.set.add(listener);
    return () => {
      this.set.delete(listener);
    };
  }

  get size(): number {
    return this.set.size;
  }

  clear(): void {
    this.set.clear();
  }
}

/** Change listeners of one process. */
export class LocalArtifactEvents implements ArtifactEvents {
  readonly shared: boolean = false;
  private readonly listeners = new Listeners<ArtifactChange>();

  publish(change: ArtifactChange): void {
    this.listeners.notify(change);
  }

  subscribe(listener: ArtifactChangeListener): () => void {
    return this.listeners.add(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

/**
 * The events of a store with this configuration: over Redis pub/sub with Redis sessions (the Redis
 * client loads on first use; changes are published on the connection of the store's open session
 * provider, `sessionsNow`), in-process otherwise, including for a custom session provider.
 */
export function createArtifactEvents(
  config: ResolvedConfig,
  sessionsNow: () => SessionProvider | null,
): ArtifactEvents {
  if (config.sessionProvider === "redis" && config.redisUrl !== null) {
    return new LazyRedisEvents(config.redisUrl, config.sandboxId, sessionsNow);
  }
  return new LocalArtifactEvents();
}

/** Defers loading ioredis (and connecting) until the first publish or subscribe. */
class LazyRedisEvents implements ArtifactEvents {
  readonly shared = true;
  private readonly local = new LocalArtifactEvents();
  private redis: Promise<import("./sessions/redis-events.js").RedisArtifactEvents> | null = null;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly sandboxId: string,
    private readonly sessionsNow: () => SessionProvider | null,
  ) {}

  private open() {
    this.redis ??= import("./sessions/redis-events.js").then(
      ({ RedisArtifactEvents }) =>
        new RedisArtifactEvents(this.url, this.sandboxId, this.local, this.sessionsNow),
    );
    return this.redis;
  }

  publish(change: ArtifactChange): void {
    if (this.closed) return;
    this.open().then(
      (redis) => redis.publish(change),
      () => this.local.publish(change),
    );
  }

  subscribe(listener: ArtifactChangeListener): () => void {
    const stop = this.local.subscribe(listener);
    if (!this.closed)
      void this.open().then(
        (redis) => redis.listen(),
        () => {},
      );
    return stop;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.local.close();
    if (this.redis) await (await this.redis.catch(() => null))?.close();
  }
}
