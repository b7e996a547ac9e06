import { randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { type IndexEntry, idOfPosition, positionOf, type SearchIndex } from "./search-index.js";
import type { UsageScope } from "./usage.js";

/**
 * The search index in Redis. Per area (a user or a session), three keys under one hash tag, so
 * each script below touches one cluster slot:
 *   chuk:{sandboxId/kind:id}:find        sorted set, all scores 0, members are positions (lex order)
 *   chuk:{sandboxId/kind:id}:find-docs   hash: artifact id → "position\n" + metadata JSON
 *   chuk:{sandboxId/kind:id}:find-state  "built", or "building:<token>" while a rebuild runs
 * No TTLs: entries leave with their artifacts. A flush loses the state key, so the area rebuilds.
 */

// KEYS: set, docs. ARGV: id, position, json.
const PUT = `
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  local was = string.match(old, '^[^\\n]*')
  if was ~= ARGV[2] then redis.call('ZREM', KEYS[1], was) end
end
redis.call('ZADD', KEYS[1], 0, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '\\n' .. ARGV[3])
return 1`;

// KEYS: set, docs, state. ARGV: id. A removal while a rebuild runs spoils that rebuild.
const REMOVE = `
local state = redis.call('GET', KEYS[3])
if state and string.sub(state, 1, 9) == 'building:' then redis.call('DEL', KEYS[3]) end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
redis.call('ZREM', KEYS[1], string.match(old, '^[^\\n]*'))
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`;

// KEYS: state. ARGV: expected, value.
const FINISH = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

interface SearchScripts {
  chukFindPut(set: string, docs: string, id: string, position: string, json: string): Promise<number>;
  chukFindRemove(set: string, docs: string, state: string, id: string): Promise<number>;
  chukFindFinish(state: string, expected: string, value: string): Promise<number>;
}

type Run = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

export class RedisSearchIndex implements SearchIndex {
  private readonly client: (Redis | Cluster) & SearchScripts;

  constructor(
    client: Redis | Cluster,
    private readonly run: Run,
  ) {
    client.defineCommand("chukFindPut", { numberOfKeys: 2, lua: PUT });
    client.defineCommand("chukFindRemove", { numberOfKeys: 3, lua: REMOVE });
    client.defineCommand("chukFindFinish", { numberOfKeys: 1, lua: FINISH });
    this.client = client as (Redis | Cluster) & SearchScripts;
  }

  async put(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void> {
    const position = positionOf(Date.parse(doc.storedAt), doc.artifactId);
    const json = JSON.stringify(doc);
    await this.run("update the search index", () =>
      Promise.all(
        areas.map((area) => {
          const k = keys(sandboxId, area);
          return this.client.chukFindPut(k.set, k.docs, doc.artifactId, position, json);
        }),
      ),
    );
  }

  async remove(sandboxId: string, areas: UsageScope[], artifactId: string): Promise<void> {
    await this.run("update the search index", () =>
      Promise.all(
        areas.map((area) => {
          const k = keys(sandboxId, area);
          return this.client.chukFindRemove(k.set, k.docs, k.state, artifactId);
        }),
      ),
    );
  }

  async isBuilt(sandboxId: string, area: UsageScope): Promise<boolean> {
    const state = await this.run("read the search index", () => this.client.get(keys(sandboxId, area).state));
    return state === "built";
  }

  async beginBuild(sandboxId: string, area: UsageScope): Promise<string> {
    const token = randomUUID();
    await this.run("rebuild the search index", () =>
      this.client.set(keys(sandboxId, area).state, `building:${token}`),
    );
    return token;
  }

  async finishBuild(sandboxId: string, area: UsageScope, token: string): Promise<boolean> {
    const done = await this.run("rebuild the search index", () =>
      this.client.chukFindFinish(keys(sandboxId, area).state, `building:${token}`, "built"),
    );
    return done === 1;
  }

  async invalidate(sandboxId: string, area: UsageScope): Promise<void> {
    await this.run("invalidate the search index", () => this.client.del(keys(sandboxId, area).state));
  }

  async page(
    sandboxId: string,
    area: UsageScope,
    from: string | null,
    to: string | null,
    count: number,
  ): Promise<IndexEntry[]> {
    const k = keys(sandboxId, area);
    const positions = await this.run("search", () =>
      this.client.zrangebylex(
        k.set,
        from === null ? "-" : `(${from}`,
        to === null ? "+" : `(${to}`,
        "LIMIT",
        0,
        count,
      ),
    );
    if (positions.length === 0) return [];
    const ids = positions.map(idOfPosition);
    const values = await this.run("search", () => this.client.hmget(k.docs, ...ids));
    const out: IndexEntry[] = [];
    for (const value of values) {
      if (value === null) continue; // removed between the two reads
      out.push(JSON.parse(value.slice(value.indexOf("\n") + 1)) as IndexEntry);
    }
    return out;
  }
}

function keys(sandboxId: string, area: UsageScope) {
  const base = `chuk:{${sandboxId}/${area.kind}:${area.id}}`;
  return { set: `${base}:find`, docs: `${base}:find-docs`, state: `${base}:find-state` };
}
