import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mapLimit } from "../src/concurrency.js";
import { newArtifactId } from "../src/grid.js";
import { DELETED, type SessionProvider, type SessionRecord } from "../src/sessions/provider.js";
import { sessionFixtures, uniqueSandbox } from "./fixtures.js";
import { makeRecord, makeSession } from "./helpers/records.js";
import { findSecrets, knownSecrets } from "./helpers/secrets.js";

/**
 * The SessionProvider contract (src/sessions/provider.ts), run unchanged against every provider in
 * test/fixtures.ts. Each test works in sandboxes of its own. How a provider treats malformed data
 * in its own backend (a miss) is internal to it and not part of this suite.
 */

/** Every session of a sandbox, following cursors; fails if the listing does not end. */
async function listAll(
  provider: SessionProvider,
  sandboxId: string,
  limit: number,
): Promise<{ pages: SessionRecord[][] }> {
  const pages: SessionRecord[][] = [];
  let cursor: string | null = null;
  do {
    const page = await provider.list(sandboxId, { limit, cursor });
    pages.push(page.sessions);
    cursor = page.cursor;
    if (pages.length > 10_000) throw new Error(`listing ${sandboxId} did not end`);
  } while (cursor !== null);
  return { pages };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(sessionFixtures())("SessionProvider contract: $name", (fixture) => {
  let provider: SessionProvider;
  const sandboxes: string[] = [];

  /** A fresh sandbox whose sessions are removed again after the suite. */
  const sandbox = (): string => {
    const id = uniqueSandbox("ss");
    sandboxes.push(id);
    return id;
  };
  const listedIds = async (sandboxId: string, limit = 100): Promise<string[]> =>
    (await listAll(provider, sandboxId, limit)).pages.flat().map((s) => s.sessionId);

  beforeAll(async () => {
    provider = await fixture.open();
  });

  afterAll(async () => {
    try {
      if (provider) {
        for (const id of sandboxes) {
          const ids = await listedIds(id, 500);
          await mapLimit(ids, 8, (sessionId) => provider.delete(id, sessionId));
        }
        await provider.close();
      }
    } finally {
      await fixture.dispose();
    }
  });

  describe("sessions", () => {
    it("creates once: true, then false for the same id, keeping the first record", async () => {
      const sb = sandbox();
      const first = makeSession(sb, "sess-1");
      expect(await provider.create(first)).toBe(true);
      expect(await provider.create({ ...first, userId: "mallory", meta: { second: true } })).toBe(false);
      expect(await provider.get(sb, "sess-1")).toStrictEqual(first);
    });

    it("lets exactly one of 50 concurrent creates of one id win", async () => {
      const sb = sandbox();
      const attempts = Array.from({ length: 50 }, (_, i) =>
        makeSession(sb, "contested", { userId: `user-${i}`, meta: { attempt: i } }),
      );
      const results = await Promise.all(attempts.map((record) => provider.create(record)));
      expect(results.filter((won) => won)).toHaveLength(1);
      const winner = attempts[results.indexOf(true)]!;
      expect(await provider.get(sb, "contested")).toStrictEqual(winner);
    });

    it("round-trips every field, including a null owner and empty meta", async () => {
      const sb = sandbox();
      const owned = makeSession(sb, "user_alice");
      const anonymous = makeSession(sb, "sess-anon", { userId: null, meta: {} });
      for (const record of [owned, anonymous]) {
        expect(await provider.create(record)).toBe(true);
        expect(await provider.get(sb, record.sessionId)).toStrictEqual(record);
      }
      expect(await provider.get(sb, "never-created")).toBeNull();
    });

    it("gives every reader its own copy of a session", async () => {
      const sb = sandbox();
      const record = makeSession(sb, "sess-copy", { meta: { team: { name: "red" } } });
      await provider.create(record);
      const first = (await provider.get(sb, "sess-copy"))!;
      (first.meta.team as { name: string }).name = "blue";
      first.userId = "user_mallory";
      expect(await provider.get(sb, "sess-copy")).toStrictEqual(record);
    });

    it("updates an existing session", async () => {
      const sb = sandbox();
      const record = makeSession(sb, "sess-up");
      await provider.create(record);
      const later = Date.now() + 60_000;
      const updated: SessionRecord = {
        ...record,
        lastAccessedAt: new Date(later).toISOString(),
        expiresAt: new Date(later + 86_400_000).toISOString(),
        meta: { extended: 1, note: "✓" },
      };
      await provider.update(updated);
      expect(await provider.get(sb, "sess-up")).toStrictEqual(updated);
    });

    it("deletes: true, then false, and the session is gone from get and list", async () => {
      const sb = sandbox();
      await provider.create(makeSession(sb, "sess-del"));
      await provider.create(makeSession(sb, "sess-keep"));
      expect(await provider.delete(sb, "sess-del")).toBe(true);
      expect(await provider.get(sb, "sess-del")).toBeNull();
      expect(await provider.delete(sb, "sess-del")).toBe(false);
      expect(await listedIds(sb)).toStrictEqual(["sess-keep"]);
      expect(await provider.delete(sb, "never-created")).toBe(false);
    });

    it("keeps sandboxes apart, even when one sandbox id extends another", async () => {
      const a = sandbox();
      const b = `${a}x`;
      sandboxes.push(b);
      const inA = makeSession(a, "shared-id", { userId: "alice" });
      const inB = makeSession(b, "shared-id", { userId: "bob" });
      expect(await provider.create(inA)).toBe(true);
      expect(await provider.create(inB)).toBe(true);
      await provider.create(makeSession(b, "only-in-b"));
      expect(await provider.get(a, "shared-id")).toStrictEqual(inA);
      expect(await provider.get(b, "shared-id")).toStrictEqual(inB);
      expect(await provider.get(a, "only-in-b")).toBeNull();
      expect(await listedIds(a)).toStrictEqual(["shared-id"]);
      expect((await listedIds(b)).sort()).toStrictEqual(["only-in-b", "shared-id"]);

      expect(await provider.delete(a, "shared-id")).toBe(true);
      expect(await provider.get(b, "shared-id")).toStrictEqual(inB);
    });
  });

  describe("list", () => {
    it("pages 250 sessions with a cursor, each exactly once, and no other sandbox's", async () => {
      const sb = sandbox();
      const neighbour = `${sb}x`;
      sandboxes.push(neighbour);
      const records = Array.from({ length: 250 }, (_, i) => makeSession(sb, `s-${i}`, { meta: { i } }));
      await mapLimit(records, 10, (record) => provider.create(record));
      await mapLimit(
        Array.from({ length: 5 }, (_, i) => makeSession(neighbour, `s-${i}`)),
        5,
        (record) => provider.create(record),
      );

      const { pages } = await listAll(provider, sb, 100);
      for (const page of pages) expect(page.length).toBeLessThanOrEqual(100);
      const listed = pages.flat();
      const ids = listed.map((s) => s.sessionId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toStrictEqual(records.map((r) => r.sessionId).sort());
      const byId = new Map(records.map((r) => [r.sessionId, r]));
      for (const session of listed) expect(session).toStrictEqual(byId.get(session.sessionId));

      expect((await listedIds(neighbour)).sort()).toStrictEqual(["s-0", "s-1", "s-2", "s-3", "s-4"]);
    });

    it("is empty with a null cursor for a sandbox without sessions", async () => {
      expect(await provider.list(sandbox(), { limit: 10 })).toStrictEqual({ sessions: [], cursor: null });
    });

    it("still lists expired sessions until they are deleted, so cleanup can find them", async () => {
      const sb = sandbox();
      const past = Date.now() - 7 * 86_400_000;
      const expired = makeSession(sb, "sess-expired", {
        createdAt: new Date(past).toISOString(),
        lastAccessedAt: new Date(past).toISOString(),
        expiresAt: new Date(past + 3_600_000).toISOString(),
      });
      const live = makeSession(sb, "sess-live");
      expect(await provider.create(expired)).toBe(true);
      expect(await provider.create(live)).toBe(true);
      // Past any short grace period a backend might give a record whose expiry has passed.
      await sleep(1_100);
      const listed = (await listAll(provider, sb, 10)).pages.flat();
      expect(listed.find((s) => s.sessionId === "sess-expired")).toStrictEqual(expired);
      expect(listed).toHaveLength(2);

      expect(await provider.delete(sb, "sess-expired")).toBe(true);
      expect(await listedIds(sb)).toStrictEqual(["sess-live"]);
    });
  });

  describe("record cache", () => {
    // Records read back carry every optional field, undefined when unset (one shape for all):
    // toEqual, which takes an undefined field as absent.
    const cached = (sandboxId: string) =>
      makeRecord({ sandboxId, sessionId: "sess-c" }, { bytes: 7, sha256: "a".repeat(64) });

    it("sets, gets and deletes a record", async () => {
      const sb = sandbox();
      const record = cached(sb);
      expect(await provider.cacheGet(sb, record.artifactId)).toBeNull();
      await provider.cacheSet(record, 60);
      expect(await provider.cacheGet(sb, record.artifactId)).toEqual(record);

      const changed = { ...record, summary: "changed", meta: { v: 2 } };
      await provider.cacheSet(changed, 60);
      expect(await provider.cacheGet(sb, record.artifactId)).toEqual(changed);

      await provider.cacheDelete(sb, record.artifactId);
      expect(await provider.cacheGet(sb, record.artifactId)).toBeNull();
      // Deleting what is not there is not an error.
      await provider.cacheDelete(sb, record.artifactId);
    });

    it("gives every reader its own copy of a cached record", async () => {
      const sb = sandbox();
      const record = { ...cached(sb), meta: { team: { name: "red" } } };
      await provider.cacheSet(record, 60);
      const first = (await provider.cacheGet(sb, record.artifactId))!;
      (first.meta.team as { name: string }).name = "blue";
      first.summary = "changed by a reader";
      expect(await provider.cacheGet(sb, record.artifactId)).toEqual(record);
    });

    it("round-trips a pending record with its upload limits", async () => {
      const sb = sandbox();
      const pending = makeRecord(
        { sandboxId: sb, sessionId: "sess-c" },
        { status: "pending", upload: { maxBytes: 10, mime: null, expiresAt: new Date().toISOString() } },
      );
      await provider.cacheSet(pending, 60);
      expect(await provider.cacheGet(sb, pending.artifactId)).toEqual(pending);
    });

    it("gets many in the order asked, with null for each miss", async () => {
      const sb = sandbox();
      const [a, b, c] = [cached(sb), cached(sb), cached(sb)] as const;
      await provider.cacheSetMany([a, b, c], 60);
      const missing = newArtifactId();
      expect(
        await provider.cacheGetMany(sb, [c.artifactId, missing, a.artifactId, b.artifactId, missing]),
      ).toEqual([c, null, a, b, null]);
      expect(await provider.cacheGetMany(sb, [])).toEqual([]);
      await provider.cacheSetMany([], 60);
    });

    it("keeps sandboxes apart for the same artifact id", async () => {
      const a = sandbox();
      const b = sandbox();
      const inA = cached(a);
      const inB = makeRecord({ sandboxId: b, sessionId: "other", artifactId: inA.artifactId });
      await provider.cacheSet(inA, 60);
      expect(await provider.cacheGet(b, inA.artifactId)).toBeNull();
      await provider.cacheSet(inB, 60);
      expect(await provider.cacheGet(a, inA.artifactId)).toEqual(inA);
      expect(await provider.cacheGet(b, inA.artifactId)).toEqual(inB);
      await provider.cacheDelete(b, inA.artifactId);
      expect(await provider.cacheGet(a, inA.artifactId)).toEqual(inA);
    });

    it("forgets a record once its ttlSeconds have passed", async () => {
      const sb = sandbox();
      const short = cached(sb);
      const long = cached(sb);
      await provider.cacheSet(short, 1);
      await provider.cacheSetMany([long], 60);
      expect(await provider.cacheGet(sb, short.artifactId)).toEqual(short);
      await sleep(1_200);
      expect(await provider.cacheGet(sb, short.artifactId)).toBeNull();
      expect(await provider.cacheGetMany(sb, [short.artifactId, long.artifactId])).toEqual([null, long]);
    });

    it("applies ttlSeconds to every record of cacheSetMany", async () => {
      const sb = sandbox();
      const records = [cached(sb), cached(sb)];
      await provider.cacheSetMany(records, 1);
      await sleep(1_200);
      expect(
        await provider.cacheGetMany(
          sb,
          records.map((r) => r.artifactId),
        ),
      ).toEqual([null, null]);
    });
  });

  describe("health and describe", () => {
    it("reports healthy", async () => {
      const health = await provider.health();
      expect(health.ok).toBe(true);
      expect(typeof health.detail).toBe("string");
    });

    it("describes itself without secrets", () => {
      const facts = provider.describe();
      expect(facts).toBeTypeOf("object");
      expect(JSON.parse(JSON.stringify(facts))).toBeTypeOf("object");
      expect(findSecrets(facts, knownSecrets())).toStrictEqual([]);
    });
  });
  describe("deletion marks", () => {
    it("a pending conditional delete is settled once: into a deletion, or cancelled by a write", async () => {
      const sb = sandbox();
      const a = newArtifactId();
      expect(await provider.deleteMark(sb, a)).toBeNull();
      expect(await provider.markDeletePending(sb, a, "t1", 60_000)).toBe(true);
      expect(await provider.markDeletePending(sb, a, "t2", 60_000)).toBe(false);
      expect(await provider.deleteMark(sb, a)).toBe("t1");
      expect((await provider.deleteMark(sb, a)) === DELETED).toBe(false);
      // A write cancels it; the delete's own settle then fails.
      expect(await provider.settleDeleteMark(sb, a, "t1", false, 60_000)).toBe(true);
      expect(await provider.settleDeleteMark(sb, a, "t1", true, 60_000)).toBe(false);
      expect(await provider.deleteMark(sb, a)).toBeNull();
      // Settled as a deletion: a deletion mark, which nothing pending can replace.
      expect(await provider.markDeletePending(sb, a, "t3", 60_000)).toBe(true);
      expect(await provider.settleDeleteMark(sb, a, "t3", true, 60_000)).toBe(true);
      expect(await provider.settleDeleteMark(sb, a, "t3", false, 60_000)).toBe(false);
      expect((await provider.deleteMark(sb, a)) === DELETED).toBe(true);
      expect(await provider.markDeletePending(sb, a, "t4", 60_000)).toBe(false);
      // A pending mark runs out.
      const b = newArtifactId();
      expect(await provider.markDeletePending(sb, b, "t5", 50)).toBe(true);
      await sleep(120);
      expect(await provider.deleteMark(sb, b)).toBeNull();
    });
  });
});
