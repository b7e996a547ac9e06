import { setTimeout as sleep } from "node:timers/promises";
import type { Backends, BackendsGetter } from "../backends.js";
import { KeyedMutex, mapLimit, SharedRuns } from "../concurrency.js";
import { SessionUnavailableError } from "../errors.js";
import { GRID_ROOT, parseScopeSegment, scopePrefix } from "../grid.js";
import { type ArtifactMetadata, type ArtifactRecord, toMetadata } from "../metadata.js";
import type { SessionRules } from "../session-rules.js";
import { unlessSessionsUnavailable } from "../sessions/breaker.js";
import {
  INDEXING_OFF_TRUST_MS,
  type IndexEntry,
  type IndexingState,
  positionOf,
  type SearchIndex,
} from "../sessions/search-index.js";
import type { UsageScope } from "../sessions/usage.js";
import {
  type CompiledQuery,
  compileQuery,
  encodeSearchCursor,
  type SearchOptions,
  type SearchQuery,
  validateSearchOptions,
} from "./query.js";

/** A page of search results, newest first; `cursor` fetches the next page (null: no more). */
export interface SearchPage {
  items: ArtifactMetadata[];
  cursor: string | null;
}

/**
 * Index entries read per round trip: small first (a selective page fills early), then larger, but
 * few enough that one read stays well inside the session breaker's 500 ms on a loaded machine.
 */
const FIRST_BATCH = 250;
const BATCH_MAX = 1000;
const LIST_PAGE = 1000;
const DONE: Promise<void> = Promise.resolve();

/** A part of a text word found in more indexed words than this is too common to read postings for. */
const WORDS_MAX = 256;
/** How often warm() looks whether a shared index's switch has settled. */
const SETTLE_POLL_MS = 250;
/** Postings are read instead of the whole area only when they hold at most this share of it. */
const POSTING_SHARE_MAX = 0.5;

/**
 * Search over a user's or a session's artifacts. With a session provider that keeps a search
 * index (memory, Redis) the index answers: the entries of the query's most selective posting (or
 * of the whole area), in result order, read a batch at a time and checked by the full matcher until
 * a page is full, so a page costs the candidates it reads, not the area's size in storage reads. An area not marked built is rebuilt from storage first (after a Redis flush, or on a
 * process's first search with memory sessions). Without an index, or while it is unavailable,
 * the search scans storage: the same answers, slower.
 */
export class Search {
  /** Areas whose index entries could not be written (sessions unavailable): rebuilt later. */
  private readonly stale = new Map<string, UsageScope>();
  private readonly builds = new KeyedMutex();
  /**
   * Storage and index both held in this process's memory, and nothing searched yet: writes are not
   * indexed. The first search turns indexing on and builds from storage (a read of this process's
   * memory), so a store nobody searches never pays for an index.
   */
  private deferred = false;
  private searched = false;
  /**
   * A shared index (Redis) is written only once the sandbox's indexing switch is on (see
   * IndexingState): seen on once, this process indexes every write from then on; seen off, it
   * skips the index until `offUntil` (performance.now() time), then reads the switch again.
   */
  private indexingOn = false;
  private offUntil = 0;
  /** The session provider's index once looked up (null: it has none); undefined before. */
  private knownIndex: SearchIndex | null | undefined;
  private readonly switchReads = new SharedRuns<IndexingState | "unknown">();

  constructor(
    private readonly sandboxId: string,
    private readonly backends: BackendsGetter,
    private readonly sessions: SessionRules,
  ) {}

  async search(query: SearchQuery, options: SearchOptions = {}): Promise<SearchPage> {
    const compiled = compileQuery(query);
    const page = validateSearchOptions(options);
    await this.checkAccess(compiled);
    const index = await this.index();
    if (index) {
      // From here every write is indexed; what came before, the build below lists from storage.
      this.searched = true;
      this.deferred = false;
      try {
        await this.dropStale(index);
        if (await this.ensureBuilt(index, compiled.area)) return await this.fromIndex(index, compiled, page);
      } catch (err) {
        if (!(err instanceof SessionUnavailableError)) throw err;
      }
    }
    return this.scan(query, options);
  }

  /** The same search by listing storage, without the index (the fallback, and the benchmark's baseline). */
  async scan(query: SearchQuery, options: SearchOptions = {}): Promise<SearchPage> {
    const compiled = compileQuery(query);
    const { limit, cursor } = validateSearchOptions(options);
    await this.checkAccess(compiled);
    const now = Date.now();
    const found: [string, ArtifactMetadata][] = [];
    await this.eachStored(compiled.area, (record) => {
      const m = toMetadata(record);
      if (!compiled.matches(m, now)) return;
      const position = positionOf(Date.parse(m.storedAt), m.artifactId);
      if (cursor === null || position > cursor) found.push([position, m]);
    });
    found.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const items = found.slice(0, limit);
    const more = found.length > limit;
    return {
      items: items.map(([, m]) => m),
      cursor: more ? encodeSearchCursor(items[items.length - 1]![0]) : null,
    };
  }

  /**
   * Marks the sandbox indexed from empty (see SearchIndex.markIndexedFromEmpty) when storage holds
   * none of its artifacts: every write from then on is indexed, so no area needs a rebuild from
   * storage before its first search. Run as the providers open, before this store's first write
   * (one index read, and a one-key listing while unmarked); a failure only leaves it unmarked.
   * With storage and index both in this process's memory it defers indexing instead (`deferred`):
   * set at any time before the first search, that is safe, as the first search lists everything.
   */
  async checkEmpty({ storage, sessions }: Pick<Backends, "storage" | "sessions">): Promise<void> {
    const index = sessions.search;
    if (index?.removals && !storage.capabilities.persistent && !this.searched) {
      this.deferred = true;
      return;
    }
    try {
      if (!index) return;
      // With a shared index: only where the sandbox searches (the read also spares the first write
      // its own read of the switch).
      if (index.indexing && (await this.readSwitch(index)) !== "on") return;
      await this.markIfEmpty(index, storage);
    } catch {
      // Unreachable index or storage: areas build on first search, as without the mark.
    }
  }

  /** Marks the sandbox indexed from empty if storage holds none of its artifacts (one-key listing). */
  private async markIfEmpty(index: SearchIndex, storage: Backends["storage"]): Promise<void> {
    if (await index.indexedFromEmpty(this.sandboxId)) return;
    const page = await storage.list(`${GRID_ROOT}/${this.sandboxId}/`, { limit: 1 });
    if (page.records.length === 0 && page.cursor === null) await index.markIndexedFromEmpty(this.sandboxId);
  }

  /**
   * Fills an index held in this process from storage now rather than at the first search, where
   * storage may hold artifacts from before this process (persistent storage, sandbox not indexed
   * from empty). A search meanwhile waits for the fill instead of listing storage itself. False when
   * there was nothing to fill, or a removal during the fill left areas to build at their first search.
   * With a shared index it turns indexing on instead (as a first search would) and resolves false
   * once that has settled, marking the sandbox indexed from empty if it holds no artifacts yet;
   * otherwise each area's next search builds it from storage.
   */
  async warm(): Promise<boolean> {
    const { storage, sessions } = await this.backends();
    const index = sessions.search;
    if (index?.startIndexing) {
      await this.settleIndexing(index);
      // Every process indexes from here: an empty sandbox needs no build at its first search.
      await this.markIfEmpty(index, storage).catch(() => {});
      return false;
    }
    if (!index?.removals || !storage.capabilities.persistent) return false;
    return this.builds.run("sandbox", async () => {
      if (await index.indexedFromEmpty(this.sandboxId)) return false;
      return this.fillSandbox(index);
    });
  }

  /** Turns a shared index's switch on and waits until it has settled (see IndexingState). */
  private async settleIndexing(index: SearchIndex): Promise<void> {
    while ((await this.startIndexing(index)) !== "on") await sleep(SETTLE_POLL_MS);
  }

  /** Turns a shared index's switch on unless it is; this process indexes its writes from here. */
  private async startIndexing(index: SearchIndex): Promise<IndexingState> {
    const state = await index.startIndexing!(this.sandboxId);
    this.indexingOn = true;
    return state;
  }

  /** Indexes a ready artifact after a write (a failure leaves its areas to be rebuilt). */
  indexed(m: ArtifactMetadata): Promise<void> {
    // Most writes of a store nobody searches: answered without a promise chain of their own.
    if (this.deferred || this.skipsWrites()) return DONE;
    return this.indexedNow(m);
  }

  private async indexedNow(m: ArtifactMetadata): Promise<void> {
    const index = await this.index();
    if (!index || !(await this.writesIndexed(index))) return;
    const areas = areasOf(m);
    await this.noteIfFailed(index, areas, () => index.put(this.sandboxId, areas, slim(m)));
  }

  /** Takes a removed artifact out of the index. */
  async removed(record: ArtifactRecord): Promise<void> {
    if (this.deferred) return;
    const index = await this.index();
    if (!index || !(await this.writesIndexed(index))) return;
    const areas = areasOf(record);
    await this.noteIfFailed(index, areas, () => index.remove(this.sandboxId, areas, record.artifactId));
  }

  /** True when a write is known, without waiting, not to go to the index (see writesIndexed). */
  private skipsWrites(): boolean {
    const index = this.knownIndex;
    return index === null || (index !== undefined && this.offForNow(index));
  }

  /** A shared index whose switch was last read off, and that reading is still trusted. */
  private offForNow(index: SearchIndex): boolean {
    return !!index.indexing && !this.indexingOn && performance.now() < this.offUntil;
  }

  /**
   * Whether this write goes to the index: always, but for a shared index whose switch is off. A
   * write comes here after storage has taken it, so one that skips the index is in every listing
   * a build makes once the switch has settled. An unreadable switch counts as on: the write is then
   * tried, and a failure marks its areas stale as any failed index write does.
   */
  private writesIndexed(index: SearchIndex): boolean | Promise<boolean> {
    if (!index.indexing || this.indexingOn) return true;
    if (this.offForNow(index)) return false;
    return this.switchReads.run("switch", () => this.readSwitch(index)).then((state) => state !== "off");
  }

  /**
   * Reads a shared index's switch and notes what it says. "unknown" when it cannot be read, or
   * when the answer came too late to be trusted as "off" (INDEXING_OFF_TRUST_MS).
   */
  private async readSwitch(index: SearchIndex): Promise<IndexingState | "unknown"> {
    const sent = performance.now();
    let state: IndexingState;
    try {
      state = await index.indexing!(this.sandboxId);
    } catch {
      return "unknown";
    }
    if (state !== "off") this.indexingOn = true;
    else if (performance.now() < sent + INDEXING_OFF_TRUST_MS) this.offUntil = sent + INDEXING_OFF_TRUST_MS;
    else return "unknown";
    return state;
  }

  private async noteIfFailed(
    index: SearchIndex,
    areas: UsageScope[],
    write: () => Promise<void>,
  ): Promise<void> {
    try {
      await this.dropStale(index);
      await write();
    } catch {
      for (const area of areas) this.stale.set(`${area.kind}:${area.id}`, area);
    }
  }

  private async fromIndex(
    index: SearchIndex,
    q: CompiledQuery,
    page: { limit: number; cursor: string | null },
  ): Promise<SearchPage> {
    const now = Date.now();
    // Result order is position order: newest first. storedBefore/After bound the positions read.
    let from = q.before === null ? null : positionOf(q.before, "");
    if (page.cursor !== null && (from === null || page.cursor > from)) from = page.cursor;
    const to = q.after === null ? null : positionOf(q.after - 1, "");
    const plan = await this.candidates(index, q);
    const items: [string, IndexEntry][] = [];
    for (let size = FIRST_BATCH; plan !== null; size = Math.min(BATCH_MAX, size * 4)) {
      const batch = await index.page(this.sandboxId, q.area, from, to, size, plan.walk, plan.also);
      for (const m of batch.entries) {
        if (!q.matches(m, now)) continue;
        items.push([positionOf(Date.parse(m.storedAt), m.artifactId), m]);
        if (items.length > page.limit) break;
      }
      if (items.length > page.limit || batch.next === null) break;
      from = batch.next;
    }
    const more = items.length > page.limit;
    const shown = items.slice(0, page.limit);
    const { storage, sessions } = await this.backends();
    const full = (m: IndexEntry): ArtifactMetadata => ({
      ...structuredClone(m),
      sandboxId: this.sandboxId,
      key: scopePrefix(this.sandboxId, m.scope ?? "session", m) + m.artifactId,
      storageProvider: storage.name,
      sessionProvider: sessions.name,
    });
    return {
      items: shown.map(([, m]) => full(m)),
      cursor: more ? encodeSearchCursor(shown[shown.length - 1]![0]) : null,
    };
  }

  /**
   * Which postings to read (null: nothing can match). `walk`: the terms whose postings hold every
   * match — of the query's posting conditions the one with the fewest entries, when that is clearly
   * fewer than the area's (undefined: read the whole area). `also`: the other single-term
   * conditions, which every match is in too. The matcher checks each candidate, so the answer is
   * the same as without postings.
   */
  private async candidates(
    index: SearchIndex,
    q: CompiledQuery,
  ): Promise<{ walk: string[] | undefined; also: string[] } | null> {
    if (q.postings.length === 0) return { walk: undefined, also: [] };
    const options: [string[], number][] = [];
    const fixed = q.postings.flatMap((c) => ("terms" in c ? [c.terms] : []));
    const { total, sizes } = await index.sizes(this.sandboxId, q.area, fixed.flat());
    let at = 0;
    for (const terms of fixed) {
      const counts = sizes.slice(at, at + terms.length);
      at += terms.length;
      options.push([terms, counts.reduce((a, b) => a + b, 0)]);
    }
    if (options.some(([, size]) => size === 0)) return null;
    // Each part costs a pass over the area's words (HSCAN on Redis): longest first, as the likeliest
    // to be found in no word, which answers the search at once.
    const parts = q.postings.flatMap((c) => ("inWord" in c ? [c.inWord] : []));
    parts.sort((a, b) => b.length - a.length);
    for (const part of parts) {
      const words = await index.wordsContaining(this.sandboxId, q.area, part, WORDS_MAX);
      if (words === null) continue;
      const size = words.reduce((a, [, n]) => a + n, 0);
      if (size === 0) return null;
      options.push([words.map(([t]) => t), size]);
    }
    let best: [string[], number] | null = null;
    for (const option of options) if (best === null || option[1] < best[1]) best = option;
    const walk = best === null || best[1] > total * POSTING_SHARE_MAX ? undefined : best[0];
    const also = fixed.filter((terms) => terms.length === 1 && terms !== walk).map(([term]) => term!);
    return { walk, also };
  }

  /** Builds an area's index from storage unless it is built; false when a rebuild kept being spoilt. */
  private async ensureBuilt(index: SearchIndex, area: UsageScope): Promise<boolean> {
    if (await index.isBuilt(this.sandboxId, area)) return true;
    // A shared index is built only once its switch has settled: until then some process may
    // still be skipping writes, and this search scans storage instead.
    if (index.startIndexing && (await this.startIndexing(index)) !== "on") return false;
    // An index held in this process builds one area at a time: a fill of the whole sandbox and an
    // area's own build must not interleave.
    return this.builds.run(index.removals ? "sandbox" : `${area.kind}:${area.id}`, async () => {
      for (let attempt = 0; attempt < 3; attempt++) {
        if (await index.isBuilt(this.sandboxId, area)) return true;
        // Once: an area a fill leaves unbuilt (invalidated before, or a removal came in) is built alone.
        const filled =
          attempt === 0 && area.kind === "user" && index.removals && (await this.fillSandbox(index));
        if (filled && (await index.isBuilt(this.sandboxId, area))) return true;
        const token = await index.beginBuild(this.sandboxId, area);
        await index.clear(this.sandboxId, area);
        const records: ArtifactRecord[] = [];
        await this.eachStored(area, (r) => {
          if (r.status === "ready") records.push(r);
        });
        // Added only where no write meanwhile indexed a newer entry than the one read here.
        await mapLimit(records, 32, (r) => index.add(this.sandboxId, [area], slim(r)));
        if (await index.finishBuild(this.sandboxId, area, token)) return true;
      }
      return false;
    });
  }

  /**
   * A user's area lists the whole sandbox to be built. Into an index held in this process, every
   * artifact listed is added to all its areas instead, and the sandbox is marked indexed in full
   * (as from empty), so no other user's or session's first search lists storage again. Entries
   * already there came from writes since and stay. False when a removal came in meanwhile (a
   * listed artifact may be gone): the area is then built alone.
   */
  private async fillSandbox(index: SearchIndex): Promise<boolean> {
    const before = index.removals!(this.sandboxId);
    const records: ArtifactRecord[] = [];
    await this.eachStored(null, (r) => {
      if (r.status === "ready") records.push(r);
    });
    await index.addMany!(
      this.sandboxId,
      records.map((r) => ({ areas: areasOf(r), doc: slim(r) })),
    );
    if (index.removals!(this.sandboxId) !== before) return false;
    await index.markIndexedFromEmpty(this.sandboxId);
    return true;
  }

  /**
   * Every record storage holds for an area: a session's prefix, or the user's across the sandbox
   * (null: the whole sandbox).
   */
  private async eachStored(area: UsageScope | null, visit: (r: ArtifactRecord) => void): Promise<void> {
    const { storage } = await this.backends();
    // A session area may be a scope's segment (`_u-…`, `_shared`: see query.ts), listed the same way.
    if (area?.kind === "session" && parseScopeSegment(area.id) === null) throw new Error("bad search area");
    const prefix = `${GRID_ROOT}/${this.sandboxId}/${area?.kind === "session" ? `${area.id}/` : ""}`;
    let cursor: string | null = null;
    do {
      const page = await storage.list(prefix, { limit: LIST_PAGE, cursor });
      for (const r of page.records) if (area?.kind !== "user" || r.userId === area.id) visit(r);
      cursor = page.cursor;
    } while (cursor !== null);
  }

  /** As for listings: a session searched on behalf of a user must be that user's. */
  private async checkAccess(q: CompiledQuery): Promise<void> {
    if (q.area.kind === "session" && q.userId !== null) {
      await unlessSessionsUnavailable(this.sessions.info(q.area.id, q.userId), null);
    }
  }

  private async dropStale(index: SearchIndex): Promise<void> {
    if (this.stale.size === 0) return;
    for (const [name, area] of [...this.stale]) {
      await index.invalidate(this.sandboxId, area);
      this.stale.delete(name);
    }
  }

  private async index(): Promise<SearchIndex | undefined> {
    const { sessions } = await this.backends();
    this.knownIndex = sessions.search ?? null;
    return sessions.search;
  }
}

function areasOf(m: Pick<ArtifactMetadata, "sessionId" | "userId">): UsageScope[] {
  const areas: UsageScope[] = [{ kind: "session", id: m.sessionId }];
  if (m.userId !== null) areas.push({ kind: "user", id: m.userId });
  return areas;
}

/**
 * What the index keeps of an artifact: its metadata without what every entry of a store shares or
 * the key that its ids spell (filled in again for results), and never a record's status, upload
 * limits or storage version.
 */
function slim(m: ArtifactMetadata): IndexEntry {
  // Field by field: a rest copy costs microseconds a call on Node 20.
  return {
    artifactId: m.artifactId,
    sessionId: m.sessionId,
    mime: m.mime,
    summary: m.summary,
    meta: m.meta,
    filename: m.filename,
    bytes: m.bytes,
    sha256: m.sha256,
    storedAt: m.storedAt,
    updatedAt: m.updatedAt,
    ttl: m.ttl,
    expiresAt: m.expiresAt,
    userId: m.userId,
    scope: m.scope,
    version: m.version,
    etag: m.etag,
  };
}
