import { randomBytes } from "node:crypto";
import type { ConnectionOptions } from "node:tls";
import { Cluster, Redis, ReplyError } from "ioredis";
import { z } from "zod";
import { ProviderError } from "../errors.js";
import { buildKey } from "../grid.js";
import { type ArtifactRecord, copyRecord, hasEntries, parseRecord } from "../metadata.js";
import { ParsedMemo } from "../parsed-memo.js";
import { decodeCursor, encodeCursor } from "../storage/paging.js";
import { DELETED, type SessionProvider, type SessionRecord } from "./provider.js";
import { PipeliningSwitch } from "./redis-pipelining.js";
import { ReadBatch } from "./redis-read-batch.js";
import { LuaScript } from "./redis-script.js";
import { RedisSearchIndex } from "./redis-search.js";
import { parseRedisUrl, type RedisTarget } from "./redis-url.js";
import { RedisUsageCounters } from "./redis-usage.js";
import type { SearchIndex } from "./search-index.js";
import type { UsageCounters } from "./usage.js";

/**
 * Sessions and the record cache in Redis (or Redis Cluster), shared by every process that uses
 * the same server. URL forms: see redis-url.ts.
 *
 * Key layout. Each session and each cached record has a hash tag of its own, so on Redis Cluster a
 * sandbox's keys spread over every shard; no command touches two keys of different tags:
 *   chuk:{sandboxId/sessionId}:session    the session as JSON; lives until expiresAt + 7 days
 *   chuk:{sandboxId/artifactId}:rec       a cached ArtifactRecord as JSON, with its own TTL
 *   chuk:{sandboxId}:sessions             sorted set (all scores 0, ordered by id) for list(): the
 *                                         one key per sandbox (one sorted set cannot be split)
 *   chuk:{sandboxId/artifactId}:key       the artifact's grid key (id index, for S3); no TTL
 *   chuk:{sandboxId}:ids                  "complete" once the id index has been rebuilt
 *   chuk:{sandboxId/artifactId}:gone      a deletion mark, for 10 minutes (see records.ts)
 * Ids come from the store, validated to a safe character set without `/`, `:`, `{` or `}`.
 *
 * Sessions and their index are written in two steps (session, then index entry; a delete removes
 * the index entry first), and list() re-checks a session before dropping its entry, so whatever
 * the interleaving a live session stays listed; a crash between the steps leaves at worst an index
 * entry without a session, which list() drops.
 *
 * Before this layout every key of a sandbox shared the tag {sandboxId}
 * (chuk:{sandboxId}:session:{sessionId}, chuk:{sandboxId}:rec:{artifactId}). Sessions written that
 * way stay readable (get, list, delete, and create refuses their ids) until they expire; cached
 * records in the old layout are simply never read again and expire within the hour.
 */

export interface RedisSessionOptions {
  /** Bound on establishing a connection. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Bound on each command. Default 1000 ms. */
  commandTimeoutMs?: number;
  /** Extra TLS settings for rediss:// (e.g. `ca` for a private certificate authority). */
  tls?: ConnectionOptions;
}

/** An expired session stays readable this long, so cleanup can still find it and its artifacts. */
export const SESSION_GRACE_MS = 7 * 86_400_000;
const ROOT = "chuk";
const LIST_BATCH_MAX = 1000;

// Adds a session to its sandbox's index; the index lives as long as its longest session.
// KEYS: sandbox index. ARGV: session id, ttl ms.
const INDEX_SESSION = `
redis.call('ZADD', KEYS[1], 0, ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`;

// Marks the id index complete only if the rebuild that began is still the current one: a flush or
// an invalidation meanwhile removed its token, and the index may miss entries.
// KEYS: state key. ARGV: expected token, complete value.
const FINISH_INDEX = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;
const ID_INDEX_COMPLETE = "complete";
// Settles a conditional delete's pending mark, only if it is still that one.
// KEYS: mark key. ARGV: expected pending value, new value ("" deletes), ttl ms.
const SETTLE_MARK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;
// PUBLISH through the node that owns the channel's slot. KEYS: the channel (for routing only).
// ARGV: message.
const PUBLISH_IN_SLOT = "return redis.call('PUBLISH', KEYS[1], ARGV[1])";
/** A deletion mark's value; a pending conditional delete's is `p:{token}`. */
const GONE = "1";
/** A rebuild that has not finished by then (its process died) stops blocking the next one. */
const ID_REBUILD_MS = 10 * 60_000;

const scripts = {
  indexSession: new LuaScript(INDEX_SESSION, 1),
  finishIndex: new LuaScript(FINISH_INDEX, 1),
  settleMark: new LuaScript(SETTLE_MARK, 1),
  publishInSlot: new LuaScript(PUBLISH_IN_SLOT, 1),
};
type Client = Redis | Cluster;

const sessionSchema = z.looseObject({
  sessionId: z.string(),
  sandboxId: z.string(),
  userId: z.string().nullable(),
  createdAt: z.string(),
  lastAccessedAt: z.string(),
  expiresAt: z.string(),
  meta: z.record(z.string(), z.unknown()),
});

export class RedisSessionProvider implements SessionProvider {
  readonly name = "redis";
  readonly shared = true;
  readonly usage: UsageCounters;
  readonly search: SearchIndex;
  private closed = false;
  private lastError: Error | null = null;
  private readonly pipelining: PipeliningSwitch;
  /** Cache reads of one tick as one MGET; null on a cluster (see ReadBatch). */
  private readonly reads: ReadBatch | null;

  private constructor(
    private readonly client: Client,
    private readonly target: RedisTarget,
    private readonly timeoutMs: number,
  ) {
    // Without a listener ioredis prints every connection error; keep the latest (scrubbed) for health().
    const remember = (err: unknown) => {
      this.lastError = scrub(err, target.password);
    };
    client.on("error", remember);
    client.on("node error", remember);
    client.on("ready", () => {
      this.lastError = null;
    });
    this.pipelining = new PipeliningSwitch(client);
    this.reads =
      client instanceof Cluster ? null : new ReadBatch(client, (write) => this.pipelining.directly(write));
    this.usage = new RedisUsageCounters(client, (what, fn) => this.run(what, fn));
    this.search = new RedisSearchIndex(client, (what, fn) => this.run(what, fn));
  }

  /** Connects and PINGs; fails within a few seconds with a ProviderError that says what to fix. */
  static async open(url: string, options: RedisSessionOptions = {}): Promise<RedisSessionProvider> {
    const target = parseRedisUrl(url);
    const connectTimeout = options.connectTimeoutMs ?? 2000;
    const commandTimeout = options.commandTimeoutMs ?? 1000;
    const client = createClient(target, connectTimeout, commandTimeout, options.tls);
    const provider = new RedisSessionProvider(client, target, commandTimeout);
    try {
      // Opening happens once, at start-up, when a busy process is slowest: some slack here.
      await withDeadline(2 * connectTimeout + commandTimeout, async () => {
        await client.connect();
        // ioredis only reports a failed SELECT as an event and carries on in database 0.
        if (target.db !== 0 && client instanceof Redis) await client.select(target.db);
        await client.ping();
      });
    } catch (err) {
      client.disconnect();
      // A reply from the server says most; else the connection error beats "Connection is closed".
      const answered = err instanceof ReplyError;
      throw openError(
        target,
        answered ? scrub(err, target.password) : (provider.lastError ?? scrub(err, target.password)),
      );
    }
    return provider;
  }

  async get(sandboxId: string, sessionId: string): Promise<SessionRecord | null> {
    const json = await this.run("read a session", async () => {
      const found = await this.client.get(sessionKey(sandboxId, sessionId));
      return found ?? this.client.get(legacySessionKey(sandboxId, sessionId));
    });
    return json === null ? null : parseSession(json, sandboxId, sessionId);
  }

  async create(record: SessionRecord): Promise<boolean> {
    const { sandboxId, sessionId } = record;
    // Only sessions written before the current layout live there, and nothing creates more of them.
    const legacy = await this.run("create a session", () =>
      this.client.exists(legacySessionKey(sandboxId, sessionId)),
    );
    return legacy === 0 && (await this.put(record, "nx"));
  }

  async update(record: SessionRecord): Promise<void> {
    await this.put(record, "overwrite");
  }

  async delete(sandboxId: string, sessionId: string): Promise<boolean> {
    return this.run("delete a session", async () => {
      // Index entry first: a session created meanwhile re-adds its own entry after writing itself.
      // The legacy key shares the index's hash tag, so both go in one transaction.
      const [, legacy] = pipelineResults(
        await this.client
          .multi()
          .zrem(indexKey(sandboxId), sessionId)
          .del(legacySessionKey(sandboxId, sessionId))
          .exec(),
      );
      const current = await this.client.del(sessionKey(sandboxId, sessionId));
      return current === 1 || legacy === 1;
    });
  }

  async list(
    sandboxId: string,
    options: { limit: number; cursor?: string | null },
  ): Promise<{ sessions: SessionRecord[]; cursor: string | null }> {
    const limit = Math.floor(options.limit);
    if (!(limit >= 1)) return { sessions: [], cursor: null };
    const index = indexKey(sandboxId);
    let after = options.cursor ? decodeCursor(options.cursor) : null;
    // One more than asked for tells whether another page exists; stale index entries are skipped
    // (and removed), so a page is never short while live sessions remain.
    const found: SessionRecord[] = [];
    while (found.length <= limit) {
      const want = Math.min(limit + 1 - found.length, LIST_BATCH_MAX);
      const ids = await this.run("list sessions", () =>
        this.client.zrangebylex(index, after === null ? "-" : `(${after}`, "+", "LIMIT", 0, want),
      );
      if (ids.length === 0) break;
      const values = await this.run("list sessions", () =>
        this.getMany(ids.map((id) => sessionKey(sandboxId, id))),
      );
      const missing = ids.filter((_, i) => values[i] === null);
      if (missing.length > 0) {
        // Sessions of the previous layout share the index's tag: one MGET.
        const legacy = await this.run("list sessions", () =>
          this.client.mget(missing.map((id) => legacySessionKey(sandboxId, id))),
        );
        for (const [i, id] of missing.entries()) values[ids.indexOf(id)] = legacy[i] ?? null;
      }
      const stale: string[] = [];
      values.forEach((json, i) => {
        if (json === null) stale.push(ids[i]!);
        else {
          const session = parseSession(json, sandboxId, ids[i]!);
          if (session) found.push(session);
        }
      });
      if (stale.length > 0) await this.run("list sessions", () => this.pruneIndex(sandboxId, stale));
      after = ids[ids.length - 1]!;
      if (ids.length < want) break;
    }
    const sessions = found.slice(0, limit);
    const more = found.length > limit;
    return { sessions, cursor: more ? encodeCursor(sessions[sessions.length - 1]!.sessionId) : null };
  }

  async cacheGet(sandboxId: string, artifactId: string): Promise<ArtifactRecord | null> {
    const key = recordKey(sandboxId, artifactId);
    const json = await this.run("read the record cache", () =>
      this.reads ? this.reads.get(key) : this.client.get(key),
    );
    return json === null ? null : parseCached(json, sandboxId, artifactId);
  }

  /** One round trip (per cluster node), however many ids. */
  async cacheGetMany(sandboxId: string, artifactIds: string[]): Promise<(ArtifactRecord | null)[]> {
    if (artifactIds.length === 0) return [];
    const values = await this.run("read the record cache", () =>
      this.getMany(artifactIds.map((id) => recordKey(sandboxId, id))),
    );
    return values.map((json, i) => (json === null ? null : parseCached(json, sandboxId, artifactIds[i]!)));
  }

  async cacheSet(record: ArtifactRecord, ttlSeconds: number): Promise<void> {
    await this.cacheSetMany([record], ttlSeconds);
  }

  /** One round trip (on a cluster, one per node): commands issued together are auto-pipelined. */
  async cacheSetMany(records: ArtifactRecord[], ttlSeconds: number): Promise<void> {
    if (records.length === 0) return;
    const ttlMs = Math.round(ttlSeconds * 1000);
    await this.run(
      "write the record cache",
      () =>
        Promise.all(
          records.map((record) => {
            const key = recordKey(record.sandboxId, record.artifactId);
            // A TTL that has already run out leaves no entry, as an expired one would read as absent.
            return ttlMs >= 1
              ? this.client.set(key, JSON.stringify(record), "PX", ttlMs)
              : this.client.del(key);
          }),
        ),
      records.length,
    );
  }

  async cacheDelete(sandboxId: string, artifactId: string): Promise<void> {
    await this.run("delete from the record cache", () => this.client.del(recordKey(sandboxId, artifactId)));
  }

  /**
   * A cluster client sends a PUBLISH (which names no key) to any node, and messages published on
   * different nodes can reach a subscriber out of order over the cluster bus. Sent as a script
   * keyed by the channel, every message of a channel goes through one node, in order.
   */
  async publish(channel: string, message: string): Promise<void> {
    await this.run("publish a change", () =>
      this.target.cluster
        ? scripts.publishInSlot.run(this.client, channel, message)
        : this.client.publish(channel, message),
    );
  }

  async indexGet(sandboxId: string, artifactId: string): Promise<string | null | undefined> {
    const [key, state] = await this.run("read the id index", () =>
      Promise.all([this.client.get(idKey(sandboxId, artifactId)), this.client.get(idStateKey(sandboxId))]),
    );
    if (key !== null) return key;
    return state === ID_INDEX_COMPLETE ? null : undefined;
  }

  /** Entries of different ids hash to different slots on a cluster: sent together, not as one pipeline. */
  async indexSet(sandboxId: string, entries: [string, string][]): Promise<void> {
    await this.run(
      "write the id index",
      () => Promise.all(entries.map(([id, key]) => this.client.set(idKey(sandboxId, id), key))),
      entries.length,
    );
  }

  async indexDelete(sandboxId: string, artifactId: string): Promise<void> {
    await this.run("write the id index", () => this.client.del(idKey(sandboxId, artifactId)));
  }

  async indexBeginRebuild(sandboxId: string): Promise<string> {
    const token = randomBytes(12).toString("hex");
    await this.run("rebuild the id index", () =>
      this.client.set(idStateKey(sandboxId), `building:${token}`, "PX", ID_REBUILD_MS),
    );
    return token;
  }

  async indexFinishRebuild(sandboxId: string, token: string): Promise<boolean> {
    const done = await this.run("rebuild the id index", () =>
      scripts.finishIndex.run<number>(
        this.client,
        idStateKey(sandboxId),
        `building:${token}`,
        ID_INDEX_COMPLETE,
      ),
    );
    return done === 1;
  }

  async indexInvalidate(sandboxId: string): Promise<void> {
    await this.run("write the id index", () => this.client.del(idStateKey(sandboxId)));
  }

  async markDeleted(sandboxId: string, artifactId: string, ttlMs: number): Promise<void> {
    await this.run("mark a deletion", () =>
      this.client.set(goneKey(sandboxId, artifactId), GONE, "PX", ttlMs),
    );
  }

  async markDeletePending(
    sandboxId: string,
    artifactId: string,
    token: string,
    ttlMs: number,
  ): Promise<boolean> {
    const set = await this.run("mark a deletion", () =>
      this.client.set(goneKey(sandboxId, artifactId), `p:${token}`, "PX", ttlMs, "NX"),
    );
    return set === "OK";
  }

  async settleDeleteMark(
    sandboxId: string,
    artifactId: string,
    token: string,
    deleted: boolean,
    ttlMs: number,
  ): Promise<boolean> {
    const done = await this.run("settle a deletion mark", () =>
      scripts.settleMark.run<number>(
        this.client,
        goneKey(sandboxId, artifactId),
        `p:${token}`,
        deleted ? GONE : "",
        ttlMs,
      ),
    );
    return done === 1;
  }

  async deleteMark(sandboxId: string, artifactId: string): Promise<string | null> {
    const value = await this.run("read a deletion mark", () =>
      this.client.get(goneKey(sandboxId, artifactId)),
    );
    if (value === null) return null;
    return value.startsWith("p:") ? value.slice(2) : DELETED;
  }

  /** PING plus a write/read/delete of a probe key; never throws. */
  async health(): Promise<{ ok: boolean; detail: string }> {
    const started = performance.now();
    const probe = `${ROOT}:probe:${randomBytes(8).toString("hex")}`;
    const value = randomBytes(8).toString("hex");
    try {
      const pong = await this.run("answer PING", () => this.client.ping());
      await this.run("write a probe key", () => this.client.set(probe, value, "PX", 10_000));
      const back = await this.run("read a probe key", () => this.client.get(probe));
      await this.run("delete a probe key", () => this.client.del(probe));
      const ms = (performance.now() - started).toFixed(1);
      if (pong !== "PONG" || back !== value) {
        return { ok: false, detail: `Redis at ${this.target.redacted} answered the probe wrongly` };
      }
      return {
        ok: true,
        detail: `Redis at ${this.target.redacted}: PING and probe key round trip in ${ms} ms`,
      };
    } catch (err) {
      const last = this.lastError ? ` (last connection error: ${this.lastError.message})` : "";
      return { ok: false, detail: `${err instanceof Error ? err.message : String(err)}${last}` };
    }
  }

  describe(): Record<string, unknown> {
    return { url: this.target.redacted, cluster: this.target.cluster, status: this.client.status };
  }

  /** Sends QUIT (waits for pending replies); drops the socket if Redis does not answer in time. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await withDeadline(this.timeoutMs, () => this.client.quit());
    } catch {
      // Already gone or unreachable: nothing left to flush.
    } finally {
      this.client.disconnect();
    }
  }

  /** Writes the session, then its index entry (also when it existed: that heals a lost entry). */
  private async put(record: SessionRecord, mode: "nx" | "overwrite"): Promise<boolean> {
    const { sandboxId, sessionId } = record;
    const key = sessionKey(sandboxId, sessionId);
    const ttlMs = sessionTtlMs(record.expiresAt);
    return this.run(mode === "nx" ? "create a session" : "update a session", async () => {
      const json = JSON.stringify(record);
      const written =
        mode === "nx"
          ? await this.client.set(key, json, "PX", ttlMs, "NX")
          : await this.client.set(key, json, "PX", ttlMs);
      await scripts.indexSession.run(this.client, indexKey(sandboxId), sessionId, ttlMs);
      return written !== null;
    });
  }

  /**
   * Drops index entries whose session is gone, then puts back any whose session exists after all
   * (created meanwhile: its creator may have indexed it before our removal).
   */
  private async pruneIndex(sandboxId: string, ids: string[]): Promise<void> {
    const index = indexKey(sandboxId);
    await this.client.zrem(index, ...ids);
    // Two EXISTS: the two keys of one session have different hash tags.
    const back = await Promise.all(
      ids.map(async (id) => {
        const [current, legacy] = await Promise.all([
          this.client.exists(sessionKey(sandboxId, id)),
          this.client.exists(legacySessionKey(sandboxId, id)),
        ]);
        return current + legacy > 0 ? id : null;
      }),
    );
    for (const id of back) {
      if (id !== null) await this.client.zadd(index, 0, id);
    }
  }

  /** Values of keys that may sit in different slots: one MGET on a single node, else one GET each. */
  private getMany(keys: string[]): Promise<(string | null)[]> {
    if (this.client instanceof Cluster) return Promise.all(keys.map((key) => this.client.get(key)));
    return this.client.mget(keys);
  }

  /**
   * Runs one Redis call under a deadline, turning any failure into a ProviderError without secrets.
   * `commands`: how many it issues at once (a batch of several is always auto-pipelined).
   */
  private async run<T>(what: string, fn: () => Promise<T>, commands = 1): Promise<T> {
    if (this.closed) throw new ProviderError(`the Redis session provider is closed; cannot ${what}`);
    try {
      // ioredis bounds each command, and redisSessions() always wraps this provider in a
      // SessionBreaker whose deadline bounds every call (cluster queues included): no timer here.
      this.pipelining.starting(commands);
      return await fn();
    } catch (err) {
      const cause = scrub(err, this.target.password);
      throw new ProviderError(`Redis at ${this.target.redacted} could not ${what}: ${cause.message}`, {
        cause,
      });
    } finally {
      this.pipelining.ended();
    }
  }
}

export function createClient(
  target: RedisTarget,
  connectTimeout: number,
  commandTimeout: number,
  tls: ConnectionOptions | undefined,
): Client {
  // Reconnect forever, quickly (so the provider is usable soon after Redis returns), but never
  // let a command wait for a connection: with no offline queue and no retries a dead Redis fails
  // a call at once, and the SessionBreaker above this provider stops calling it for a while.
  // Commands that were in flight when a connection dropped are not re-sent on reconnect: a late
  // cache write could otherwise land after a later eviction.
  const backoff = (times: number) => Math.min(50 * 2 ** Math.min(times - 1, 4), 500);
  const connection = {
    username: target.username,
    password: target.password,
    connectTimeout,
    commandTimeout,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    ...(target.tls && { tls: { ...tls } }),
  };
  if (target.cluster) {
    return new Cluster(target.nodes, {
      lazyConnect: true,
      // Per-node queues stay (ioredis needs them while it follows slot moves); the cluster's own
      // queue would hold calls while no node is reachable.
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      clusterRetryStrategy: backoff,
      slotsRefreshTimeout: connectTimeout,
      redisOptions: connection,
    });
  }
  const [node] = target.nodes;
  return new Redis({
    ...node,
    ...connection,
    db: target.db,
    lazyConnect: true,
    // Commands issued in the same tick (a write's index entry and session check, a batch's cache
    // entries) share one socket write; while its connection is idle the session provider turns
    // this off and corks the socket for the tick instead (PipeliningSwitch).
    enableAutoPipelining: true,
    retryStrategy: backoff,
  });
}

export function sessionKey(sandboxId: string, sessionId: string): string {
  return `${ROOT}:{${sandboxId}/${sessionId}}:session`;
}

export function indexKey(sandboxId: string): string {
  return `${ROOT}:{${sandboxId}}:sessions`;
}

export function recordKey(sandboxId: string, artifactId: string): string {
  return `${ROOT}:{${sandboxId}/${artifactId}}:rec`;
}

/** Where sessions lived before each had a hash tag of its own (read, never written). */
function legacySessionKey(sandboxId: string, sessionId: string): string {
  return `${ROOT}:{${sandboxId}}:session:${sessionId}`;
}

/** An artifact's id → key entry; tagged per artifact so a sandbox's entries spread over a cluster. */
function idKey(sandboxId: string, artifactId: string): string {
  return `${ROOT}:{${sandboxId}/${artifactId}}:key`;
}

/** Set while an artifact's delete may still race an update (storage without atomic conditional writes). */
function goneKey(sandboxId: string, artifactId: string): string {
  return `${ROOT}:{${sandboxId}/${artifactId}}:gone`;
}

/** Whether a sandbox's id index is complete (or which rebuild is filling it). */
function idStateKey(sandboxId: string): string {
  return `${ROOT}:{${sandboxId}}:ids`;
}

/** Until expiresAt plus the grace period, counted from now for a session that has already expired. */
function sessionTtlMs(expiresAt: string): number {
  const left = Date.parse(expiresAt) - Date.now();
  return (Number.isFinite(left) ? Math.max(left, 0) : 0) + SESSION_GRACE_MS;
}

/** A stored session, or null when it is malformed or filed under the wrong key. */
function parseSession(json: string, sandboxId: string, sessionId: string): SessionRecord | null {
  // Read on every write into the session, and rarely changed: parse and check each text once.
  const memoKey = `${sandboxId}/${sessionId}`;
  const hit = sessionsLately.get(memoKey, json);
  if (hit) return copySession(hit);
  let parsed: ReturnType<typeof sessionSchema.safeParse>;
  try {
    parsed = sessionSchema.safeParse(JSON.parse(json));
  } catch {
    return null;
  }
  if (!parsed.success) return null;
  const session = parsed.data as SessionRecord;
  if (session.sandboxId !== sandboxId || session.sessionId !== sessionId) return null;
  sessionsLately.set(memoKey, json, session);
  return copySession(session);
}

const sessionsLately = new ParsedMemo<SessionRecord>(4096);

/** Callers may change what they are given; the remembered session stays as parsed. */
function copySession(session: SessionRecord): SessionRecord {
  return { ...session, meta: hasEntries(session.meta) ? structuredClone(session.meta) : {} };
}

/**
 * A cached record, or null (a miss) when it is malformed or not the artifact asked for. Its `key`
 * must be the artifact's own grid key: the store reads bytes from it.
 */
function parseCached(json: string, sandboxId: string, artifactId: string): ArtifactRecord | null {
  // The same entry is read far more often than written: parse and check each text once. Kept by
  // artifact id alone (hashing a new `sandbox/id` string per read cost more than the rest of a
  // hit); a hit counts only for the sandbox its record, checked when parsed, belongs to.
  const hit = parsedLately.get(artifactId, json);
  if (hit && hit.sandboxId === sandboxId) return copyRecord(hit);
  const record = checkCached(json, sandboxId, artifactId);
  if (!record) return null;
  parsedLately.set(artifactId, json, record);
  return copyRecord(record);
}

const parsedLately = new ParsedMemo<ArtifactRecord>(4096);

function checkCached(json: string, sandboxId: string, artifactId: string): ArtifactRecord | null {
  const record = parseRecord(json);
  if (!record || record.sandboxId !== sandboxId || record.artifactId !== artifactId) return null;
  try {
    return record.key === buildKey(sandboxId, record.sessionId, artifactId) ? record : null;
  } catch {
    return null; // a session id no valid key can hold
  }
}

/** Replies of a MULTI or pipeline; the first failed command's error is thrown. */
function pipelineResults(results: [Error | null, unknown][] | null): unknown[] {
  if (results === null) throw new Error("the transaction was aborted");
  for (const [err] of results) if (err) throw err;
  return results.map(([, value]) => value);
}

async function withDeadline<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([fn(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A copy of an ioredis error with only its name, message and code. The original can carry the
 * arguments of the failed command (for a failed AUTH: the password), so it never leaves here.
 */
function scrub(err: unknown, password: string | undefined): Error {
  const source = err instanceof Error ? err : new Error(String(err));
  const message = password ? source.message.split(password).join("***") : source.message;
  const clean = new Error(message);
  clean.name = source.name;
  const code = (source as { code?: unknown }).code;
  if (typeof code === "string") Object.assign(clean, { code });
  // Keep the class test possible (the server answered vs. could not be reached) without the original.
  if (err instanceof ReplyError) Object.assign(clean, { serverReply: true });
  return clean;
}

function openError(target: RedisTarget, cause: Error): ProviderError {
  const refused = (cause as { serverReply?: boolean }).serverReply === true;
  const message = refused
    ? `Redis at ${target.redacted} refused the connection (${cause.message}) — check the user, password and database in SESSION_REDIS_URL`
    : `cannot reach Redis at ${target.redacted} (${cause.message}) — check SESSION_REDIS_URL and that Redis is running`;
  return new ProviderError(message, { cause });
}
