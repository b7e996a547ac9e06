import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { termsOf, WORD } from "../src/search/terms.js";
import type { SessionProvider } from "../src/sessions/provider.js";
import {
  INDEXING_SETTLE_MS,
  type IndexEntry,
  MemorySearchIndex,
  positionOf,
  type SearchIndex,
} from "../src/sessions/search-index.js";
import type { UsageScope } from "../src/sessions/usage.js";
import { sessionFixtures, uniqueSandbox } from "./fixtures.js";
import { rng } from "./helpers/rng.js";

/**
 * The search index's postings (src/sessions/search-index.ts) against a model computed from the
 * same documents: after random puts, replacements and removals every posting holds exactly the
 * positions of the live entries with that term, sizes agree, and nothing is left once all are gone.
 */

function entry(r: ReturnType<typeof rng>, id: string, at: number): IndexEntry {
  return {
    artifactId: id,
    sessionId: "sess-1",
    mime: r.pick(["image/png", "text/plain; charset=utf-8", "application/pdf"]),
    summary: `${r.pick(["Alpha", "beta", "gamma"])} ${r.pick(["one", "two"])}`,
    meta: { team: r.pick(["red", "blue"]), n: Math.floor(r.next() * 3), deep: { x: 1 } },
    filename: `${r.pick(["a", "b"])}/${r.pick(["Zeta", "eta"])}-${id}.bin`,
    bytes: 1,
    sha256: "0".repeat(64),
    storedAt: new Date(at).toISOString(),
    updatedAt: new Date(at).toISOString(),
    ttl: null,
    expiresAt: null,
    userId: "u1",
    scope: "session",
    version: 1,
    etag: "e",
  };
}

/** The model: each term's positions among the live entries. */
function postingsOf(live: Iterable<IndexEntry>): Map<string, string[]> {
  const postings = new Map<string, string[]>();
  for (const doc of live)
    for (const term of termsOf(doc)) {
      const list = postings.get(term) ?? [];
      list.push(positionOf(Date.parse(doc.storedAt), doc.artifactId));
      postings.set(term, list);
    }
  return postings;
}

describe.each(sessionFixtures())("search index postings: $name", (fixture) => {
  let provider: SessionProvider;
  let index: SearchIndex;

  beforeAll(async () => {
    provider = await fixture.open();
    index = provider.search!;
  }, 120_000);

  afterAll(async () => {
    await provider?.close();
    await fixture.dispose();
  });

  it("keep exactly the live entries' terms through puts, replacements and removals", async () => {
    const sb = uniqueSandbox("si");
    const area: UsageScope = { kind: "user", id: "u1" };
    const r = rng(99);
    const live = new Map<string, IndexEntry>();
    const ids = Array.from({ length: 40 }, (_, i) => `art${i}`);
    for (let step = 0; step < 160; step++) {
      const id = r.pick(ids);
      if (r.next() < 0.3) {
        await index.remove(sb, [area], id);
        live.delete(id);
      } else {
        // Same time for some replacements (position kept), another for others (position moves).
        const at =
          r.next() < 0.5 && live.has(id) ? Date.parse(live.get(id)!.storedAt) : 1_700_000_000_000 + step;
        const doc = entry(r, id, at);
        await index.put(sb, [area], doc);
        live.set(id, doc);
      }
    }
    const expected = postingsOf(live.values());
    const terms = [...expected.keys()];
    const { total, sizes } = await index.sizes(sb, area, [...terms, "w:absent"]);
    expect(total).toBe(live.size);
    expect(sizes).toEqual([...terms.map((t) => expected.get(t)!.length), 0]);
    const at = (m: IndexEntry) => positionOf(Date.parse(m.storedAt), m.artifactId);
    for (const term of terms) {
      const page = await index.page(sb, area, null, null, 1000, [term]);
      expect(page.entries.map(at), term).toEqual(expected.get(term)!.sort());
      expect(page.entries.every((m) => termsOf(m).includes(term))).toBe(true);
      expect(page.next).toBeNull();
    }
    // A union of postings: in position order, each entry once, cut at the count.
    const union = [...new Set([...expected.get("w:alpha")!, ...expected.get("w:zeta")!])].sort();
    const both = await index.page(sb, area, union[1]!, null, 5, ["w:alpha", "w:zeta"]);
    expect(both.entries.map(at)).toEqual(union.slice(2, 7));
    expect(both.next).toBe(union[6]);

    // Only entries in every `also` posting, read two candidates at a time until none are left.
    const red = new Set(expected.get('k:"team"="red"')!);
    const png = new Set(expected.get("m:image/png")!);
    const inAll = union.filter((p) => red.has(p) && png.has(p));
    const found: string[] = [];
    let reads = 0;
    for (let from: string | null = null; reads < 1000; reads++) {
      const page = await index.page(
        sb,
        area,
        from,
        null,
        2,
        ["w:alpha", "w:zeta"],
        ['k:"team"="red"', "m:image/png"],
      );
      expect(page.entries.length).toBeLessThanOrEqual(2);
      found.push(...page.entries.map(at));
      if (page.next === null) break;
      from = page.next;
    }
    expect(found).toEqual(inAll);
    expect(inAll.length).toBeGreaterThan(2);
    expect(reads).toBe(Math.floor(union.length / 2));

    const words = await index.wordsContaining(sb, area, "eta", 100);
    expect(new Map(words!)).toEqual(
      new Map(
        terms.filter((t) => t.startsWith(WORD) && t.includes("eta")).map((t) => [t, expected.get(t)!.length]),
      ),
    );
    expect(await index.wordsContaining(sb, area, "art", 3)).toBeNull();
    expect(await index.wordsContaining(sb, area, "qqq", 3)).toEqual([]);

    for (const id of ids) await index.remove(sb, [area], id);
    expect((await index.sizes(sb, area, terms)).sizes.every((n) => n === 0)).toBe(true);
    expect(await index.wordsContaining(sb, area, "a", 1000)).toEqual([]);
    expect(await index.page(sb, area, null, null, 10)).toEqual({ entries: [], next: null });
  }, 120_000);

  it("end as the writes were issued when puts and removals overlap in bursts", async () => {
    // Writes of one area queue behind the call in flight and share the next (Redis): issued
    // together, each still lands in the order it was issued.
    const sb = uniqueSandbox("si");
    const area: UsageScope = { kind: "session", id: "sess-1" };
    const r = rng(5);
    const live = new Map<string, IndexEntry>();
    const ids = Array.from({ length: 30 }, (_, i) => `burst${i}`);
    for (let burst = 0; burst < 25; burst++) {
      const writes: Promise<void>[] = [];
      for (let n = 1 + Math.floor(r.next() * 40); n > 0; n--) {
        const id = r.pick(ids);
        if (r.next() < 0.25) {
          writes.push(index.remove(sb, [area], id));
          live.delete(id);
        } else {
          const doc = entry(r, id, 1_700_000_000_000 + Math.floor(r.next() * 1000));
          writes.push(index.put(sb, [area], doc));
          live.set(id, doc);
        }
      }
      await Promise.all(writes);
    }
    const expected = postingsOf(live.values());
    const terms = [...expected.keys()];
    const { total, sizes } = await index.sizes(sb, area, terms);
    expect(total).toBe(live.size);
    expect(sizes).toEqual(terms.map((t) => expected.get(t)!.length));
    const all = await index.page(sb, area, null, null, 1000);
    expect(all.entries).toEqual(
      [...live.values()].sort((a, b) =>
        positionOf(Date.parse(a.storedAt), a.artifactId) < positionOf(Date.parse(b.storedAt), b.artifactId)
          ? -1
          : 1,
      ),
    );
    for (const term of terms) {
      const page = await index.page(sb, area, null, null, 1000, [term]);
      expect(page.entries.map((m) => m.artifactId).sort(), term).toEqual(
        [...live.values()]
          .filter((m) => termsOf(m).includes(term))
          .map((m) => m.artifactId)
          .sort(),
      );
    }
  }, 120_000);

  it("clear empties an area, postings included", async () => {
    const sb = uniqueSandbox("si");
    const area: UsageScope = { kind: "session", id: "sess-1" };
    const r = rng(5);
    for (let i = 0; i < 10; i++) await index.put(sb, [area], entry(r, `c${i}`, 1_700_000_000_000 + i));
    expect((await index.sizes(sb, area, [])).total).toBe(10);
    await index.clear(sb, area);
    expect((await index.sizes(sb, area, ["m:image/png"])).sizes).toEqual([0]);
    expect((await index.sizes(sb, area, [])).total).toBe(0);
    expect(await index.wordsContaining(sb, area, "eta", 100)).toEqual([]);
  });

  it("add (a rebuild's put) keeps an entry a write put meanwhile, and adds one that is not there", async () => {
    const sb = uniqueSandbox("si");
    const area: UsageScope = { kind: "session", id: "sess-1" };
    const r = rng(7);
    const newer = {
      ...entry(r, "a1", 1_700_000_000_000),
      mime: "image/png",
      summary: "written during the rebuild",
    };
    await index.put(sb, [area], newer);
    // What the rebuild read from storage before that write: kept out of the area that has a1, not
    // out of the other.
    const other: UsageScope = { kind: "user", id: "u-1" };
    await index.add(sb, [area, other], { ...newer, mime: "application/pdf", summary: "read by the rebuild" });
    await index.add(sb, [area], { ...entry(r, "a2", 1_700_000_000_001), mime: "text/csv" });
    const inOther = await index.page(sb, other, null, null, 10);
    expect(inOther.entries.map((e) => [e.artifactId, e.summary])).toEqual([["a1", "read by the rebuild"]]);
    // A posting of one entry, as a filter: it lets that entry through and no other.
    const onlyCsv = await index.page(sb, area, null, null, 10, undefined, ["m:text/csv"]);
    expect(onlyCsv.entries.map((e) => e.artifactId)).toEqual(["a2"]);
    const page = await index.page(sb, area, null, null, 10);
    const byId = new Map(page.entries.map((e) => [e.artifactId, e]));
    expect([...byId.keys()].sort()).toEqual(["a1", "a2"]);
    expect(byId.get("a1")!.summary).toBe("written during the rebuild");
    // Postings follow the entry that stayed.
    const { sizes } = await index.sizes(sb, area, ["m:image/png", "m:application/pdf", "m:text/csv"]);
    expect(sizes).toEqual([1, 0, 1]);
  });

  it("counts an area with no state as built in a sandbox indexed from empty, unless invalidated or spoilt", async () => {
    const sb = uniqueSandbox("fe");
    const area: UsageScope = { kind: "session", id: "s1" };
    const other: UsageScope = { kind: "user", id: "u1" };
    expect(await index.indexedFromEmpty(sb)).toBe(false);
    expect(await index.isBuilt(sb, area)).toBe(false);
    await index.markIndexedFromEmpty(sb);
    expect(await index.indexedFromEmpty(sb)).toBe(true);
    expect(await index.isBuilt(sb, area)).toBe(true);
    expect(await index.isBuilt(sb, other)).toBe(true);
    expect(await index.isBuilt(uniqueSandbox("fe-other"), area)).toBe(false);

    // An area whose writes were lost (invalidated) rebuilds, the sandbox's mark notwithstanding.
    await index.invalidate(sb, area);
    expect(await index.isBuilt(sb, area)).toBe(false);
    expect(await index.isBuilt(sb, other)).toBe(true);
    const first = await index.beginBuild(sb, area);
    expect(await index.finishBuild(sb, area, first)).toBe(true);
    expect(await index.isBuilt(sb, area)).toBe(true);

    // So does one whose rebuild a removal spoilt.
    const spoilt = await index.beginBuild(sb, other);
    await index.remove(sb, [other], "gone");
    expect(await index.finishBuild(sb, other, spoilt)).toBe(false);
    expect(await index.isBuilt(sb, other)).toBe(false);
  });

  it(
    "a shared index's switch goes off → settling → on, and turning it on drops the from-empty mark",
    async (ctx) => {
      // An index held in this process has no switch: it indexes every write (or defers, see search.ts).
      if (!index.indexing || !index.startIndexing) return ctx.skip();
      const sb = uniqueSandbox("sw");
      const area: UsageScope = { kind: "session", id: "s1" };
      expect(await index.indexing(sb)).toBe("off");
      await index.markIndexedFromEmpty(sb);
      expect(await index.startIndexing(sb)).toBe("settling");
      expect(await index.indexing(sb)).toBe("settling");
      expect(await index.indexedFromEmpty(sb)).toBe(false);
      expect(await index.isBuilt(sb, area)).toBe(false);
      // Settling lasts INDEXING_SETTLE_MS from the first call: later calls, one every 100 ms here,
      // do not extend it (if they did, this loop would run into the test's timeout).
      while ((await index.startIndexing(sb)) === "settling") await sleep(100);
      expect(await index.indexing(sb)).toBe("on");
      expect(await index.indexing(uniqueSandbox("sw-other"))).toBe("off");
    },
    INDEXING_SETTLE_MS + 5_000,
  );
});

describe("MemorySearchIndex.addMany (a fill of an index held in this process)", () => {
  const session: UsageScope = { kind: "session", id: "sess-1" };
  const user: UsageScope = { kind: "user", id: "u1" };
  const busy: UsageScope = { kind: "session", id: "sess-2" };
  const at = (m: IndexEntry) => `${m.artifactId}:${m.summary}`;

  /** Everything an index answers about an area: entries in order, each term's posting, the words. */
  async function answers(index: SearchIndex, sb: string, area: UsageScope, terms: string[]) {
    const all = await index.page(sb, area, null, null, 100_000);
    const postings = [];
    for (const term of terms)
      postings.push((await index.page(sb, area, null, null, 100_000, [term])).entries.map(at));
    const filtered = await index.page(
      sb,
      area,
      null,
      null,
      100_000,
      ["w:alpha"],
      ['k:"team"="red"', "m:image/png"],
    );
    const words = await index.wordsContaining(sb, area, "a", 100_000);
    return {
      entries: all.entries.map(at),
      postings,
      filtered: filtered.entries.map(at),
      sizes: await index.sizes(sb, area, terms),
      words: words?.sort(([a], [b]) => (a < b ? -1 : 1)),
    };
  }

  it("answers as add() one entry at a time does, around entries already there and writes during it", async () => {
    const r = rng(5);
    const sb = uniqueSandbox("fill");
    // More than one turn's worth, so a write lands while the fill runs.
    const docs = Array.from({ length: 2500 }, (_, i) =>
      entry(r, `f${i}`, 1_700_000_000_000 + Math.floor(r.next() * 1_000_000)),
    );
    const areasOf = (i: number) => [i % 3 === 0 ? busy : session, user];
    const one = new MemorySearchIndex();
    const many = new MemorySearchIndex();
    // One area had an entry before the fill (its own write: it stays), so it takes entries one by one.
    const early = { ...docs[0]!, summary: "written before the fill" };
    await one.put(sb, [busy], early);
    await many.put(sb, [busy], early);
    const during = { ...docs[1]!, summary: "written during the fill", mime: "text/csv" };
    for (let i = 0; i < docs.length; i++) await one.add(sb, areasOf(i), docs[i]!);
    await one.put(sb, [session, user], during);
    setImmediate(() => void many.put(sb, [session, user], during));
    await many.addMany(
      sb,
      docs.map((doc, i) => ({ areas: areasOf(i), doc })),
    );

    const terms = [...new Set([...docs, during].flatMap((d) => termsOf(d)))];
    for (const area of [session, user, busy]) {
      expect(await answers(many, sb, area, terms)).toEqual(await answers(one, sb, area, terms));
    }
    expect((await answers(many, sb, session, terms)).entries).toContain(at(during));
    expect((await answers(many, sb, busy, terms)).entries).toContain(at(early));

    // The filled areas take later writes and removals as any other.
    const late = entry(r, "late", 1_700_000_500_000);
    for (const index of [one, many]) {
      await index.remove(sb, [session, user], "f2");
      await index.put(sb, [session, user], { ...docs[4]!, summary: "updated after the fill" });
      await index.put(sb, [session, user], late);
    }
    for (const area of [session, user]) {
      expect(await answers(many, sb, area, terms)).toEqual(await answers(one, sb, area, terms));
    }
  });
});
