import { randomBytes } from "node:crypto";
import type { ConnectionOptions } from "node:tls";
import { Cluster, Redis, ReplyError } from "ioredis";
import { z } from "zod";
import { ProviderError } from "../errors.js";
import { buildKey } from "../grid.js";
import { type ArtifactRecord, parseRecord } from "../metadata.js";
import { decodeCursor, encodeCursor } from "../storage/paging.js";
import type { SessionProvider, SessionRecord } from "./provider.js";
import { parseRedisUrl, type RedisTarget } from "./redis-url.js";

/**
 * Sessions and the record cache in Redis (or Redis Cluster), shared by every process that uses
 * the same server. URL forms: see redis-url.ts.
 *
 * Key layout, all keys of one sandbox under one hash tag so multi-key commands (MGET, scripts,
 * MULTI) work on a cluster:
 *   chuk:{sandboxId}:session:{sessionId}   the session as JSON; lives until expiresAt + 7 days
 *   chuk:{sandboxId}:sessions              sorted set (all scores 0, ordered by id) for list()
 *   chuk:{sandboxId}:rec:{artifactId}      a cached ArtifactRecord as JSON, with its own TTL
 *   chuk:{sandboxId/artifactId}:key        the artifact's grid key (id index, for S3); no TTL
 *   chuk:{sandboxId}:ids                   "complete" once the id index has been rebuilt
 *   chuk:{sandboxId/artifactId}:gone       a deletion mark, for 10 minutes (see records.ts)
 * Ids come from the store, validated to a safe character set without `:`, `{` or `}`.
 */

export interface RedisSessionOptions {
  /** Bound on establishing a connection. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** Bound on each command, queued ones included. Default 3000 ms. */
  commandTimeoutMs?: number;
  /** Extra TLS settings for rediss:// (e.g. `ca` for a private certificate authority). */
  tls?: ConnectionOptions;
}

/** An expired session stays readable this long, so cleanup can still find it and its artifacts. */
export const SESSION_GRACE_MS = 7 * 86_400_000;
const ROOT = "chuk";
const LIST_BATCH_MAX = 1000;

// Writes a session and indexes it in one step; the index lives as long as its longest session.
// KEYS: session key, sandbox index. ARGV: json, ttl ms, session id, "nx" to create only.
const PUT_SESSION = `
local written
if ARGV[4] == 'nx' then
  written = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
else
  written = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if not written then return 0 end
redis.call('ZADD', KEYS[2], 0, ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1`;

// Drops index members whose session key has expired. Checked here, not by the caller, so a
// session created between the caller's read and this call keeps its index entry.
// KEYS: sandbox index, then session keys. ARGV: the session ids, aligned with KEYS[2..].
const PRUNE_INDEX = `
local removed = 0
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i - 1])
  end
end
return removed`;

// Marks the id index complete only if the rebuild that began is still the current one: a flush or
// an invalidation meanwhile removed its token, and the index may miss entries.
// KEYS: state key. ARGV: expected token, complete value.
const FINISH_INDEX = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;
const ID_INDEX_COMPLETE = "complete";
/** A rebuild that has not finished by then (its process died) stops blocking the next one. */
const ID_REBUILD_MS = 10 * 60_000;

interface Scripts {
  chukFinishIndex(key: string, token: string, complete: string): Promise<number>;
  chukPutSession(
    key: string,
    index: string,
    json: string,
    ttlMs: number,
    id: string,
    mode: string,
  ): Promise<number>;
  chukPruneIndex(numKeys: number, ...keysThenIds: string[]): Promise<number>;
}
type Client = (Redis | Cluster) & Scripts;

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
  private closed = false;
  private lastError: Error | null = null;

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
  }

  /** Connects and PINGs; fails within a few seconds with a ProviderError that says what to fix. */
  static async open(url: string, options: RedisSessionOptions = {}): Promise<RedisSessionProvider> {
    const target = parseRedisUrl(url);
    const connectTimeout = options.connectTimeoutMs ?? 2000;
    const commandTimeout = options.commandTimeoutMs ?? 3000;
    const client = createClient(target, connectTimeout, commandTimeout, options.tls);
    const provider = new RedisSessionProvider(client, target, commandTimeout);
    try {
      await withDeadline(connectTimeout + commandTimeout, async () => {
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
    const json = await this.run("read a session", () => this.client.get(sessionKey(sandboxId, sessionId)));
    return json === null ? null : parseSession(json, sandboxId, sessionId);
  }

  async create(record: SessionRecord): Promise<boolean> {
    return (await this.put(record, "nx")) === 1;
  }

  async update(record: SessionRecord): Promise<void> {
    await this.put(record, "overwrite");
  }

  async delete(sandboxId: string, sessionId: string): Promise<boolean> {
    const results = await this.run("delete a session", () =>
      this.client.multi().del(sessionKey(sandboxId, sessionId)).zrem(indexKey(sandboxId), sessionId).exec(),
    );
    return pipelineResults(results)[0] === 1;
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
      const keys = ids.map((id) => sessionKey(sandboxId, id));
      const values = await this.run("list sessions", () => this.client.mget(keys));
      const stale: number[] = [];
      values.forEach((json, i) => {
        if (json === null) stale.push(i);
        else {
          const session = parseSession(json, sandboxId, ids[i]!);
          if (session) found.push(session);
        }
      });
      if (stale.length > 0) {
        await this.run("list sessions", () =>
          this.client.chukPruneIndex(
            stale.length + 1,
            index,
            ...stale.map((i) => keys[i]!),
            ...stale.map((i) => ids[i]!),
          ),
        );
      }
      after = ids[ids.length - 1]!;
      if (ids.length < want) break;
    }
    const sessions = found.slice(0, limit);
    const more = found.length > limit;
    return { sessions, cursor: more ? encodeCursor(sessions[sessions.length - 1]!.sessionId) : null };
  }

  async cacheGet(sandboxId: string, artifactId: string): Promise<ArtifactRecord | null> {
    const json = await this.run("read the record cache", () =>
      this.client.get(recordKey(sandboxId, artifactId)),
    );
    return json === null ? null : parseCached(json, sandboxId, artifactId);
  }

  /** One MGET, one round trip, however many ids. */
  async cacheGetMany(sandboxId: string, artifactIds: string[]): Promise<(ArtifactRecord | null)[]> {
    if (artifactIds.length === 0) return [];
    const values = await this.run("read the record cache", () =>
      this.client.mget(artifactIds.map((id) => recordKey(sandboxId, id))),
    );
    return values.map((json, i) => (json === null ? null : parseCached(json, sandboxId, artifactIds[i]!)));
  }

  async cacheSet(record: ArtifactRecord, ttlSeconds: number): Promise<void> {
    await this.cacheSetMany([record], ttlSeconds);
  }

  /** One pipelined round trip per sandbox (on a cluster a sandbox's keys share one slot). */
  async cacheSetMany(records: ArtifactRecord[], ttlSeconds: number): Promise<void> {
    if (records.length === 0) return;
    const ttlMs = Math.round(ttlSeconds * 1000);
    const bySandbox = new Map<string, ArtifactRecord[]>();
    for (const record of records) {
      const group = bySandbox.get(record.sandboxId);
      if (group) group.push(record);
      else bySandbox.set(record.sandboxId, [record]);
    }
    await this.run("write the record cache", () =>
      Promise.all(
        [...bySandbox.values()].map(async (group) => {
          const pipeline = this.client.pipeline();
          for (const record of group) {
            const key = recordKey(record.sandboxId, record.artifactId);
            // A TTL that has already run out leaves no entry, as an expired one would read as absent.
            if (ttlMs >= 1) pipeline.set(key, JSON.stringify(record), "PX", ttlMs);
            else pipeline.del(key);
          }
          pipelineResults(await pipeline.exec());
        }),
      ),
    );
  }

  async cacheDelete(sandboxId: string, artifactId: string): Promise<void> {
    await this.run("delete from the record cache", () => this.client.del(recordKey(sandboxId, artifactId)));
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
    await this.run("write the id index", () =>
      Promise.all(entries.map(([id, key]) => this.client.set(idKey(sandboxId, id), key))),
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
      this.client.chukFinishIndex(idStateKey(sandboxId), `building:${token}`, ID_INDEX_COMPLETE),
    );
    return done === 1;
  }

  async indexInvalidate(sandboxId: string): Promise<void> {
    await this.run("write the id index", () => this.client.del(idStateKey(sandboxId)));
  }

  async markDeleted(sandboxId: string, artifactId: string, ttlMs: number): Promise<void> {
    await this.run("mark a deletion", () =>
      this.client.set(goneKey(sandboxId, artifactId), "1", "PX", ttlMs),
    );
  }

  async wasDeleted(sandboxId: string, artifactId: string): Promise<boolean> {
    return (
      (await this.run("read a deletion mark", () => this.client.exists(goneKey(sandboxId, artifactId)))) === 1
    );
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

  private async put(record: SessionRecord, mode: "nx" | "overwrite"): Promise<number> {
    const { sandboxId, sessionId } = record;
    return this.run(mode === "nx" ? "create a session" : "update a session", () =>
      this.client.chukPutSession(
        sessionKey(sandboxId, sessionId),
        indexKey(sandboxId),
        JSON.stringify(record),
        sessionTtlMs(record.expiresAt),
        sessionId,
        mode,
      ),
    );
  }

  /** Runs one Redis call under a deadline, turning any failure into a ProviderError without secrets. */
  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ProviderError(`the Redis session provider is closed; cannot ${what}`);
    try {
      // ioredis bounds each command; this outer bound also covers cluster queues and pipelines.
      return await withDeadline(this.timeoutMs + 1000, fn);
    } catch (err) {
      const cause = scrub(err, this.target.password);
      throw new ProviderError(`Redis at ${this.target.redacted} could not ${what}: ${cause.message}`, {
        cause,
      });
    }
  }
}

function createClient(
  target: RedisTarget,
  connectTimeout: number,
  commandTimeout: number,
  tls: ConnectionOptions | undefined,
): Client {
  const scripts = {
    chukPutSession: { lua: PUT_SESSION, numberOfKeys: 2 },
    chukPruneIndex: { lua: PRUNE_INDEX },
    chukFinishIndex: { lua: FINISH_INDEX, numberOfKeys: 1 },
  };
  // Reconnect forever with capped backoff (so the provider recovers when Redis returns), but let
  // a request wait for at most one reconnect and `commandTimeout`: callers fail fast, not hang.
  const backoff = (times: number) => Math.min(100 * 2 ** Math.min(times - 1, 5), 2000);
  const connection = {
    username: target.username,
    password: target.password,
    connectTimeout,
    commandTimeout,
    maxRetriesPerRequest: 1,
    ...(target.tls && { tls: { ...tls } }),
  };
  if (target.cluster) {
    return new Cluster(target.nodes, {
      lazyConnect: true,
      scripts,
      clusterRetryStrategy: backoff,
      slotsRefreshTimeout: connectTimeout,
      redisOptions: connection,
    }) as Client;
  }
  const [node] = target.nodes;
  return new Redis({
    ...node,
    ...connection,
    db: target.db,
    lazyConnect: true,
    scripts,
    retryStrategy: backoff,
  }) as Client;
}

function sessionKey(sandboxId: string, sessionId: string): string {
  return `${ROOT}:{${sandboxId}}:session:${sessionId}`;
}

function indexKey(sandboxId: string): string {
  return `${ROOT}:{${sandboxId}}:sessions`;
}

function recordKey(sandboxId: string, artifactId: string): string {
  return `${ROOT}:{${sandboxId}}:rec:${artifactId}`;
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
  let parsed: ReturnType<typeof sessionSchema.safeParse>;
  try {
    parsed = sessionSchema.safeParse(JSON.parse(json));
  } catch {
    return null;
  }
  if (!parsed.success) return null;
  const session = parsed.data as SessionRecord;
  return session.sandboxId === sandboxId && session.sessionId === sessionId ? session : null;
}

/**
 * A cached record, or null (a miss) when it is malformed or not the artifact asked for. Its `key`
 * must be the artifact's own grid key: the store reads bytes from it.
 */
function parseCached(json: string, sandboxId: string, artifactId: string): ArtifactRecord | null {
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
