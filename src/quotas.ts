import type { BackendsGetter } from "./backends.js";
import { KeyedMutex } from "./concurrency.js";
import { QuotaExceededError, SessionUnavailableError, ValidationError } from "./errors.js";
import { GRID_ROOT, sessionPrefix } from "./grid.js";
import type { ArtifactRecord } from "./metadata.js";
import {
  MemoryUsageCounters,
  scopeName,
  type Usage,
  type UsageCounters,
  type UsageLimit,
  type UsageScope,
} from "./sessions/usage.js";

export type { Usage } from "./sessions/usage.js";

/** Limits per user and per session; an absent field is unlimited. */
export interface QuotaOptions {
  user?: UsageLimit;
  session?: UsageLimit;
}

/** Whose artifact: the session it lives in and that session's owner. */
export interface UsageOwner {
  sessionId: string;
  userId: string | null;
}

/** Usage taken ahead of a write; settled with what was really written, or released on failure. */
export interface Reservation {
  /** The most bytes the write may store: its known size, else what the quotas leave (null: no limit). */
  readonly maxBytes: number | null;
  settle(actual: Usage): Promise<void>;
  release(): Promise<void>;
}

const LIST_PAGE = 1000;
const NONE: Reservation = { maxBytes: null, settle: async () => {}, release: async () => {} };

/**
 * Quotas: what a user and a session may hold (bytes and artifacts, counting everything in storage
 * until cleanup removes it — earlier versions kept included; a pending upload counts its `maxBytes`). Writes reserve before any
 * byte is stored and settle afterwards; removals release.
 *
 * Counters live in the session provider (shared through Redis). One that is unknown — never
 * counted, or lost with a flush — is recounted from storage before it is used, never taken as
 * zero. While the session provider is unavailable, writes are not stopped: this process checks
 * them against counts of its own (recounted from storage), and the counters it could not update
 * are dropped once the provider answers again, so the next use recounts them.
 */
export class Quotas {
  private readonly local = new MemoryUsageCounters();
  /** Scopes written while the shared counters were unavailable: recounted once they are back. */
  private readonly stale = new Map<string, UsageScope>();
  private readonly recounts = new KeyedMutex();

  constructor(
    private readonly limits: QuotaOptions | null,
    private readonly sandboxId: string,
    private readonly backends: BackendsGetter,
    /** Earlier versions are kept (keepVersions > 0): an update then keeps the bytes it replaces. */
    private readonly keepsVersions = false,
  ) {}

  get enabled(): boolean {
    return this.limits !== null && (this.limits.user !== undefined || this.limits.session !== undefined);
  }

  limitOf(kind: UsageScope["kind"]): UsageLimit | null {
    return this.limits?.[kind] ?? null;
  }

  /**
   * Reserves `delta` in the owner's session and user counters, or throws QuotaExceededError
   * having reserved nothing. `delta.bytes` null: the size is not known yet (a stream); one
   * artifact is reserved and `maxBytes` caps the bytes the write may store.
   */
  async reserve(owner: UsageOwner, delta: { bytes: number | null; artifacts: number }): Promise<Reservation> {
    if (!this.enabled) return NONE;
    const reserved: Usage = { bytes: delta.bytes ?? 0, artifacts: delta.artifacts };
    const taken: UsageScope[] = [];
    let headroom: number | null = null;
    try {
      for (const [scope, limit] of this.scopesOf(owner)) {
        const result = await this.onCounter(scope, (c) => c.reserve(this.sandboxId, scope, reserved, limit));
        if (!result.ok) throw refusal(scope, limit, result.usage, reserved);
        taken.push(scope);
        if (limit.bytes !== undefined) {
          const left = Math.max(0, limit.bytes - result.usage.bytes);
          headroom = headroom === null ? left : Math.min(headroom, left);
        }
      }
    } catch (err) {
      await this.addTo(taken, negate(reserved));
      throw err;
    }
    let done = false;
    return {
      maxBytes: delta.bytes ?? headroom,
      settle: async (actual) => {
        if (done) return;
        done = true;
        await this.add(owner, {
          bytes: actual.bytes - reserved.bytes,
          artifacts: actual.artifacts - reserved.artifacts,
        });
      },
      release: async () => {
        if (done) return;
        done = true;
        await this.add(owner, negate(reserved));
      },
    };
  }

  /**
   * Runs a content write under a reservation: refused before a byte is stored when it cannot fit,
   * settled with the size committed. `replacedBytes`: the size of the content it replaces (an
   * update), or null for a new artifact. A body of unknown size is cut off where the quotas end.
   */
  async write(
    owner: UsageOwner,
    size: number | null,
    replacedBytes: number | null,
    body: AsyncIterable<Uint8Array>,
    commit: (body: AsyncIterable<Uint8Array>) => Promise<ArtifactRecord>,
  ): Promise<ArtifactRecord> {
    if (!this.enabled) return commit(body);
    // With history on, the content replaced stays as an earlier version and still counts; it is
    // given back when retention drops it (versionDropped) or the artifact goes.
    const replaced = this.keepsVersions ? 0 : (replacedBytes ?? 0);
    const artifacts = replacedBytes === null ? 1 : 0;
    const hold = await this.reserve(owner, { bytes: size === null ? null : size - replaced, artifacts });
    try {
      const limit = size === null && hold.maxBytes !== null ? hold.maxBytes + replaced : null;
      const committed = await commit(limit === null ? body : capped(body, limit));
      await hold.settle({ bytes: committed.bytes - replaced, artifacts });
      return committed;
    } catch (err) {
      await hold.release();
      throw err;
    }
  }

  /** Gives back what a removed record counted, with the bytes of its earlier versions (`retainedBytes`). */
  async release(record: ArtifactRecord, retainedBytes = 0): Promise<void> {
    const counted = Quotas.countOf(record);
    await this.add(record, negate({ ...counted, bytes: counted.bytes + retainedBytes }));
  }

  /** Gives back an earlier version retention dropped. */
  async versionDropped(owner: UsageOwner, bytes: number): Promise<void> {
    await this.add(owner, { bytes: -bytes, artifacts: 0 });
  }

  /** Adds to (or, negative, releases from) the owner's counters, without a limit check. */
  async add(owner: UsageOwner, delta: Usage): Promise<void> {
    if (!this.enabled || (delta.bytes === 0 && delta.artifacts === 0)) return;
    await this.addTo(
      this.scopesOf(owner).map(([scope]) => scope),
      delta,
    );
  }

  /** The usage of one user or session: its counter when quotas are on, else counted from storage. */
  async usage(scope: UsageScope): Promise<Usage> {
    if (!this.enabled) return this.countFromStorage(scope);
    return this.onCounter(scope, (c) => c.get(this.sandboxId, scope));
  }

  /** Recounts a scope from storage, replacing its counter (after counts drifted, e.g. quotas were off for a while). */
  async recount(scope: UsageScope): Promise<Usage> {
    const counters = await this.counters();
    await counters.drop(this.sandboxId, scope);
    await this.local.drop(this.sandboxId, scope);
    return this.usage(scope);
  }

  /** What a stored record counts for: its bytes, or the `maxBytes` a pending upload reserved. */
  static countOf(record: ArtifactRecord): Usage {
    if (record.status === "pending") return { bytes: record.upload?.maxBytes ?? 0, artifacts: 1 };
    return { bytes: record.bytes, artifacts: 1 };
  }

  private scopesOf(owner: UsageOwner): [UsageScope, UsageLimit][] {
    const scopes: [UsageScope, UsageLimit][] = [];
    const user = this.limits?.user;
    const session = this.limits?.session;
    // Users first: a refused session then has nothing of the user's to give back, most of the time.
    if (user && owner.userId !== null) scopes.push([{ kind: "user", id: owner.userId }, user]);
    // User- and sandbox-scope artifacts sit in a reserved segment (`_u-…`, `_shared`), no session.
    if (session && !owner.sessionId.startsWith("_"))
      scopes.push([{ kind: "session", id: owner.sessionId }, session]);
    return scopes;
  }

  private async addTo(scopes: UsageScope[], delta: Usage): Promise<void> {
    for (const scope of scopes) {
      await this.onCounter(scope, async (c) => {
        await c.add(this.sandboxId, scope, delta);
        return true;
      }).catch(() => {
        // A counter that could not be corrected is recounted on its next use.
        this.stale.set(scopeName(scope), scope);
      });
    }
  }

  /**
   * Runs `op` on the scope's counter, recounting it from storage first when it is unknown (`op`
   * answered null). Falls back to this process's own counters while the shared ones are
   * unavailable, remembering the scope so its shared counter is recounted afterwards.
   */
  private async onCounter<T>(scope: UsageScope, op: (c: UsageCounters) => Promise<T | null>): Promise<T> {
    const shared = await this.counters();
    try {
      await this.dropStale(shared);
      return await this.withRecount(shared, scope, op);
    } catch (err) {
      if (!(err instanceof SessionUnavailableError)) throw err;
      this.stale.set(scopeName(scope), scope);
      return this.withRecount(this.local, scope, op);
    }
  }

  private async withRecount<T>(
    counters: UsageCounters,
    scope: UsageScope,
    op: (c: UsageCounters) => Promise<T | null>,
  ): Promise<T> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const answer = await op(counters);
      if (answer !== null) return answer;
      // One recount per scope at a time in this process; others wait and use its result.
      await this.recounts.run(scopeName(scope), async () => {
        if ((await counters.get(this.sandboxId, scope)) !== null) return;
        await counters.init(this.sandboxId, scope, await this.countFromStorage(scope));
      });
    }
    throw new SessionUnavailableError(`the usage counter of ${scopeName(scope)} keeps disappearing`);
  }

  /** Drops the shared counters this process could not update during an outage (they are now wrong). */
  private async dropStale(shared: UsageCounters): Promise<void> {
    if (this.stale.size === 0 || shared === this.local) return;
    for (const [name, scope] of [...this.stale]) {
      await shared.drop(this.sandboxId, scope);
      await this.local.drop(this.sandboxId, scope);
      this.stale.delete(name);
    }
  }

  private async counters(): Promise<UsageCounters> {
    const { sessions } = await this.backends();
    return sessions.usage ?? this.local;
  }

  /** Counts what storage holds for a scope: a session's prefix, or every session of the sandbox for a user. */
  async countFromStorage(scope: UsageScope): Promise<Usage> {
    const { storage } = await this.backends();
    const prefix =
      scope.kind === "session" ? sessionPrefix(this.sandboxId, scope.id) : `${GRID_ROOT}/${this.sandboxId}/`;
    const total: Usage = { bytes: 0, artifacts: 0 };
    let cursor: string | null = null;
    do {
      const page = await storage.list(prefix, { limit: LIST_PAGE, cursor });
      for (const record of page.records) {
        if (scope.kind === "user" && record.userId !== scope.id) continue;
        const counted = Quotas.countOf(record);
        total.bytes += counted.bytes + (this.keepsVersions ? await storage.retainedBytes(record) : 0);
        total.artifacts += counted.artifacts;
      }
      cursor = page.cursor;
    } while (cursor !== null);
    return total;
  }
}

function negate(usage: Usage): Usage {
  return { bytes: -usage.bytes, artifacts: -usage.artifacts };
}

function refusal(scope: UsageScope, limit: UsageLimit, usage: Usage, asked: Usage): QuotaExceededError {
  const what =
    limit.artifacts !== undefined &&
    asked.artifacts > 0 &&
    usage.artifacts + asked.artifacts > limit.artifacts
      ? `${limit.artifacts} artifacts (${usage.artifacts} stored)`
      : `${limit.bytes} bytes (${usage.bytes} used, ${asked.bytes} more asked)`;
  return new QuotaExceededError(`the ${scope.kind} quota of ${scope.id} would be exceeded: ${what}`, {
    scope: scope.kind,
    limit: { ...limit },
    usage,
  });
}

/** Validates quota options (constructor or environment): whole, non-negative numbers. */
export function validateQuotas(quotas: QuotaOptions | undefined | null): QuotaOptions | null {
  if (quotas == null) return null;
  const check = (limit: UsageLimit | undefined, name: string): UsageLimit | undefined => {
    if (limit === undefined) return undefined;
    const out: UsageLimit = {};
    for (const field of ["bytes", "artifacts"] as const) {
      const value = limit[field];
      if (value === undefined) continue;
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new ValidationError(`quotas.${name}.${field} must be a whole number of at least 0`);
      }
      out[field] = value;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const user = check(quotas.user, "user");
  const session = check(quotas.session, "session");
  if (!user && !session) return null;
  return { ...(user && { user }), ...(session && { session }) };
}

/** The byte size of data whose size is known before it is read; null for streams. */
export function knownSize(data: unknown): number | null {
  if (typeof data === "string") return Buffer.byteLength(data, "utf8");
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  if (typeof Blob !== "undefined" && data instanceof Blob) return data.size;
  return null;
}

/** Passes a body through, failing with QuotaExceededError (before storage commits) past `maxBytes`. */
async function* capped(body: AsyncIterable<Uint8Array>, maxBytes: number): AsyncIterable<Uint8Array> {
  let bytes = 0;
  for await (const chunk of body) {
    bytes += chunk.byteLength;
    if (bytes > maxBytes) {
      throw new QuotaExceededError(`the write is larger than the ${maxBytes} bytes its quotas leave`, {
        scope: "session",
        limit: { bytes: maxBytes },
        usage: { bytes, artifacts: 0 },
      });
    }
    yield chunk;
  }
}
