import { randomUUID } from "node:crypto";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { ArtifactMetadata } from "../metadata.js";
import { termsOf, WORD } from "../search/terms.js";
import { firstAbove } from "../storage/paging.js";

/** An artifact as the index keeps it: its metadata without the fields every entry of a store shares. */
export type IndexEntry = Omit<ArtifactMetadata, "key" | "sandboxId" | "storageProvider" | "sessionProvider">;

import type { UsageScope } from "./usage.js";

/**
 * A secondary index for search, kept by the session provider: per user and per session, the
 * metadata of every ready artifact in result order (newest first). Storage stays the truth: an
 * area whose index is not marked built is rebuilt from storage before it is used, and a delete
 * during a rebuild makes that rebuild fail to mark it built (it may have listed the deleted one).
 *
 * Order: entries sort by `position` — the inverted storedAt, zero-padded, then `|` and the id —
 * so ascending position order is newest first, and a position is also the page cursor.
 *
 * Postings: per area and per term of src/search/terms.ts, the positions of the entries with that
 * term, kept by put and remove, so a search reads only the entries one of its conditions allows.
 */
export interface SearchIndex {
  /** Adds or replaces an artifact's entry in each area. */
  put(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void>;
  /**
   * A rebuild's put: adds the entry to each area that has none for that artifact already. A
   * rebuild empties the area first, so an entry there came from a write meanwhile, newer than what
   * the rebuild read from storage before it.
   */
  add(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void>;
  remove(sandboxId: string, areas: UsageScope[], artifactId: string): Promise<void>;
  isBuilt(sandboxId: string, area: UsageScope): Promise<boolean>;
  beginBuild(sandboxId: string, area: UsageScope): Promise<string>;
  /** Empties the area (entries and postings) before a rebuild from storage lists it again. */
  clear(sandboxId: string, area: UsageScope): Promise<void>;
  /** Marks the area built unless an artifact was removed (or the index lost) since the build began. */
  finishBuild(sandboxId: string, area: UsageScope, token: string): Promise<boolean>;
  /** Forgets the area's built mark: its next search rebuilds it (also in a sandbox indexed from empty). */
  invalidate(sandboxId: string, area: UsageScope): Promise<void>;
  /**
   * Marks the sandbox indexed from empty: there an area with no state of its own counts as built,
   * so a new deployment's first searches read no storage. Set only after storage showed the
   * sandbox empty, so no artifact can predate the index; a flush forgets it with the entries.
   */
  markIndexedFromEmpty(sandboxId: string): Promise<void>;
  indexedFromEmpty(sandboxId: string): Promise<boolean>;
  /**
   * An index held in this process only: how many removals it has taken in the sandbox. A fill of
   * every area from one listing of the sandbox holds every artifact only if none came in meanwhile.
   */
  removals?(sandboxId: string): number;
  /**
   * An index held in this process only (one with `removals`, which must have this too): add() for
   * every artifact of a fill at once, yielding to the event loop now and then. Faster than one
   * add() each where an area starts empty.
   */
  addMany?(sandboxId: string, items: { areas: UsageScope[]; doc: IndexEntry }[]): Promise<void>;
  /**
   * A shared index (one every process of the sandbox writes) is kept only for sandboxes that
   * search. `indexing` reads the sandbox's switch (see IndexingState); `startIndexing` turns it on
   * if it is off (the answer is then "settling") and answers its state. Turning it on drops the
   * sandbox's indexed-from-empty mark: writes may have gone unindexed before.
   */
  indexing?(sandboxId: string): Promise<IndexingState>;
  startIndexing?(sandboxId: string): Promise<IndexingState>;
  /** How many entries the area holds, and how many each term's posting holds. */
  sizes(sandboxId: string, area: UsageScope, terms: string[]): Promise<{ total: number; sizes: number[] }>;
  /**
   * The area's word terms (`w:…`) whose word contains `part`, with their sizes; null when more
   * than `max` do (too common a part to be worth reading through).
   */
  wordsContaining(
    sandboxId: string,
    area: UsageScope,
    part: string,
    max: number,
  ): Promise<[term: string, size: number][] | null>;
  /**
   * Entries in order, with positions strictly after `from` and before `to` (null: no bound), from
   * the first `count` positions of the area (or with `terms`, of the union of those terms'
   * postings); with `also`, only those in every one of those terms' postings too. The entries may
   * be the index's own objects: callers copy what they hand out.
   */
  page(
    sandboxId: string,
    area: UsageScope,
    from: string | null,
    to: string | null,
    count: number,
    terms?: string[],
    also?: string[],
  ): Promise<IndexPage>;
}

/**
 * A sandbox's indexing switch, for a shared index. "off": nobody has searched, and writes need not
 * be indexed. "settling": turned on less than INDEXING_SETTLE_MS ago, so a process that read "off"
 * just before may still skip a write; nothing may be built from storage yet. "on": every process
 * indexes its writes.
 */
export type IndexingState = "off" | "settling" | "on";

/**
 * How long a process trusts an "off" it read, counted from when it sent the read; a read that
 * answers later than this counts as "on". So a write that skipped the index ended before the
 * switch was on for this long, and a build listing storage after the settling time sees it.
 */
export const INDEXING_OFF_TRUST_MS = 1000;
/** How long a switch just turned on stays "settling": the trust above, with room to spare. */
export const INDEXING_SETTLE_MS = 3000;

/** What one read of the index gives: entries, and where the next read starts (null: nothing left). */
export interface IndexPage {
  entries: IndexEntry[];
  next: string | null;
}

/** The first `count` of several ascending lists' union, ascending and without repeats. */
export function mergeFirst(lists: string[][], count: number): string[] {
  if (lists.length === 0) return [];
  if (lists.length === 1) return lists[0]!.slice(0, count);
  const all = [...new Set(lists.flat())].sort();
  return all.slice(0, count);
}

/** An area's state after a spoilt build or an invalidation: rebuilt before use, whatever else says. */
export const STALE = "stale";

const TIME_MAX = 9_999_999_999_999;
/** Entries addMany takes between two turns of the event loop. */
const ADD_MANY_PER_TURN = 1000;

/** Scratch space positions are built in (grown for a longer id). */
let scratch = Buffer.alloc(256);

/**
 * The sort position of an entry: newest first, then by id descending. Ids in descending order sort
 * ascending once each character is inverted (ids are ASCII). Built in a buffer and read out as one
 * flat string: a string pieced together is a chain that every Map and Set lookup would first flatten.
 */
export function positionOf(storedAtMs: number, artifactId: string): string {
  const time = String(TIME_MAX - Math.max(0, Math.min(TIME_MAX, storedAtMs)));
  room(14 + artifactId.length);
  const start = 13 - time.length;
  scratch.fill(0x30, 0, start);
  scratch.write(time, start, "latin1");
  scratch[13] = 0x7c; // "|"
  return scratch.toString("latin1", 0, 14 + invertInto(artifactId, 14));
}

/** The artifact id a position names. */
export function idOfPosition(position: string): string {
  const id = position.slice(position.indexOf("|") + 1);
  room(id.length);
  return scratch.toString("latin1", 0, invertInto(id, 0));
}

/** Grows scratch to hold at least `bytes`. */
function room(bytes: number): void {
  if (bytes > scratch.length) scratch = Buffer.alloc(2 * bytes);
}

/** Writes `id` inverted into scratch at `at`; returns its length. */
function invertInto(id: string, at: number): number {
  const n = scratch.write(id, at, "latin1");
  for (let i = at; i < at + n; i++) scratch[i] = 0x9e - scratch[i]!;
  return n;
}

/**
 * A set of positions and, once read, the same in order (dropped on change). A fill builds only the
 * ordered list (appended in order); the set is made from it when first needed (a write, a filter).
 * At least one of the two is there.
 */
interface Sorted {
  set: Set<string> | null;
  sorted: string[] | null;
}

/**
 * A term's posting: a lone position until a second entry has the term. Most terms of a large area
 * (an artifact's own number or name) name one entry, and a set for each cost a third of a rebuild.
 */
type Posting = string | Sorted;

/**
 * Per entry only its position and doc: its terms are worked out again when it goes, and a position
 * names its id, so nothing else per entry is kept (every object kept per artifact slows each
 * garbage collection of a process holding many).
 */
interface Area {
  docs: Map<string, { position: string; doc: IndexEntry }>;
  all: Sorted;
  postings: Map<string, Posting>;
  state: string | null;
}

function ordered(p: Posting): string[] {
  if (typeof p === "string") return [p];
  p.sorted ??= [...p.set!].sort();
  return p.sorted;
}

function setOf(s: Sorted): Set<string> {
  s.set ??= new Set(s.sorted);
  return s.set;
}

function sizeOf(p: Posting | undefined): number {
  return p === undefined ? 0 : typeof p === "string" ? 1 : p.set ? p.set.size : p.sorted!.length;
}

function holds(p: Posting | undefined, position: string): boolean {
  return p === undefined ? false : typeof p === "string" ? p === position : setOf(p).has(position);
}

/** Up to `count` positions of `sorted` strictly between `from` and `to` (null: no bound). */
function slice(sorted: string[], from: string | null, to: string | null, count: number): string[] {
  const out: string[] = [];
  for (
    let i = from === null ? 0 : firstAbove(sorted, from, false);
    i < sorted.length && out.length < count;
    i++
  ) {
    const position = sorted[i]!;
    if (to !== null && position >= to) break;
    out.push(position);
  }
  return out;
}

/** The index in a Map of this process (the memory session provider's). */
export class MemorySearchIndex implements SearchIndex {
  /** sandboxId → area kind → area id → area. Nested, so finding an area builds no key string. */
  private readonly areas = new Map<string, Map<string, Map<string, Area>>>();
  private readonly fromEmpty = new Set<string>();
  private readonly removed = new Map<string, number>();

  async put(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void> {
    this.insert(sandboxId, areas, doc, true);
  }

  async add(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void> {
    this.insert(sandboxId, areas, doc, false);
  }

  /**
   * Adds a fill's entries in position order. An area empty when the fill starts is built apart, as
   * ordered lists only (appending in order keeps them sorted; a set each came to most of a fill's
   * time), and swapped in at the end; what writes put there meanwhile is put again on top, as it is
   * newer. Other areas take each entry as add() does.
   */
  async addMany(sandboxId: string, items: { areas: UsageScope[]; doc: IndexEntry }[]): Promise<void> {
    const placed: { areas: UsageScope[]; doc: IndexEntry; position: string }[] = [];
    for (let i = 0; i < items.length; i++) {
      if (i > 0 && i % ADD_MANY_PER_TURN === 0) await nextTurn();
      const { areas, doc } = items[i]!;
      placed.push({ areas, doc, position: positionOf(Date.parse(doc.storedAt), doc.artifactId) });
    }
    placed.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    const filling = new Map<Area, { scope: UsageScope; into: Filling | null }>();
    for (let i = 0; i < placed.length; i++) {
      if (i > 0 && i % ADD_MANY_PER_TURN === 0) await nextTurn();
      const { areas, doc, position } = placed[i]!;
      let terms: string[] | undefined;
      for (const scope of areas) {
        const area = this.area(sandboxId, scope);
        let into = filling.get(area)?.into;
        if (into === undefined) {
          into = area.docs.size === 0 ? { docs: new Map(), all: [], postings: new Map() } : null;
          filling.set(area, { scope, into });
        }
        if (into === null) {
          this.insert(sandboxId, [scope], doc, false);
          continue;
        }
        if (into.docs.has(doc.artifactId)) continue;
        terms ??= termsOf(doc);
        into.docs.set(doc.artifactId, { position, doc });
        into.all.push(position);
        for (const term of terms) {
          const posting = into.postings.get(term);
          if (posting === undefined) into.postings.set(term, position);
          else if (typeof posting === "string")
            into.postings.set(term, { set: null, sorted: [posting, position] });
          else posting.sorted!.push(position);
        }
      }
    }
    for (const [area, { scope, into }] of filling) {
      if (into === null) continue;
      const meanwhile = [...area.docs.values()];
      area.docs = into.docs;
      area.all = { set: null, sorted: into.all };
      area.postings = into.postings;
      for (const { doc } of meanwhile) this.insert(sandboxId, [scope], doc, true);
    }
  }

  /** Puts the entry into each area (`replace`: over one there; else only where there is none). */
  private insert(sandboxId: string, areas: UsageScope[], doc: IndexEntry, replace: boolean): void {
    let position: string | undefined;
    let terms: string[] | undefined;
    for (const scope of areas) {
      const area = this.area(sandboxId, scope);
      if (area.docs.has(doc.artifactId)) {
        if (!replace) continue;
        this.drop(area, doc.artifactId);
      }
      position ??= positionOf(Date.parse(doc.storedAt), doc.artifactId);
      terms ??= termsOf(doc);
      // The store hands over a fresh copy and copies what it returns: no clone needed here.
      area.docs.set(doc.artifactId, { position, doc });
      add(area.all, position);
      for (const term of terms) {
        const posting = area.postings.get(term);
        if (posting === undefined) area.postings.set(term, position);
        else if (typeof posting !== "string") add(posting, position);
        else if (posting !== position)
          area.postings.set(term, { set: new Set([posting, position]), sorted: null });
      }
    }
  }

  async remove(sandboxId: string, areas: UsageScope[], artifactId: string): Promise<void> {
    this.removed.set(sandboxId, this.removals(sandboxId) + 1);
    for (const scope of areas) {
      const area = this.area(sandboxId, scope);
      if (area.state?.startsWith("building:")) area.state = STALE;
      this.drop(area, artifactId);
    }
  }

  async clear(sandboxId: string, scope: UsageScope): Promise<void> {
    const area = this.area(sandboxId, scope);
    area.docs.clear();
    area.all = { set: new Set(), sorted: null };
    area.postings.clear();
  }

  /** Takes an entry and its postings out of an area; a posting left empty goes. */
  private drop(area: Area, artifactId: string): void {
    const old = area.docs.get(artifactId);
    if (!old) return;
    area.docs.delete(artifactId);
    remove(area.all, old.position);
    for (const term of termsOf(old.doc)) {
      const posting = area.postings.get(term)!;
      if (typeof posting === "string") {
        if (posting === old.position) area.postings.delete(term);
        continue;
      }
      remove(posting, old.position);
      if (sizeOf(posting) === 0) area.postings.delete(term);
    }
  }

  async isBuilt(sandboxId: string, scope: UsageScope): Promise<boolean> {
    const { state } = this.area(sandboxId, scope);
    return state === "built" || (state === null && this.fromEmpty.has(sandboxId));
  }

  async beginBuild(sandboxId: string, scope: UsageScope): Promise<string> {
    const token = randomUUID();
    this.area(sandboxId, scope).state = `building:${token}`;
    return token;
  }

  async finishBuild(sandboxId: string, scope: UsageScope, token: string): Promise<boolean> {
    const area = this.area(sandboxId, scope);
    if (area.state !== `building:${token}`) return false;
    area.state = "built";
    return true;
  }

  async invalidate(sandboxId: string, scope: UsageScope): Promise<void> {
    this.area(sandboxId, scope).state = STALE;
  }

  async markIndexedFromEmpty(sandboxId: string): Promise<void> {
    this.fromEmpty.add(sandboxId);
  }

  async indexedFromEmpty(sandboxId: string): Promise<boolean> {
    return this.fromEmpty.has(sandboxId);
  }

  removals(sandboxId: string): number {
    return this.removed.get(sandboxId) ?? 0;
  }

  async sizes(sandboxId: string, scope: UsageScope, terms: string[]) {
    const area = this.area(sandboxId, scope);
    return { total: area.docs.size, sizes: terms.map((t) => sizeOf(area.postings.get(t))) };
  }

  async wordsContaining(
    sandboxId: string,
    scope: UsageScope,
    part: string,
    max: number,
  ): Promise<[string, number][] | null> {
    const out: [string, number][] = [];
    for (const [term, posting] of this.area(sandboxId, scope).postings) {
      if (!term.startsWith(WORD) || !term.includes(part, WORD.length)) continue;
      if (out.length === max) return null;
      out.push([term, sizeOf(posting)]);
    }
    return out;
  }

  async page(
    sandboxId: string,
    scope: UsageScope,
    from: string | null,
    to: string | null,
    count: number,
    terms?: string[],
    also: string[] = [],
  ): Promise<IndexPage> {
    const area = this.area(sandboxId, scope);
    const walked = terms === undefined ? [area.all] : terms.map((t) => area.postings.get(t));
    const chunk = mergeFirst(
      walked.flatMap((p) => (p ? [slice(ordered(p), from, to, count)] : [])),
      count,
    );
    const filters = also.map((t) => area.postings.get(t));
    return {
      entries: chunk
        .filter((p) => filters.every((f) => holds(f, p)))
        .map((p) => area.docs.get(idOfPosition(p))!.doc),
      next: chunk.length < count ? null : chunk[chunk.length - 1]!,
    };
  }

  private area(sandboxId: string, scope: UsageScope): Area {
    let kinds = this.areas.get(sandboxId);
    if (!kinds) {
      kinds = new Map();
      this.areas.set(sandboxId, kinds);
    }
    let ids = kinds.get(scope.kind);
    if (!ids) {
      ids = new Map();
      kinds.set(scope.kind, ids);
    }
    let area = ids.get(scope.id);
    if (!area) {
      area = { docs: new Map(), all: { set: new Set(), sorted: null }, postings: new Map(), state: null };
      ids.set(scope.id, area);
    }
    return area;
  }
}

function add(s: Sorted, position: string): void {
  const set = setOf(s);
  if (set.has(position)) return;
  set.add(position);
  s.sorted = null;
}

function remove(s: Sorted, position: string): void {
  if (setOf(s).delete(position)) s.sorted = null;
}

/** An area being filled: its entries, and each posting's positions in order, no sets yet. */
interface Filling {
  docs: Area["docs"];
  all: string[];
  postings: Area["postings"];
}
