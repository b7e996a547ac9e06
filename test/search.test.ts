import { afterEach, beforeEach, describe, expect, inject, it, test, vi } from "vitest";
import {
  AccessDeniedError,
  type ArtifactMetadata,
  ArtifactStore,
  type ArtifactStoreOptions,
  type SearchPage,
  type SearchQuery,
  ValidationError,
} from "../src/index.js";
import { RecordStore } from "../src/records.js";
import { MemorySearchIndex } from "../src/sessions/search-index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";
import { forgetSandboxInRedis, markSandboxSearched } from "./helpers/redis-keys.js";
import { rng } from "./helpers/rng.js";

const MIMES = ["image/png", "image/jpeg", "application/pdf", "text/plain", "text/markdown"] as const;
const FOLDERS = ["reports", "img", "notes", "reports/2026"] as const;
const TEAMS = ["red", "blue", "green"] as const;
const WORDS = ["alpha", "bravo", "charlie", "delta"] as const;

/** The expected answer, computed the slow, obvious way from full listings. */
function bruteForce(
  all: ArtifactMetadata[],
  q: SearchQuery,
  owners: Map<string, string>,
): ArtifactMetadata[] {
  const globRe = (glob: string) =>
    new RegExp(
      `^${glob
        .split("**")
        .map((part) =>
          part
            .split("*")
            .map((p) => p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replaceAll("?", "[^/]"))
            .join("[^/]*"),
        )
        .join(".*")}$`,
    );
  return all
    .filter((m) => (q.sessionId ? m.sessionId === q.sessionId : owners.get(m.sessionId) === q.userId))
    .filter((m) => {
      if (!q.mime) return true;
      const mime = m.mime.toLowerCase();
      const want = q.mime.toLowerCase();
      return want.endsWith("/*") ? mime.startsWith(want.slice(0, -1)) : mime.split(";")[0]!.trim() === want;
    })
    .filter((m) => !q.filename || (m.filename !== null && globRe(q.filename).test(m.filename)))
    .filter(
      (m) =>
        !q.meta ||
        Object.entries(q.meta).every(
          ([k, v]) => k in m.meta && JSON.stringify(m.meta[k]) === JSON.stringify(v),
        ),
    )
    .filter((m) => !q.storedAfter || Date.parse(m.storedAt) >= Date.parse(String(q.storedAfter)))
    .filter((m) => !q.storedBefore || Date.parse(m.storedAt) < Date.parse(String(q.storedBefore)))
    .filter((m) => {
      if (!q.text) return true;
      const hay = [
        m.filename ?? "",
        m.summary,
        ...Object.values(m.meta).map((v) => (typeof v === "string" ? v : JSON.stringify(v))),
      ]
        .join("\n")
        .toLowerCase();
      return q.text
        .toLowerCase()
        .split(/\s+/)
        .every((w) => hay.includes(w));
    })
    .sort(
      (a, b) => Date.parse(b.storedAt) - Date.parse(a.storedAt) || (a.artifactId < b.artifactId ? 1 : -1),
    );
}

async function everyPage(
  store: ArtifactStore,
  q: SearchQuery,
  limit: number,
  scan = false,
): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const page: SearchPage = scan
      ? await store.searchByScan(q, { limit, cursor })
      : await store.search(q, { limit, cursor });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    ids.push(...page.items.map((m) => m.artifactId));
    cursor = page.cursor;
    if (cursor === null) return ids;
  }
  throw new Error("search never ended");
}

describe.each(storeConfigs().map((f) => f.name))("search on %s", (name) => {
  let fixture: Fixture<ArtifactStoreOptions>;
  let options: ArtifactStoreOptions;
  let store: ArtifactStore;

  beforeEach(async () => {
    fixture = storeConfigs().find((f) => f.name === name)!;
    options = await fixture.open();
    // A sandbox that has searched before: Redis indexes its writes from the start (search-switch.test.ts
    // covers one that has not).
    if (options.sessionProvider === "redis")
      await markSandboxSearched(inject("services").redisUrl!, options.sandboxId!);
    store = new ArtifactStore({ ...options, defaultTtl: null });
  });

  afterEach(async () => {
    await store.close();
    await fixture.dispose();
  });

  /**
   * Loses the search index as a Redis flush or a restart of the process would (false: memory
   * storage, where the index lives and dies with the data).
   */
  async function loseIndex(): Promise<boolean> {
    const redisUrl = inject("services").redisUrl;
    if (options.sessionProvider === "redis" && redisUrl) {
      await forgetSandboxInRedis(redisUrl, options.sandboxId!);
    } else if (options.storageProvider === "filesystem") {
      await store.close();
      store = new ArtifactStore({ ...options, defaultTtl: null });
    } else return false;
    return true;
  }

  /** Random artifacts of three users over several sessions; returns every one and the session owners. */
  async function seed(count: number, seedValue: number) {
    const r = rng(seedValue);
    const owners = new Map<string, string>();
    const sessions: [string, string][] = [];
    for (const user of ["alice", "bob", "carol"]) {
      for (const s of [`user_${user}`, `${user}-a`, `${user}-b`]) {
        sessions.push([s, user]);
        owners.set(s, user);
      }
    }
    const items = Array.from({ length: count }, (_, i) => {
      const [sessionId, userId] = r.pick(sessions);
      const mime = r.pick(MIMES);
      const ext = mime.split("/")[1]!;
      return {
        data: `content ${i}`,
        options: {
          sessionId,
          userId,
          mime,
          filename: `${r.pick(FOLDERS)}/${r.pick(WORDS)}-${i}.${ext}`,
          summary: `${r.pick(WORDS)} summary`,
          meta: { team: r.pick(TEAMS), n: i % 3 },
        },
      };
    });
    for (let i = 0; i < items.length; i += 16) {
      await Promise.all(items.slice(i, i + 16).map((it) => store.store(it.data, it.options)));
    }
    const all: ArtifactMetadata[] = [];
    for (const [s] of sessions) all.push(...(await store.listBySession(s)));
    return { all, owners, r };
  }

  function randomQuery(r: ReturnType<typeof rng>, all: ArtifactMetadata[]): SearchQuery {
    const times = all.map((m) => Date.parse(m.storedAt)).sort((a, b) => a - b);
    const q: SearchQuery =
      r.next() < 0.3
        ? { sessionId: r.pick(all).sessionId }
        : { userId: r.pick(["alice", "bob", "carol", "nobody"]) };
    if (r.next() < 0.4) q.mime = r.pick(["image/*", "text/*", "application/pdf", "text/plain"]);
    if (r.next() < 0.3)
      q.filename = r.pick(["reports/*", "reports/**", "img/*.png", "*/alpha-*", "notes/?ravo-*"]);
    if (r.next() < 0.3) q.meta = r.next() < 0.5 ? { team: r.pick(TEAMS) } : { team: r.pick(TEAMS), n: 1 };
    if (r.next() < 0.3) q.storedAfter = new Date(r.pick(times)).toISOString();
    if (r.next() < 0.3) q.storedBefore = new Date(r.pick(times)).toISOString();
    if (r.next() < 0.2) q.text = r.pick(["alpha", "BRAVO summary", "delta"]);
    return q;
  }

  test("answers as a brute-force scan does, page by page, for random queries over random data", async () => {
    const { all, owners, r } = await seed(240, 14);
    for (let i = 0; i < 40; i++) {
      const q = randomQuery(r, all);
      const expected = bruteForce(all, q, owners).map((m) => m.artifactId);
      const limit = r.pick([1, 7, 50, 1000]);
      expect(await everyPage(store, q, limit), JSON.stringify(q)).toEqual(expected);
      if (i % 8 === 0) expect(await everyPage(store, q, limit, true), JSON.stringify(q)).toEqual(expected);
    }
  }, 180_000);

  test("every posting condition, through updates, moves and deletes, answers as brute force does", async () => {
    const r = rng(2026);
    const owners = new Map<string, string>();
    const sessions: [string, string][] = [];
    for (const user of ["dora", "emil"]) {
      for (const s of [`${user}-x`, `${user}-y`]) {
        sessions.push([s, user]);
        owners.set(s, user);
      }
    }
    const mimes = ["image/png", "IMAGE/SVG+XML", "text/plain; charset=utf-8", "application/pdf", "Text/CSV"];
    const words = ["Alpha", "ALPHABET", "beta", "gamma-ray", "Zeta_9", "Ωmega", "été"];
    const metaOf = (i: number) => {
      const meta: Record<string, unknown> = { team: r.pick(TEAMS), n: i % 4, ok: r.next() < 0.5 };
      if (r.next() < 0.3) meta.note = `${r.pick(words)} ${r.pick(words)}`;
      if (r.next() < 0.2) meta.nested = { k: r.pick(TEAMS) };
      if (r.next() < 0.1) meta.none = null;
      return meta;
    };
    const put = (i: number) => {
      const [sessionId, userId] = r.pick(sessions);
      return store.store(`d${i}`, {
        sessionId,
        userId,
        mime: r.pick(mimes),
        filename: `${r.pick(FOLDERS)}/${r.pick(words)}-${i}.${r.pick(["png", "txt", "PDF"])}`,
        summary: `${r.pick(words)} and ${r.pick(words)} #${i}`,
        meta: metaOf(i),
      });
    };
    for (let i = 0; i < 90; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => put(i + j)));
    const listAll = async () => {
      const all: ArtifactMetadata[] = [];
      for (const [s] of sessions) all.push(...(await store.listBySession(s)));
      return all;
    };
    const query = (all: ArtifactMetadata[]): SearchQuery => {
      const q: SearchQuery =
        r.next() < 0.3 ? { sessionId: r.pick(sessions)[0] } : { userId: r.pick(["dora", "emil"]) };
      const pick = r.next();
      if (pick < 0.2)
        q.mime = r.pick(["image/*", "TEXT/*", "text/plain", "image/svg+xml", "video/*", "text/csv"]);
      else if (pick < 0.4)
        q.meta = r.pick<Record<string, unknown>>([
          { team: r.pick(TEAMS) },
          { ok: true },
          { n: 2, team: r.pick(TEAMS) },
          { nested: { k: "red" } },
          { none: null },
          { team: "nobody" },
        ]);
      else if (pick < 0.7)
        q.text = r.pick([
          "alpha",
          "lph",
          "ALPHABET",
          "ray",
          "gamma-ray",
          "zeta_9",
          "ωmega",
          "ÉTÉ",
          "a",
          "#1",
          "red",
          "nothing-has-this",
          "alpha beta",
          r.pick(all).artifactId.slice(0, 6),
        ]);
      else if (pick < 0.85)
        q.filename = r.pick(["img/*", "notes/alpha*", "**-1?.png", "reports/2026/*.PDF", "*/beta-*"]);
      if (r.next() < 0.3) q.text = r.pick(["alpha", "beta", "mega", "nope"]);
      if (r.next() < 0.2) q.storedAfter = r.pick(all).storedAt;
      return q;
    };
    const compare = async (rounds: number) => {
      const all = await listAll();
      for (let i = 0; i < rounds; i++) {
        const q = query(all);
        const expected = bruteForce(all, q, owners).map((m) => m.artifactId);
        expect(await everyPage(store, q, r.pick([3, 1000])), JSON.stringify(q)).toEqual(expected);
      }
      return all;
    };
    let all = await compare(60);

    // Updates change every indexed field; moves rename; deletes take entries out of their postings.
    for (const m of all.slice(0, 30)) {
      const op = r.next();
      if (op < 0.3)
        await store.updateMetadata(m.artifactId, {
          mime: r.pick(mimes),
          summary: `${r.pick(words)} updated`,
          meta: metaOf(1),
        });
      else if (op < 0.55)
        await store.moveFile(m.artifactId, {
          newFilename: `moved/${r.pick(words)}.txt`,
          newMeta: { team: "moved" },
        });
      else if (op < 0.8) await store.delete(m.artifactId);
      else await store.updateMetadata(m.artifactId, { filename: `renamed-${r.pick(words)}.bin` });
    }
    for (let i = 100; i < 110; i++) await put(i);
    all = await compare(60);
    expect((await everyPage(store, { userId: "dora", meta: { team: "moved" } }, 1000)).sort()).toEqual(
      all
        .filter((m) => owners.get(m.sessionId) === "dora" && m.meta.team === "moved")
        .map((m) => m.artifactId)
        .sort(),
    );
  }, 180_000);

  test("follows updates and deletes, and a lost index is rebuilt from storage", async () => {
    const { all, owners } = await seed(60, 7);
    const victim = all.find((m) => owners.get(m.sessionId) === "alice")!;
    await store.delete(victim.artifactId);
    const renamed = all.find(
      (m) => owners.get(m.sessionId) === "alice" && m.artifactId !== victim.artifactId,
    )!;
    await store.updateMetadata(renamed.artifactId, { meta: { team: "purple" } });
    const aliceIds = () => everyPage(store, { userId: "alice" }, 1000);
    const before = await aliceIds();
    expect(before).not.toContain(victim.artifactId);
    expect(
      (await store.search({ userId: "alice", meta: { team: "purple" } })).items.map((m) => m.artifactId),
    ).toEqual([renamed.artifactId]);

    if (!(await loseIndex())) return;
    expect(await aliceIds()).toEqual(before);
  });

  test("a sandbox empty when the store opened needs no rebuild from storage; one with older artifacts does", async () => {
    // Memory storage indexes nothing until the first search (the next test).
    if (name === "memory") return;
    const lists = vi.spyOn(RecordStore.prototype, "list");
    try {
      await store.backends();
      for (let i = 0; i < 5; i++) {
        await store.store(`note ${i}`, { userId: "erin", sessionId: "erin-s", filename: `n/${i}.txt` });
      }
      const ids = async () =>
        (await store.search({ userId: "erin", text: "n/" })).items.map((m) => m.filename);
      expect((await ids()).sort()).toEqual(["n/0.txt", "n/1.txt", "n/2.txt", "n/3.txt", "n/4.txt"]);
      // Storage was listed for one key at a time only (to see the sandbox empty, to find a
      // session's owner): never whole, to rebuild an area.
      expect(lists).toHaveBeenCalled();
      expect(lists.mock.calls.filter(([, o]) => o.limit !== 1)).toEqual([]);

      if (!(await loseIndex())) return;
      lists.mockClear();
      expect((await ids()).sort()).toEqual(["n/0.txt", "n/1.txt", "n/2.txt", "n/3.txt", "n/4.txt"]);
      // The index was lost with artifacts in storage: the first search read the area from a listing
      // (rebuilt it, or with Redis scanned it until indexing is back on: search-switch.test.ts).
      expect(lists.mock.calls.some(([, o]) => o.limit > 1)).toBe(true);
    } finally {
      lists.mockRestore();
    }
  });

  test("with storage and index both in memory, writes are indexed only once the sandbox is searched", async () => {
    if (name !== "memory") return;
    const lists = vi.spyOn(RecordStore.prototype, "list");
    const puts = vi.spyOn(MemorySearchIndex.prototype, "put");
    try {
      const stored: string[] = [];
      for (let i = 0; i < 5; i++) {
        stored.push(
          await store.store(`note ${i}`, { userId: "erin", sessionId: "erin-s", filename: `n/${i}.txt` }),
        );
      }
      await store.delete(stored.shift()!);
      expect(puts).not.toHaveBeenCalled();
      const names = async () =>
        (await store.search({ userId: "erin", text: "n/" })).items.map((m) => m.filename).sort();
      expect(await names()).toEqual(["n/1.txt", "n/2.txt", "n/3.txt", "n/4.txt"]);
      // The first search filled the index from one listing of the sandbox (held in memory too).
      expect(lists.mock.calls.filter(([, o]) => o.limit !== 1).map(([prefix]) => prefix)).toEqual([
        `grid/${options.sandboxId}/`,
      ]);
      lists.mockClear();
      await store.store("note 5", { userId: "erin", sessionId: "erin-s", filename: "n/5.txt" });
      expect(puts).toHaveBeenCalled();
      await store.delete(stored[0]!);
      expect(await names()).toEqual(["n/2.txt", "n/3.txt", "n/4.txt", "n/5.txt"]);
      expect(
        (await store.search({ sessionId: "erin-s", filename: "n/5.txt" })).items.map((m) => m.filename),
      ).toEqual(["n/5.txt"]);
      expect(lists.mock.calls.filter(([, o]) => o.limit !== 1)).toEqual([]);
    } finally {
      lists.mockRestore();
      puts.mockRestore();
    }
  });

  test("after a restart, one user's first search indexes the whole sandbox when the index is this process's", async () => {
    const { all, owners } = await seed(45, 11);
    const lists = vi.spyOn(RecordStore.prototype, "list");
    try {
      if (!(await loseIndex()) || options.sessionProvider === "redis") return;
      lists.mockClear();
      const ids = (user: string) => everyPage(store, { userId: user }, 1000);
      const expected = (user: string) =>
        all
          .filter((m) => owners.get(m.sessionId) === user)
          .sort(
            (x, y) =>
              Date.parse(y.storedAt) - Date.parse(x.storedAt) || (x.artifactId < y.artifactId ? 1 : -1),
          )
          .map((m) => m.artifactId);
      expect(await ids("alice")).toEqual(expected("alice"));
      // One listing of the sandbox (in pages) filled every area.
      const filled = lists.mock.calls.length;
      expect(filled).toBeGreaterThan(0);
      expect(lists.mock.calls.every(([prefix]) => prefix === `grid/${options.sandboxId}/`)).toBe(true);
      expect(await ids("bob")).toEqual(expected("bob"));
      expect(await ids("carol")).toEqual(expected("carol"));
      const session = all[0]!.sessionId;
      const inSession = await everyPage(store, { sessionId: session }, 1000);
      expect(new Set(inSession)).toEqual(
        new Set(all.filter((m) => m.sessionId === session).map((m) => m.artifactId)),
      );
      expect(lists.mock.calls.length).toBe(filled);
      // Writes and deletes after the fill are followed as before.
      await store.delete(expected("bob")[0]!);
      expect(await ids("bob")).toEqual(expected("bob").slice(1));
    } finally {
      lists.mockRestore();
    }
  });

  test("after a restart, warmSearchIndex fills the index once, and a search during it waits for it", async () => {
    const { all, owners } = await seed(45, 12);
    const lists = vi.spyOn(RecordStore.prototype, "list");
    try {
      if (!(await loseIndex()) || options.sessionProvider === "redis") {
        // An index that outlives the process (Redis) has nothing to warm.
        expect(await store.warmSearchIndex()).toBe(false);
        return;
      }
      lists.mockClear();
      const warming = store.warmSearchIndex();
      const during = everyPage(store, { userId: "alice" }, 1000);
      expect(await warming).toBe(true);
      const expected = (user: string) =>
        new Set(all.filter((m) => owners.get(m.sessionId) === user).map((m) => m.artifactId));
      expect(new Set(await during)).toEqual(expected("alice"));
      const filled = lists.mock.calls.length;
      expect(filled).toBeGreaterThan(0);
      expect(lists.mock.calls.every(([prefix]) => prefix === `grid/${options.sandboxId}/`)).toBe(true);
      // Every area is built: neither searches nor a second warm-up list storage again.
      expect(new Set(await everyPage(store, { userId: "bob" }, 1000))).toEqual(expected("bob"));
      expect(new Set(await everyPage(store, { sessionId: all[0]!.sessionId }, 1000))).toEqual(
        new Set(all.filter((m) => m.sessionId === all[0]!.sessionId).map((m) => m.artifactId)),
      );
      expect(await store.warmSearchIndex()).toBe(false);
      expect(lists.mock.calls.length).toBe(filled);
    } finally {
      lists.mockRestore();
    }
  });

  test("scopes: a user's own-scope artifacts only for that user, shared ones for anyone", async () => {
    await store.store("mine", { userId: "alice", scope: "user", filename: "own/plan.txt", meta: { k: "v" } });
    await store.store("session", { userId: "alice", sessionId: "alice-s", filename: "own/draft.txt" });
    await store.store("shared", { scope: "sandbox", filename: "own/handbook.txt", meta: { k: "v" } });
    await store.store("bob's", { userId: "bob", scope: "user", filename: "own/bob.txt" });
    const names = async (q: SearchQuery, scan = false) =>
      (scan ? await store.searchByScan(q) : await store.search(q)).items.map((m) => m.filename);
    const check = async () => {
      for (const scan of [false, true]) {
        // Stored within the same millisecond they may tie on time (then the id orders them): compare as sets.
        expect((await names({ userId: "alice", text: "own" }, scan)).sort()).toEqual([
          "own/draft.txt",
          "own/plan.txt",
        ]);
        expect(await names({ userId: "alice", scope: "user" }, scan)).toEqual(["own/plan.txt"]);
        expect(await names({ userId: "bob", text: "plan" }, scan)).toEqual([]);
        expect(await names({ userId: "bob", scope: "user" }, scan)).toEqual(["own/bob.txt"]);
        expect(await names({ userId: "bob", scope: "sandbox", meta: { k: "v" } }, scan)).toEqual([
          "own/handbook.txt",
        ]);
        expect(await names({ scope: "sandbox" }, scan)).toEqual(["own/handbook.txt"]);
      }
      // Results carry the keys listings give.
      const own = (await store.search({ userId: "alice", scope: "user" })).items[0]!;
      expect(own.key).toBe((await store.listByUser("alice"))[0]!.key);
      const shared = (await store.search({ scope: "sandbox", userId: "carol" })).items[0]!;
      expect(shared.key).toBe((await store.listShared())[0]!.key);
    };
    await check();
    for (const bad of [
      { scope: "user" },
      { scope: "sandbox", sessionId: "alice-s" },
      { scope: "session" },
      { scope: "everything", userId: "alice" },
    ])
      await expect(store.search(bad as SearchQuery)).rejects.toBeInstanceOf(ValidationError);

    // Rebuilt from storage, the scope areas answer the same.
    if (!(await loseIndex())) return;
    await check();
  });

  test("access rules as for listings, and expired artifacts are not found", async () => {
    await store.store("mine", { userId: "alice", filename: "a.txt" });
    await store.store("theirs", { userId: "bob", sessionId: "bob-private", filename: "b.txt" });
    await expect(store.search({ sessionId: "bob-private", userId: "alice" })).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    expect((await store.search({ userId: "alice" })).items.map((m) => m.filename)).toEqual(["a.txt"]);
    await expect(store.search({ mime: "image/*" })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.search({ userId: "../x" })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.search({ userId: "alice" }, { cursor: "bogus" })).rejects.toBeInstanceOf(
      ValidationError,
    );

    await store.store("short-lived", { userId: "alice", filename: "soon.txt", ttl: 1 });
    expect((await store.search({ userId: "alice", filename: "soon.txt" })).items).toHaveLength(1);
    await new Promise((done) => setTimeout(done, 1100));
    expect((await store.search({ userId: "alice", filename: "soon.txt" })).items).toHaveLength(0);
  });
});

describe("filename globs", () => {
  it("match as documented and stay fast on patterns with many stars", async () => {
    const { compileGlob } = await import("../src/search/glob.js");
    const cases: [string, string, boolean][] = [
      ["reports/*.pdf", "reports/q1.pdf", true],
      ["reports/*.pdf", "reports/2026/q1.pdf", false],
      ["reports/**.pdf", "reports/2026/q1.pdf", true],
      ["**/q1.pdf", "reports/2026/q1.pdf", true],
      ["*", "a/b", false],
      ["**", "a/b", true],
      ["notes/?ravo-*", "notes/bravo-1.txt", true],
      ["a?c", "a/c", false],
      ["a*a", "a", false],
      ["*/*", "a/b/c", false],
    ];
    for (const [glob, name, expected] of cases)
      expect(compileGlob(glob)(name), `${glob} ${name}`).toBe(expected);
    // A regular expression of this shape backtracks for longer than the test's timeout.
    expect(compileGlob(`${"*a".repeat(400)}b`)("a".repeat(1000))).toBe(false);
  });
});
