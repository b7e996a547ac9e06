import { randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { termsOf } from "../search/terms.js";
import { CallQueues } from "./call-queue.js";
import { LuaScript } from "./redis-script.js";
import {
  INDEXING_SETTLE_MS,
  type IndexEntry,
  type IndexingState,
  type IndexPage,
  idOfPosition,
  mergeFirst,
  positionOf,
  type SearchIndex,
  STALE,
} from "./search-index.js";
import type { UsageScope } from "./usage.js";

/**
 * The search index in Redis. Per area (a user or a session), keys under one hash tag, so each
 * script and pipeline below touches one cluster slot:
 *   chuk:{sandboxId/kind:id}:find          sorted set, all scores 0, members are positions (lex order)
 *   chuk:{sandboxId/kind:id}:find-docs     hash: artifact id → "position\nterms\n" + metadata JSON
 *                                          (terms joined by \x1f: what remove takes out again)
 *   chuk:{sandboxId/kind:id}:find-p:{term} sorted set like :find: the positions with that term
 *   chuk:{sandboxId/kind:id}:find-terms    hash: term → size of its posting (absent when empty)
 *   chuk:{sandboxId/kind:id}:find-state    "built:3", "building:<token>" while a rebuild runs, or
 *                                          "stale" (rebuild before use)
 *   chuk:{sandboxId}:find-from-empty       "2" when storage showed the sandbox empty with indexing
 *                                          on: an area without a state counts as built
 *   chuk:{sandboxId}:find-on               the indexing switch: set by the sandbox's first search
 *   chuk:{sandboxId}:find-settling         set with it, for INDEXING_SETTLE_MS (see IndexingState)
 * Until the switch is on, writes are not indexed (src/search/search.ts): a sandbox nobody searches
 * pays nothing for the index. No TTLs: entries leave with their artifacts. A flush loses the state
 * key, so the area rebuilds; so does an area built by an older version (its state reads "built" or
 * "built:2"), which indexed every write without a switch, and its "1" from-empty mark is ignored.
 * An area's writes go out one script call at a time, in the order issued; the puts that queue up
 * meanwhile share the next call (under load one call carries many entries).
 */

const BUILT = "built:3";
/** The from-empty mark's value (an older version's "1" was set without the indexing switch). */
const FROM_EMPTY = "2";

// Posting upkeep shared by the scripts, for posting keys `prefix .. term` (KEYS[3]: the terms hash).
// A term's size moves only when ZADD or ZREM changed its posting, so it always equals the
// posting's ZCARD, at two calls a term instead of three.
const postings = (prefix: string) => `
local prefix = ${prefix}
local function post(term, pos)
  if redis.call('ZADD', prefix .. term, 0, pos) == 1 then redis.call('HINCRBY', KEYS[3], term, 1) end
end
local function unpostTerm(term, was)
  if redis.call('ZREM', prefix .. term, was) == 1 and redis.call('HINCRBY', KEYS[3], term, -1) <= 0 then
    redis.call('HDEL', KEYS[3], term)
  end
end
local function unpost(old, keep, pos)
  local a = string.find(old, '\\n', 1, true)
  local was = string.sub(old, 1, a - 1)
  local b = string.find(old, '\\n', a + 1, true)
  if was ~= pos then redis.call('ZREM', KEYS[1], was) end
  local kept = {}
  if b then
    for term in string.gmatch(string.sub(old, a + 1, b - 1), '[^\\31]+') do
      if was == pos and keep[term] then kept[term] = true
      else unpostTerm(term, was) end
    end
  end
  return kept
end`;

// KEYS: set, docs, terms. ARGV: posting prefix, "1" to skip artifacts the area has an entry for
// (SearchIndex.add) or "0", then for each entry in order: id, position, json, term count, terms...
const PUT_MANY = `${postings("ARGV[1]")}
local i = 3
while i <= #ARGV do
  local id, pos, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 3])
  local json = ARGV[i + 2]
  local new = {}
  local names = {}
  for j = i + 4, i + 3 + n do new[ARGV[j]] = true; names[#names + 1] = ARGV[j] end
  i = i + 4 + n
  if ARGV[2] ~= '1' or redis.call('HEXISTS', KEYS[2], id) == 0 then
    local kept = {}
    local old = redis.call('HGET', KEYS[2], id)
    if old then kept = unpost(old, new, pos) end
    redis.call('ZADD', KEYS[1], 0, pos)
    for _, term in ipairs(names) do
      if not kept[term] then post(term, pos) end
    end
    redis.call('HSET', KEYS[2], id, pos .. '\\n' .. table.concat(names, '\\31') .. '\\n' .. json)
  end
end
return 1`;

// KEYS: set, docs, terms, state. ARGV: id, posting prefix. A removal while a rebuild runs spoils it.
const REMOVE = `${postings("ARGV[2]")}
local state = redis.call('GET', KEYS[4])
if state and string.sub(state, 1, 9) == 'building:' then redis.call('SET', KEYS[4], '${STALE}') end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old then return 0 end
unpost(old, {}, '')
redis.call('HDEL', KEYS[2], ARGV[1])
return 1`;

// KEYS: set, docs, terms. ARGV: posting prefix, batch. Drops up to `batch` postings a call (a large
// area's would hold Redis up too long at once); the rest of the area goes with the last call.
const CLEAR = `
local terms = redis.call('HRANDFIELD', KEYS[3], tonumber(ARGV[2]))
for _, term in ipairs(terms) do
  redis.call('UNLINK', ARGV[1] .. term)
  redis.call('HDEL', KEYS[3], term)
end
if #terms == 0 then redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3]) end
return #terms`;
const CLEAR_BATCH = 2000;

// KEYS: terms. ARGV: word part (letters and digits only: no glob characters), max.
// HSCAN's MATCH filters in Redis itself; false when more than max words match.
const WORDS = `
local out = {}
local cursor = '0'
repeat
  local r = redis.call('HSCAN', KEYS[1], cursor, 'MATCH', 'w:*' .. ARGV[1] .. '*', 'COUNT', 10000)
  cursor = r[1]
  for i = 1, #r[2], 2 do out[#out + 1] = r[2][i]; out[#out + 1] = r[2][i + 1] end
  if #out > 2 * tonumber(ARGV[2]) then return false end
until cursor == '0'
return out`;

// KEYS: postings. ARGV: positions. The positions in every one of the postings.
const FILTER = `
local out = {}
for _, position in ipairs(ARGV) do
  local keep = true
  for _, key in ipairs(KEYS) do
    if not redis.call('ZSCORE', key, position) then keep = false; break end
  end
  if keep then out[#out + 1] = position end
end
return out`;

// KEYS: switch, settling, from-empty. ARGV: settle ms. Turns indexing on unless it is; answers its state.
const START_INDEXING = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 'settling' end
  return 'on'
end
redis.call('SET', KEYS[1], '1')
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[3])
return 'settling'`;

// KEYS: state. ARGV: expected, value.
const FINISH = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

const scripts = {
  putMany: new LuaScript(PUT_MANY, 3),
  remove: new LuaScript(REMOVE, 4),
  clear: new LuaScript(CLEAR, 3),
  words: new LuaScript(WORDS, 1),
  finish: new LuaScript(FINISH, 1),
  /** Its first argument is the number of keys. */
  filter: new LuaScript(FILTER, null),
  start: new LuaScript(START_INDEXING, 3),
};

type Run = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

type WriteKind = "put" | "add" | "remove";
interface AreaWrite {
  keys: ReturnType<typeof keys>;
  args: string[];
}
/** Entries one script call writes at most: a batch holds Redis up for well under a millisecond. */
const WRITE_BATCH = 64;

export class RedisSearchIndex implements SearchIndex {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly run: Run,
  ) {}

  /**
   * Writes to an area go one call at a time, in the order issued (a removal never overtakes the
   * put before it); puts (or a rebuild's adds) that queue up meanwhile share the next call.
   */
  private readonly writes = new CallQueues<WriteKind, AreaWrite>(
    (kind, items) => this.send(kind, items),
    new Set<WriteKind>(["put", "add"]),
    WRITE_BATCH,
  );

  put(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void> {
    return this.write("put", sandboxId, areas, doc);
  }

  add(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void> {
    return this.write("add", sandboxId, areas, doc);
  }

  /** The entry in each area, as PUT_MANY takes it (after the area's keys). */
  private write(kind: "put" | "add", sandboxId: string, areas: UsageScope[], doc: IndexEntry) {
    const position = positionOf(Date.parse(doc.storedAt), doc.artifactId);
    const terms = termsOf(doc);
    const args = [doc.artifactId, position, JSON.stringify(doc), String(terms.length), ...terms];
    return this.queue(kind, sandboxId, areas, args);
  }

  remove(sandboxId: string, areas: UsageScope[], artifactId: string): Promise<void> {
    return this.queue("remove", sandboxId, areas, [artifactId]);
  }

  /** Queues the same write in each area's queue; settles once all are made. */
  private async queue(kind: WriteKind, sandboxId: string, areas: UsageScope[], args: string[]) {
    await Promise.all(
      areas.map((area) => {
        const k = keys(sandboxId, area);
        return this.writes.call(k.set, kind, { keys: k, args });
      }),
    );
  }

  /** One script call for a queue's writes of one kind (CallQueues), all of one area. */
  private send(kind: WriteKind, items: AreaWrite[]): Promise<number> {
    const k = items[0]!.keys;
    if (kind === "remove") {
      return this.run("update the search index", () =>
        scripts.remove.run<number>(
          this.client,
          k.set,
          k.docs,
          k.terms,
          k.state,
          items[0]!.args[0]!,
          k.posting,
        ),
      );
    }
    const what = kind === "put" ? "update the search index" : "rebuild the search index";
    const flag = kind === "add" ? "1" : "0";
    return this.run(what, () =>
      scripts.putMany.run<number>(
        this.client,
        k.set,
        k.docs,
        k.terms,
        k.posting,
        flag,
        ...items.flatMap((item) => item.args),
      ),
    );
  }

  async isBuilt(sandboxId: string, area: UsageScope): Promise<boolean> {
    // Two keys of two hash tags (Cluster): read side by side, not in one pipeline.
    const [state, fromEmpty] = await this.run("read the search index", () =>
      Promise.all([this.client.get(keys(sandboxId, area).state), this.client.get(fromEmptyKey(sandboxId))]),
    );
    return state === BUILT || (state === null && fromEmpty === FROM_EMPTY);
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
      scripts.finish.run<number>(this.client, keys(sandboxId, area).state, `building:${token}`, BUILT),
    );
    return done === 1;
  }

  async invalidate(sandboxId: string, area: UsageScope): Promise<void> {
    await this.run("invalidate the search index", () => this.client.set(keys(sandboxId, area).state, STALE));
  }

  async markIndexedFromEmpty(sandboxId: string): Promise<void> {
    await this.run("update the search index", () => this.client.set(fromEmptyKey(sandboxId), FROM_EMPTY));
  }

  async indexedFromEmpty(sandboxId: string): Promise<boolean> {
    const mark = await this.run("read the search index", () => this.client.get(fromEmptyKey(sandboxId)));
    return mark === FROM_EMPTY;
  }

  async indexing(sandboxId: string): Promise<IndexingState> {
    // Both keys share the sandbox's hash tag: one MGET, also on Cluster.
    const [on, settling] = await this.run("read the search index", () =>
      this.client.mget(switchKey(sandboxId), settlingKey(sandboxId)),
    );
    return on === null ? "off" : settling === null ? "on" : "settling";
  }

  async startIndexing(sandboxId: string): Promise<IndexingState> {
    return this.run("update the search index", () =>
      scripts.start.run<IndexingState>(
        this.client,
        switchKey(sandboxId),
        settlingKey(sandboxId),
        fromEmptyKey(sandboxId),
        INDEXING_SETTLE_MS,
      ),
    );
  }

  async clear(sandboxId: string, area: UsageScope): Promise<void> {
    const k = keys(sandboxId, area);
    let dropped: number;
    do {
      dropped = await this.run("rebuild the search index", () =>
        scripts.clear.run<number>(this.client, k.set, k.docs, k.terms, k.posting, CLEAR_BATCH),
      );
    } while (dropped > 0);
  }

  async sizes(sandboxId: string, area: UsageScope, terms: string[]) {
    const k = keys(sandboxId, area);
    const replies = await this.run("search", () => {
      const batch = this.client.pipeline().zcard(k.set);
      if (terms.length > 0) batch.hmget(k.terms, ...terms);
      return batch.exec();
    });
    const [total, counts] = (replies ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [number, (string | null)[] | undefined];
    return { total, sizes: (counts ?? []).map((n) => Number(n ?? 0)) };
  }

  async wordsContaining(
    sandboxId: string,
    area: UsageScope,
    part: string,
    max: number,
  ): Promise<[string, number][] | null> {
    const flat = await this.run("search", () =>
      scripts.words.run<string[] | null>(this.client, keys(sandboxId, area).terms, part, max),
    );
    if (flat === null) return null;
    const out: [string, number][] = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, Number(flat[i + 1])]);
    return out;
  }

  async page(
    sandboxId: string,
    area: UsageScope,
    from: string | null,
    to: string | null,
    count: number,
    terms?: string[],
    also: string[] = [],
  ): Promise<IndexPage> {
    const k = keys(sandboxId, area);
    const hi = to === null ? "+" : `(${to}`;
    const sets = terms === undefined ? [k.set] : terms.map((t) => k.posting + t);
    const filters = also.map((t) => k.posting + t);
    const lo = from === null ? "-" : `(${from}`;
    const chunk = mergeFirst(
      await this.run("search", async () => {
        const batch = this.client.pipeline();
        for (const set of sets) batch.zrangebylex(set, lo, hi, "LIMIT", 0, count);
        return ((await batch.exec()) ?? []).map(([err, value]) => {
          if (err) throw err;
          return value as string[];
        });
      }),
      count,
    );
    const next = chunk.length < count ? null : chunk[chunk.length - 1]!;
    const positions =
      filters.length === 0 || chunk.length === 0
        ? chunk
        : await this.run("search", () =>
            scripts.filter.run<string[]>(this.client, filters.length, ...filters, ...chunk),
          );
    if (positions.length === 0) return { entries: [], next };
    const ids = positions.map(idOfPosition);
    const values = await this.run("search", () => this.client.hmget(k.docs, ...ids));
    const entries: IndexEntry[] = [];
    for (const value of values) {
      if (value === null) continue; // removed between the two reads
      entries.push(JSON.parse(jsonOf(value)) as IndexEntry);
    }
    return { entries, next };
  }
}

/** The metadata JSON of a docs value: after the position and terms lines (or only the position, as once kept). */
function jsonOf(value: string): string {
  const rest = value.slice(value.indexOf("\n") + 1);
  return rest.startsWith("{") ? rest : rest.slice(rest.indexOf("\n") + 1);
}

/** Set once storage showed the sandbox empty (SearchIndex.markIndexedFromEmpty). */
function fromEmptyKey(sandboxId: string): string {
  return `chuk:{${sandboxId}}:find-from-empty`;
}

/** The sandbox's indexing switch (SearchIndex.indexing), and the key that says it is settling. */
function switchKey(sandboxId: string): string {
  return `chuk:{${sandboxId}}:find-on`;
}

function settlingKey(sandboxId: string): string {
  return `chuk:{${sandboxId}}:find-settling`;
}

function keys(sandboxId: string, area: UsageScope) {
  const base = `chuk:{${sandboxId}/${area.kind}:${area.id}}`;
  return {
    set: `${base}:find`,
    docs: `${base}:find-docs`,
    terms: `${base}:find-terms`,
    state: `${base}:find-state`,
    posting: `${base}:find-p:`,
  };
}
