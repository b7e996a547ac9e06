/**
 * Usage counters for quotas: what a user or a session holds in storage (bytes and artifacts).
 * Kept by the session provider so every process of a deployment sees the same count.
 *
 * A counter that does not exist is *unknown* — never counted, or lost with a Redis flush — not
 * zero: the caller rebuilds it from storage (`init`) before trusting it. A counter that exists,
 * even at zero, is the marker that it was counted. Nothing here resets a count to zero.
 */

export interface Usage {
  bytes: number;
  artifacts: number;
}

/** A quota; an absent field is unlimited. */
export interface UsageLimit {
  bytes?: number;
  artifacts?: number;
}

export interface UsageScope {
  kind: "user" | "session";
  id: string;
}

/** The answer of `reserve`: taken, refused (with the usage that refused it), or unknown. */
export type ReserveResult = { ok: boolean; usage: Usage } | null;

export interface UsageCounters {
  /** The counter; null when unknown. */
  get(sandboxId: string, scope: UsageScope): Promise<Usage | null>;
  /**
   * Atomically adds `delta` unless a positive part of it would pass `limit`; null (and nothing
   * added) when the counter is unknown.
   */
  reserve(sandboxId: string, scope: UsageScope, delta: Usage, limit: UsageLimit): Promise<ReserveResult>;
  /** Adds `delta` (releases are negative) to a known counter; an unknown one stays unknown. */
  add(sandboxId: string, scope: UsageScope, delta: Usage): Promise<void>;
  /** Sets a counter rebuilt from storage, only if it is still unknown; false when it was known. */
  init(sandboxId: string, scope: UsageScope, usage: Usage): Promise<boolean>;
  /** Forgets a counter, so its next use rebuilds it from storage. */
  drop(sandboxId: string, scope: UsageScope): Promise<void>;
}

export function scopeName(scope: UsageScope): string {
  return `${scope.kind}:${scope.id}`;
}

/** Whether adding `delta` to `usage` goes past `limit` (only growth is ever refused). */
export function exceeds(usage: Usage, delta: Usage, limit: UsageLimit): boolean {
  return (
    (delta.bytes > 0 && limit.bytes !== undefined && usage.bytes + delta.bytes > limit.bytes) ||
    (delta.artifacts > 0 &&
      limit.artifacts !== undefined &&
      usage.artifacts + delta.artifacts > limit.artifacts)
  );
}

/** Counters in a Map of this process (the memory session provider's). */
export class MemoryUsageCounters implements UsageCounters {
  private readonly counters = new Map<string, Usage>();

  async get(sandboxId: string, scope: UsageScope): Promise<Usage | null> {
    const found = this.counters.get(key(sandboxId, scope));
    return found ? { ...found } : null;
  }

  async reserve(
    sandboxId: string,
    scope: UsageScope,
    delta: Usage,
    limit: UsageLimit,
  ): Promise<ReserveResult> {
    const found = this.counters.get(key(sandboxId, scope));
    if (!found) return null;
    if (exceeds(found, delta, limit)) return { ok: false, usage: { ...found } };
    found.bytes += delta.bytes;
    found.artifacts += delta.artifacts;
    return { ok: true, usage: { ...found } };
  }

  async add(sandboxId: string, scope: UsageScope, delta: Usage): Promise<void> {
    const found = this.counters.get(key(sandboxId, scope));
    if (!found) return;
    found.bytes += delta.bytes;
    found.artifacts += delta.artifacts;
  }

  async init(sandboxId: string, scope: UsageScope, usage: Usage): Promise<boolean> {
    const k = key(sandboxId, scope);
    if (this.counters.has(k)) return false;
    this.counters.set(k, { ...usage });
    return true;
  }

  async drop(sandboxId: string, scope: UsageScope): Promise<void> {
    this.counters.delete(key(sandboxId, scope));
  }
}

function key(sandboxId: string, scope: UsageScope): string {
  return `${sandboxId}/${scopeName(scope)}`;
}
