import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AccessDeniedError, ConflictError } from "../src/errors.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";

/**
 * A store writes into a session it resolved lately without waiting for Redis first, and checks
 * the session again while the bytes go up. Two instances share Redis and a filesystem root: when
 * one deletes a session and another user takes its name, a write the first instance had already
 * started on its remembered session must not be acknowledged, and must leave nothing behind.
 */

const services = inject("services");
const redisUrl = services.redisUrl;

describe.skipIf(!redisUrl)("writes into a remembered session (filesystem + Redis, two instances)", () => {
  let root: string;
  let sandboxId: string;
  let a: ArtifactStore;
  let b: ArtifactStore;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "chuk-reuse-"));
    sandboxId = uniqueSandbox("reuse");
    const options = {
      storageProvider: "filesystem",
      fsRoot: root,
      sessionProvider: "redis",
      redisUrl: redisUrl!,
      sandboxId,
    } as const;
    a = new ArtifactStore(options);
    b = new ArtifactStore(options);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await rm(root, { recursive: true, force: true });
  });

  it("refuses, and removes, a write into a session another user took meanwhile", async () => {
    const sessionId = `room-${Date.now()}`;
    const first = await a.store("one", { sessionId, userId: "alice" });
    const second = await a.store("two", { sessionId, userId: "alice" }); // from the remembered session
    expect(await a.readFile(second, { sessionId, userId: "alice" })).toBe("two");

    expect(await b.deleteSession(sessionId, { userId: "alice" })).toBe(2);
    await b.createSession({ sessionId, userId: "bob" });

    await expect(a.store("three", { sessionId, userId: "alice" })).rejects.toBeInstanceOf(AccessDeniedError);
    expect(await b.listBySession(sessionId, { userId: "bob" })).toHaveLength(0);
    expect(await b.exists(first)).toBe(false);

    // A trusted call (no userId) that had remembered alice's session: refused, nothing kept.
    const c = new ArtifactStore({
      storageProvider: "filesystem",
      fsRoot: root,
      sessionProvider: "redis",
      redisUrl: redisUrl!,
      sandboxId,
    });
    try {
      const other = `desk-${Date.now()}`;
      await c.store("mine", { sessionId: other, userId: "carol" });
      await b.deleteSession(other);
      await b.createSession({ sessionId: other, userId: "dave" });
      await expect(c.store("late", { sessionId: other })).rejects.toBeInstanceOf(ConflictError);
      expect(await b.listBySession(other, { userId: "dave" })).toHaveLength(0);
      // The next write resolves the session afresh and lands, owned by its new owner.
      const fresh = await c.store("after", { sessionId: other });
      expect((await b.metadata(fresh, { userId: "dave" })).userId).toBe("dave");
    } finally {
      await c.close();
    }
  });

  it("keeps writing into a remembered session while it is unchanged", async () => {
    const sessionId = `steady-${Date.now()}`;
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await a.store(`n${i}`, { sessionId, userId: "erin" }));
    const listed = await b.listBySession(sessionId, { userId: "erin" });
    expect(listed.map((m) => m.artifactId).sort()).toEqual([...ids].sort());
    expect(listed.every((m) => m.userId === "erin")).toBe(true);
  });

  it("resolves a new session once for a burst of writes into it, and checks a burst with few reads", async () => {
    const sessionId = `burst-${Date.now()}`;
    const { sessions } = await a.backends();
    const get = sessions.get.bind(sessions);
    let reads = 0;
    sessions.get = (sandbox, id) => {
      if (id === sessionId) reads++;
      return get(sandbox, id);
    };
    try {
      const results = await Promise.allSettled([
        ...Array.from({ length: 32 }, (_, i) => a.store(`b${i}`, { sessionId, userId: "frank" })),
        ...Array.from({ length: 4 }, () => a.store("not mine", { sessionId, userId: "grace" })),
      ]);
      // Both callers find no session and try to create it; storage reads of uneven length sit
      // between their lookups and their creations, so either may win. Exactly one does: all of
      // the winner's writes land and every write of the other is refused.
      const owner = (await b.getSessionInfo(sessionId))?.userId;
      expect(["frank", "grace"]).toContain(owner);
      const [won, lost] =
        owner === "frank"
          ? [results.slice(0, 32), results.slice(32)]
          : [results.slice(32), results.slice(0, 32)];
      const stored = won.map((r) => (r.status === "fulfilled" ? r.value : r.reason));
      expect(stored.every((v) => typeof v === "string")).toBe(true);
      for (const r of lost) {
        expect(r.status).toBe("rejected");
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(AccessDeniedError);
      }
      // Each caller's writes share one lookup, plus a read of the winner's record for the one
      // whose creation lost the race.
      expect(reads).toBeLessThanOrEqual(3);
      // Now remembered: each write is checked by a read sent after it began, shared by the writes
      // that began while one was in flight.
      reads = 0;
      const more = await Promise.all(
        Array.from({ length: 32 }, (_, i) => a.store(`c${i}`, { sessionId, userId: owner! })),
      );
      expect(reads).toBeGreaterThanOrEqual(1);
      expect(reads).toBeLessThanOrEqual(3);
      const listed = await b.listBySession(sessionId, { userId: owner! });
      expect(listed.map((m) => m.artifactId).sort()).toEqual([...(stored as string[]), ...more].sort());
    } finally {
      sessions.get = get;
    }
  });
});
