import { SessionUnavailableError } from "../errors.js";
import type { ArtifactRecord } from "../metadata.js";
import type { SessionProvider, SessionRecord } from "./provider.js";
import type { SearchIndex } from "./search-index.js";
import type { ReserveResult, Usage, UsageCounters, UsageLimit, UsageScope } from "./usage.js";

/**
 * A circuit breaker around a session provider that lives on the network (Redis), so a dead or
 * stalled backend costs callers nothing but a fast SessionUnavailableError:
 *
 * - closed: calls go through. Any failure, or a call that has not answered within `deadlineMs`,
 *   opens the breaker (that call fails at the deadline, not when the backend gives up).
 * - open: every call fails at once, without touching the network, until `probeIntervalMs` has
 *   passed since the breaker opened or the last probe failed.
 * - half-open: one call (the probe) goes through; the others keep failing fast. A successful
 *   probe closes the breaker, a failed one opens it again for another interval.
 *
 * Calls are probes, not timers: an idle process probes on its next call (or readiness check).
 */

export type BreakerStateName = "closed" | "open" | "half-open";

export interface BreakerStatus {
  state: BreakerStateName;
  /** When the breaker entered this state (ISO 8601). */
  since: string;
  /** Why it last opened: the backend's message, which names no secret (null once closed). */
  lastError: string | null;
}

export interface BreakerOptions {
  /** A call slower than this opens the breaker. Default 500 ms. */
  deadlineMs?: number;
  /** How often an open breaker lets one probe through. Default 1000 ms. */
  probeIntervalMs?: number;
}

// A healthy Redis answers in well under a millisecond; but on a machine whose CPUs are oversubscribed
// (load 16 on 2 cores, measured while developing this) redis-server itself can take a few hundred
// ms to be scheduled, and a 250 ms deadline opened the breaker on a healthy Redis.
export const DEFAULT_DEADLINE_MS = 500;
export const DEFAULT_PROBE_INTERVAL_MS = 1000;
/** How many deadlines a call may wait in all when this process, not the backend, was stalled. */
const LAG_ALLOWANCE = 4;
/** Round trips a provider's health() may make (Redis: PING, SET, GET, DEL). */
const HEALTH_CHECK_CALLS = 4;
/**
 * How often the watchdog looks for calls past their deadline: a call fails at most this much
 * after it, and well inside half a deadline, so a check that runs later than that means the
 * process was stalled.
 */
const SWEEP_EVERY_MS = 25;

/** A call in flight under the breaker (see withinDeadline). */
interface Waiting {
  readonly started: number;
  dueAt: number;
  readonly deadlineMs: number;
  /** The backend's answer count as the call began: more since means it is alive. */
  readonly answersBefore: number;
  readonly reject: (err: Error) => void;
}

export class SessionBreaker implements SessionProvider {
  readonly name: string;
  readonly shared: boolean;
  readonly usage?: UsageCounters;
  readonly search?: SearchIndex;
  readonly publish?: (channel: string, message: string) => Promise<void>;
  private state: BreakerStateName = "closed";
  private since = Date.now();
  private lastError: string | null = null;
  private nextProbeAt = 0;
  private probing = false;
  /** Answers the backend has given to any call, late ones included (a count, not a clock read each). */
  private answers = 0;
  /** Calls waiting for an answer, and the timer that fails those past their deadline. */
  private readonly inFlight = new Set<Waiting>();
  private watchdog: NodeJS.Timeout | undefined;
  private readonly deadlineMs: number;
  private readonly probeIntervalMs: number;

  constructor(
    private readonly inner: SessionProvider,
    options: BreakerOptions = {},
  ) {
    this.name = inner.name;
    this.shared = inner.shared;
    this.deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    if (inner.usage) this.usage = this.guardedUsage(inner.usage);
    if (inner.search) this.search = this.guardedSearch(inner.search);
    const publish = inner.publish?.bind(inner);
    if (publish) {
      this.publish = (channel, message) => this.call("publish a change", () => publish(channel, message));
    }
  }

  /** The provider's search index under the same breaker. */
  private guardedSearch(index: SearchIndex): SearchIndex {
    const call = <T>(what: string, fn: () => Promise<T>) => this.call(what, fn);
    return {
      put: (sandboxId, areas, doc) => call("update the search index", () => index.put(sandboxId, areas, doc)),
      add: (sandboxId, areas, doc) =>
        call("rebuild the search index", () => index.add(sandboxId, areas, doc)),
      remove: (sandboxId, areas, id) =>
        call("update the search index", () => index.remove(sandboxId, areas, id)),
      isBuilt: (sandboxId, area) => call("read the search index", () => index.isBuilt(sandboxId, area)),
      beginBuild: (sandboxId, area) =>
        call("rebuild the search index", () => index.beginBuild(sandboxId, area)),
      finishBuild: (sandboxId, area, token) =>
        call("rebuild the search index", () => index.finishBuild(sandboxId, area, token)),
      invalidate: (sandboxId, area) =>
        call("invalidate the search index", () => index.invalidate(sandboxId, area)),
      markIndexedFromEmpty: (sandboxId) =>
        call("update the search index", () => index.markIndexedFromEmpty(sandboxId)),
      indexedFromEmpty: (sandboxId) => call("read the search index", () => index.indexedFromEmpty(sandboxId)),
      clear: (sandboxId, area) => call("rebuild the search index", () => index.clear(sandboxId, area)),
      sizes: (sandboxId, area, terms) => call("search", () => index.sizes(sandboxId, area, terms)),
      wordsContaining: (sandboxId, area, part, max) =>
        call("search", () => index.wordsContaining(sandboxId, area, part, max)),
      page: (sandboxId, area, from, to, count, terms, also) =>
        call("search", () => index.page(sandboxId, area, from, to, count, terms, also)),
      ...(index.indexing &&
        index.startIndexing && {
          indexing: (sandboxId) => call("read the search index", () => index.indexing!(sandboxId)),
          startIndexing: (sandboxId) =>
            call("update the search index", () => index.startIndexing!(sandboxId)),
        }),
    };
  }

  /** The provider's usage counters under the same breaker as every other call. */
  private guardedUsage(usage: UsageCounters): UsageCounters {
    return {
      get: (sandboxId: string, scope: UsageScope): Promise<Usage | null> =>
        this.call("read a usage counter", () => usage.get(sandboxId, scope)),
      reserve: (
        sandboxId: string,
        scope: UsageScope,
        delta: Usage,
        limit: UsageLimit,
      ): Promise<ReserveResult> =>
        this.call("reserve quota", () => usage.reserve(sandboxId, scope, delta, limit)),
      add: (sandboxId: string, scope: UsageScope, delta: Usage): Promise<void> =>
        this.call("update a usage counter", () => usage.add(sandboxId, scope, delta)),
      init: (sandboxId: string, scope: UsageScope, counted: Usage): Promise<boolean> =>
        this.call("set a usage counter", () => usage.init(sandboxId, scope, counted)),
      drop: (sandboxId: string, scope: UsageScope): Promise<void> =>
        this.call("drop a usage counter", () => usage.drop(sandboxId, scope)),
    };
  }

  status(): BreakerStatus {
    return { state: this.state, since: new Date(this.since).toISOString(), lastError: this.lastError };
  }

  get(sandboxId: string, sessionId: string): Promise<SessionRecord | null> {
    return this.call("read a session", () => this.inner.get(sandboxId, sessionId));
  }

  create(record: SessionRecord): Promise<boolean> {
    return this.call("create a session", () => this.inner.create(record));
  }

  update(record: SessionRecord): Promise<void> {
    return this.call("update a session", () => this.inner.update(record));
  }

  delete(sandboxId: string, sessionId: string): Promise<boolean> {
    return this.call("delete a session", () => this.inner.delete(sandboxId, sessionId));
  }

  list(
    sandboxId: string,
    options: { limit: number; cursor?: string | null },
  ): Promise<{ sessions: SessionRecord[]; cursor: string | null }> {
    return this.call("list sessions", () => this.inner.list(sandboxId, options));
  }

  cacheGet(sandboxId: string, artifactId: string): Promise<ArtifactRecord | null> {
    return this.call("read the record cache", () => this.inner.cacheGet(sandboxId, artifactId));
  }

  cacheGetMany(sandboxId: string, artifactIds: string[]): Promise<(ArtifactRecord | null)[]> {
    return this.call("read the record cache", () => this.inner.cacheGetMany(sandboxId, artifactIds));
  }

  cacheSet(record: ArtifactRecord, ttlSeconds: number): Promise<void> {
    return this.call("write the record cache", () => this.inner.cacheSet(record, ttlSeconds));
  }

  cacheSetMany(records: ArtifactRecord[], ttlSeconds: number): Promise<void> {
    return this.call("write the record cache", () => this.inner.cacheSetMany(records, ttlSeconds));
  }

  cacheDelete(sandboxId: string, artifactId: string): Promise<void> {
    return this.call("delete from the record cache", () => this.inner.cacheDelete(sandboxId, artifactId));
  }

  indexGet(sandboxId: string, artifactId: string): Promise<string | null | undefined> {
    return this.call("read the id index", () => this.inner.indexGet(sandboxId, artifactId));
  }

  indexSet(sandboxId: string, entries: [string, string][]): Promise<void> {
    return this.call("write the id index", () => this.inner.indexSet(sandboxId, entries));
  }

  indexDelete(sandboxId: string, artifactId: string): Promise<void> {
    return this.call("write the id index", () => this.inner.indexDelete(sandboxId, artifactId));
  }

  indexBeginRebuild(sandboxId: string): Promise<string> {
    return this.call("rebuild the id index", () => this.inner.indexBeginRebuild(sandboxId));
  }

  indexFinishRebuild(sandboxId: string, token: string): Promise<boolean> {
    return this.call("rebuild the id index", () => this.inner.indexFinishRebuild(sandboxId, token));
  }

  indexInvalidate(sandboxId: string): Promise<void> {
    return this.call("write the id index", () => this.inner.indexInvalidate(sandboxId));
  }

  markDeleted(sandboxId: string, artifactId: string, ttlMs: number): Promise<void> {
    return this.call("mark a deletion", () => this.inner.markDeleted(sandboxId, artifactId, ttlMs));
  }

  markDeletePending(sandboxId: string, artifactId: string, token: string, ttlMs: number): Promise<boolean> {
    return this.call("mark a deletion", () =>
      this.inner.markDeletePending(sandboxId, artifactId, token, ttlMs),
    );
  }

  settleDeleteMark(
    sandboxId: string,
    artifactId: string,
    token: string,
    deleted: boolean,
    ttlMs: number,
  ): Promise<boolean> {
    return this.call("settle a deletion mark", () =>
      this.inner.settleDeleteMark(sandboxId, artifactId, token, deleted, ttlMs),
    );
  }

  deleteMark(sandboxId: string, artifactId: string): Promise<string | null> {
    return this.call("read a deletion mark", () => this.inner.deleteMark(sandboxId, artifactId));
  }

  /**
   * The backend's own check, under the same rules: an open breaker answers without the network.
   * The check is several round trips, so its deadline is a few call deadlines.
   */
  async health(): Promise<{ ok: boolean; detail: string }> {
    try {
      return await this.call(
        "answer a health check",
        async () => {
          const result = await this.inner.health();
          if (!result.ok) throw new Error(result.detail);
          return result;
        },
        HEALTH_CHECK_CALLS * this.deadlineMs,
      );
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  }

  describe(): Record<string, unknown> {
    return { ...this.inner.describe(), breaker: this.status() };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async call<T>(what: string, fn: () => Promise<T>, deadlineMs = this.deadlineMs): Promise<T> {
    let probe = false;
    if (this.state !== "closed") {
      if (this.probing || Date.now() < this.nextProbeAt) throw this.unavailable(what);
      probe = true;
      this.probing = true;
      this.enter("half-open");
    }
    try {
      const value = await this.withinDeadline(fn, deadlineMs);
      if (probe) {
        this.enter("closed");
        this.lastError = null;
      }
      return value;
    } catch (err) {
      this.trip(err);
      throw this.unavailable(what, err);
    } finally {
      if (probe) this.probing = false;
    }
  }

  /**
   * Runs `fn`, failing it once `deadlineMs` have passed without an answer. The wait is extended
   * by another deadline (up to LAG_ALLOWANCE deadlines in all) when the slowness is this
   * process's rather than the backend's: the check ran late (the process was stalled: busy CPU,
   * a long GC — the answer may be sitting unread), or the backend has answered other calls since
   * this one began (it is alive; this process is slow to get round to the answer).
   *
   * One watchdog timer checks every call in flight (see sweep): a timer armed and cleared per call,
   * raced against the answer, cost about 2 µs a call, against 0.9 µs this way.
   */
  private withinDeadline<T>(fn: () => Promise<T>, deadlineMs: number): Promise<T> {
    const started = performance.now();
    const pending = fn();
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = {
        started,
        dueAt: started + deadlineMs,
        deadlineMs,
        answersBefore: this.answers,
        reject,
      };
      this.inFlight.add(waiting);
      this.watchdog ??= setInterval(() => setImmediate(() => this.sweep()), SWEEP_EVERY_MS);
      // The backend may still answer (or fail) after the deadline: nobody is waiting for it then.
      pending.then(
        (value) => {
          this.answers++;
          this.inFlight.delete(waiting);
          resolve(value);
        },
        (err: unknown) => {
          this.inFlight.delete(waiting);
          reject(err);
        },
      );
    });
  }

  /**
   * Fails the calls past their deadline (see withinDeadline). Run from setImmediate, after the
   * event loop's I/O phase, so an answer that arrived in the same turn wins. Stops the watchdog
   * once nothing is in flight.
   */
  private sweep(): void {
    if (this.inFlight.size === 0) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
      return;
    }
    const now = performance.now();
    for (const call of this.inFlight) {
      if (now < call.dueAt) continue;
      const late = now - call.dueAt > call.deadlineMs / 2;
      const alive = this.answers > call.answersBefore;
      if ((late || alive) && now - call.started < LAG_ALLOWANCE * call.deadlineMs) {
        call.dueAt = now + call.deadlineMs;
        continue;
      }
      this.inFlight.delete(call);
      call.reject(new Error(`${this.name} gave no answer within ${call.deadlineMs} ms`));
    }
  }

  private trip(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    this.nextProbeAt = Date.now() + this.probeIntervalMs;
    if (this.state !== "open") this.enter("open");
  }

  private enter(state: BreakerStateName): void {
    this.state = state;
    this.since = Date.now();
  }

  private unavailable(what: string, cause?: unknown): SessionUnavailableError {
    const reason = this.lastError ? `: ${this.lastError}` : "";
    return new SessionUnavailableError(
      `the ${this.name} session store is unavailable (since ${new Date(this.since).toISOString()}); cannot ${what}${reason}`,
      { cause },
    );
  }
}

/**
 * Awaits `pending`, answering `fallback` instead when the session store is unavailable: for the
 * store's calls where storage already holds the truth (a cache read is a miss, a cache write is
 * skipped). Any other error still throws.
 */
export async function unlessSessionsUnavailable<T>(pending: Promise<T>, fallback: T): Promise<T> {
  try {
    return await pending;
  } catch (err) {
    if (err instanceof SessionUnavailableError) return fallback;
    throw err;
  }
}
