import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AccessDeniedError, SessionUnavailableError } from "../src/errors.js";
import { SessionBreaker } from "../src/sessions/breaker.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { type PrivateRedis, startPrivateRedis } from "./helpers/redis-server.js";

/**
 * The store while its Redis is dead (SIGKILL of a private redis-server) and after it comes back
 * empty: what keeps working from storage, what fails closed with SessionUnavailableError, and
 * that everything heals without a restart.
 */

const enabled = inject("services").redisUrl !== null;
const SECRET = "outage-secret-pw";

async function within<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    expect(performance.now() - started).toBeLessThan(ms);
  }
}

describe.skipIf(!enabled)("the store during a Redis outage", () => {
  let redis: PrivateRedis;
  let dir: string;
  let store: ArtifactStore;

  beforeAll(async () => {
    redis = await startPrivateRedis({ extraArgs: ["--requirepass", SECRET] });
    dir = await mkdtemp(join(tmpdir(), "chuk-outage-"));
    store = new ArtifactStore({
      storageProvider: "filesystem",
      fsRoot: dir,
      sessionProvider: "redis",
      redisUrl: `redis://:${SECRET}@127.0.0.1:${redis.port}/0`,
      sandboxId: uniqueSandbox("outage"),
    });
  });
  afterAll(async () => {
    await store?.close();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("serves from storage, fails closed where ownership is unknown, and heals", async () => {
    const { sessions } = await store.backends();
    expect(sessions).toBeInstanceOf(SessionBreaker);
    const breaker = sessions as SessionBreaker;

    // Before: alice's named session with an artifact, bob's empty named session, and alice's own.
    const inNamed = await store.store("named v1", { sessionId: "project", userId: "alice" });
    await store.createSession({ sessionId: "bobs-empty", userId: "bob" });
    const inOwn = await store.store("own", { userId: "alice" });
    const presignedBefore = await store.presign(inNamed, { userId: "alice" }); // fills the cache

    await redis.kill();

    // Reads by id and by session, listings and presigns: from storage, each fast.
    expect((await within(1000, () => store.retrieve(inNamed, { userId: "alice" }))).toString()).toBe(
      "named v1",
    );
    expect(breaker.status().state).toBe("open");
    expect(JSON.stringify(breaker.status())).not.toContain(SECRET);
    expect((await within(1000, () => store.retrieve(inOwn, { userId: "alice" }))).toString()).toBe("own");
    await expect(within(1000, () => store.retrieve(inNamed, { userId: "bob" }))).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    expect((await within(1000, () => store.listBySession("project", { userId: "alice" }))).length).toBe(1);
    expect(await within(1000, () => store.presign(inNamed, { userId: "alice" }))).toMatch(/^https?:/);
    expect(presignedBefore).toMatch(/^https?:/);

    // New artifacts: into a session storage can vouch for, the user's own, and a new anonymous one.
    const during = await within(1000, () =>
      store.store("named v2", { sessionId: "project", userId: "alice" }),
    );
    const ownDuring = await within(1000, () => store.store("own 2", { userId: "carol" }));
    const anonymous = await within(1000, () => store.store("anon"));
    await expect(
      within(1000, () => store.store("sneaky", { sessionId: "project", userId: "mallory" })),
    ).rejects.toBeInstanceOf(AccessDeniedError);

    // An empty named session keeps its owner in storage: still bob's, refused to anyone else.
    await expect(
      within(1000, () => store.store("claim", { sessionId: "bobs-empty", userId: "mallory" })),
    ).rejects.toBeInstanceOf(AccessDeniedError);
    // Fails closed: a named session storage knows nothing about (a new one).
    await expect(
      within(1000, () => store.store("claim", { sessionId: "nobodys-yet", userId: "mallory" })),
    ).rejects.toBeInstanceOf(SessionUnavailableError);
    await expect(within(1000, () => store.createSession({ userId: "dave" }))).rejects.toBeInstanceOf(
      SessionUnavailableError,
    );
    // Updates and deletes need the cache entry dropped first: refused, nothing changed.
    await expect(
      within(1000, () => store.updateFile(inNamed, { data: "named v1 changed", userId: "alice" })),
    ).rejects.toBeInstanceOf(SessionUnavailableError);
    await expect(within(1000, () => store.delete(inOwn, { userId: "alice" }))).rejects.toBeInstanceOf(
      SessionUnavailableError,
    );
    expect((await store.retrieve(inNamed, { userId: "alice" })).toString()).toBe("named v1");

    // Readiness sees it; then Redis returns, empty, and the store heals on its own.
    const ready = await store.validateConfiguration();
    expect(ready).toMatchObject({ storage: { status: "ok" }, session: { status: "error" } });
    expect(ready.session.detail).not.toContain(SECRET);
    await redis.start();
    for (let i = 0; i < 40 && breaker.status().state !== "closed"; i++) {
      await store.validateConfiguration();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(breaker.status().state).toBe("closed");

    await store.updateFile(inNamed, { data: "named v1 changed", userId: "alice" });
    expect((await store.retrieve(inNamed, { userId: "alice" })).toString()).toBe("named v1 changed");
    expect(
      (await store.listBySession("project", { userId: "alice" })).map((m) => m.artifactId).sort(),
    ).toEqual([inNamed, during].sort());
    expect((await store.retrieve(ownDuring, { userId: "carol" })).toString()).toBe("own 2");
    expect((await store.retrieve(anonymous)).toString()).toBe("anon");
    await expect(store.store("again", { sessionId: "project", userId: "mallory" })).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    expect(await store.delete(inOwn, { userId: "alice" })).toBe(true);
    expect((await store.createSession({ userId: "dave" })).userId).toBe("dave");
  }, 60_000);
});
