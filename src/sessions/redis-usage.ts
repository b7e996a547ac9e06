import type { Cluster, Redis } from "ioredis";
import { LuaScript } from "./redis-script.js";
import type { ReserveResult, Usage, UsageCounters, UsageLimit, UsageScope } from "./usage.js";

/**
 * Usage counters in Redis: one hash per user or session, `chuk:{sandboxId/kind:id}:usage` with
 * fields `bytes` and `artifacts`, no TTL. The hash existing is the marker that the scope was
 * counted: after a flush it is absent (unknown) and the store recounts from storage, never zero.
 * Each call is one Lua script, so a check against the limit and the increment are atomic across
 * every process; a user's and a session's counters are separate keys (separate cluster slots).
 */

// KEYS: counter. ARGV: delta bytes, delta artifacts, limit bytes (-1: none), limit artifacts (-1: none).
// Returns -1 when unknown, else {taken 0|1, bytes, artifacts}.
const RESERVE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local b = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')
local a = tonumber(redis.call('HGET', KEYS[1], 'artifacts') or '0')
local db, da = tonumber(ARGV[1]), tonumber(ARGV[2])
local lb, la = tonumber(ARGV[3]), tonumber(ARGV[4])
if (db > 0 and lb >= 0 and b + db > lb) or (da > 0 and la >= 0 and a + da > la) then return {0, b, a} end
b = redis.call('HINCRBY', KEYS[1], 'bytes', db)
a = redis.call('HINCRBY', KEYS[1], 'artifacts', da)
return {1, b, a}`;

// KEYS: counter. ARGV: delta bytes, delta artifacts. An unknown counter stays unknown.
const ADD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'bytes', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'artifacts', ARGV[2])
return 1`;

// KEYS: counter. ARGV: bytes, artifacts. Only an unknown counter is set.
const INIT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'bytes', ARGV[1], 'artifacts', ARGV[2])
return 1`;

const scripts = {
  reserve: new LuaScript(RESERVE, 1),
  add: new LuaScript(ADD, 1),
  init: new LuaScript(INIT, 1),
};

type Run = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

export class RedisUsageCounters implements UsageCounters {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly run: Run,
  ) {}

  async get(sandboxId: string, scope: UsageScope): Promise<Usage | null> {
    const found = await this.run("read a usage counter", () =>
      this.client.hmget(usageKey(sandboxId, scope), "bytes", "artifacts"),
    );
    if (found[0] === null && found[1] === null) return null;
    return { bytes: Number(found[0] ?? 0), artifacts: Number(found[1] ?? 0) };
  }

  async reserve(
    sandboxId: string,
    scope: UsageScope,
    delta: Usage,
    limit: UsageLimit,
  ): Promise<ReserveResult> {
    const answer = await this.run("reserve quota", () =>
      scripts.reserve.run<number | number[]>(
        this.client,
        usageKey(sandboxId, scope),
        delta.bytes,
        delta.artifacts,
        limit.bytes ?? -1,
        limit.artifacts ?? -1,
      ),
    );
    if (!Array.isArray(answer)) return null;
    return { ok: answer[0] === 1, usage: { bytes: Number(answer[1]), artifacts: Number(answer[2]) } };
  }

  async add(sandboxId: string, scope: UsageScope, delta: Usage): Promise<void> {
    await this.run("update a usage counter", () =>
      scripts.add.run(this.client, usageKey(sandboxId, scope), delta.bytes, delta.artifacts),
    );
  }

  async init(sandboxId: string, scope: UsageScope, usage: Usage): Promise<boolean> {
    const set = await this.run("set a usage counter", () =>
      scripts.init.run<number>(this.client, usageKey(sandboxId, scope), usage.bytes, usage.artifacts),
    );
    return set === 1;
  }

  async drop(sandboxId: string, scope: UsageScope): Promise<void> {
    await this.run("drop a usage counter", () => this.client.del(usageKey(sandboxId, scope)));
  }
}

export function usageKey(sandboxId: string, scope: UsageScope): string {
  return `chuk:{${sandboxId}/${scope.kind}:${scope.id}}:usage`;
}
