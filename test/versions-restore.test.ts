import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import {
  ArtifactNotFoundError,
  ArtifactStore,
  type ArtifactStoreOptions,
  ConflictError,
} from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";
import { DriverObserver, observedOptions } from "./helpers/observed-driver.js";

/**
 * Restoring a version held in a revision copies no bytes (the new version names the same
 * revision), and sharing a revision never leaves a version naming a deleted one: through pruning,
 * restores racing pruning, and a fault injected at every step of a restore. On every provider, each
 * driver call observed.
 */

/** Bodies past this go to a revision object (the drivers' own sizes are 1 MiB on the filesystem,
 * 5 MiB on S3 and unbounded in memory: the same code paths, with test-sized bodies). */
const INLINE = 128 * 1024;
const LARGE = 300 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe.each(storeConfigs())(
  "$name: restore by reference",
  { timeout: 120_000 },
  (fixture: Fixture<ArtifactStoreOptions>) => {
    let store: ArtifactStore | null = null;
    let observer = new DriverObserver(INLINE);
    const open = async (extra: Partial<ArtifactStoreOptions> = {}) => {
      observer = new DriverObserver(INLINE);
      store = new ArtifactStore({
        ...observedOptions(await fixture.open(), observer),
        defaultTtl: null,
        ...extra,
      });
      return store;
    };
    afterEach(async () => {
      await store?.close();
      store = null;
      await fixture.dispose();
    });

    /** Waits for the background drops after writes to settle (they are off the write's path). */
    const settle = async (s: ArtifactStore, id: string, max: number) => {
      for (let i = 0; i < 100 && (await s.listVersions(id)).length > max; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 50));
    };

    /** Every listed version reads back whole with its sha256 (retrieve checks it as it streams). */
    const expectAllReadable = async (s: ArtifactStore, id: string) => {
      for (const v of await s.listVersions(id)) {
        const bytes = await s.retrieve(id, { version: v.version });
        expect(sha(bytes)).toBe(v.sha256);
      }
    };

    /** Revision objects (not versions, not markers) left beside the artifact. */
    const revisions = async (key: string) => {
      const page = await observer.driver!.list(`${key}~`, { limit: 1000 });
      return page.keys.filter((k) => /~[0-9a-f]{16}$/.test(k));
    };

    it("restores a large version without writing its bytes again", async () => {
      const s = await open();
      const big = randomBytes(LARGE);
      const id = await s.store(big, { sessionId: "r", mime: "application/octet-stream" });
      await s.updateFile(id, { data: randomBytes(LARGE) });
      await s.updateFile(id, { data: "small now", mime: "text/plain" });
      await settle(s, id, 3);
      observer.reset();
      const restored = await s.restoreVersion(id, 1);
      expect(restored.version).toBe(4);
      expect(restored.sha256).toBe(sha(big));
      expect(restored.mime).toBe("application/octet-stream");
      // A new version entry, a marker and a head: a few hundred bytes, and no server-side copy.
      expect(observer.bytesWritten()).toBeLessThan(4096);
      expect(observer.count("copy")).toBe(0);
      expect(await s.retrieve(id)).toEqual(big);
      expect((await s.listVersions(id)).map((v) => v.version)).toEqual([4, 3, 2, 1]);
      await expectAllReadable(s, id);
    });

    it("a small version is written again inline: one small put of its own bytes", async () => {
      const s = await open();
      const id = await s.store("tiny", { sessionId: "r" });
      await s.updateFile(id, { data: randomBytes(LARGE) });
      observer.reset();
      await s.restoreVersion(id, 1);
      expect(observer.bytesWritten()).toBeLessThan(4096);
      expect(await s.readFile(id, { asText: true })).toBe("tiny");
    });

    it("pruning never deletes a revision a kept version or the head still names, and frees it after the last", async () => {
      const s = await open({ keepVersions: 2 });
      const big = randomBytes(LARGE);
      const id = await s.store(big, { sessionId: "p" });
      const key = (await s.metadata(id)).key;
      await s.updateFile(id, { data: "v2" });
      await s.restoreVersion(id, 1); // v3 names v1's revision
      await s.updateFile(id, { data: "v4" }); // v1 falls out of the count: v3 still names it
      await settle(s, id, 3);
      expect((await s.listVersions(id)).map((v) => v.version)).toEqual([4, 3, 2]);
      expect(await s.retrieve(id, { version: 3 })).toEqual(big);
      await s.restoreVersion(id, 3); // v5 names it too, and the head
      await s.updateFile(id, { data: "v6" });
      await s.updateFile(id, { data: "v7" }); // v3 and v4 go; v5 still names it
      await settle(s, id, 3);
      expect((await s.listVersions(id)).map((v) => v.version)).toEqual([7, 6, 5]);
      expect(await s.retrieve(id, { version: 5 })).toEqual(big);
      await expectAllReadable(s, id);
      expect(await revisions(key)).toHaveLength(1);
      await s.updateFile(id, { data: "v8" }); // v5 goes: nothing names the revision any more
      await settle(s, id, 3);
      expect((await s.listVersions(id)).map((v) => v.version)).toEqual([8, 7, 6]);
      expect(await revisions(key)).toEqual([]);
    });

    it("cleanup pruning by age keeps a revision the head names after a restore", async () => {
      const s = await open({ keepVersionsDays: 1 / 86400 }); // one second
      const big = randomBytes(LARGE);
      const id = await s.store(big, { sessionId: "age" });
      await s.updateFile(id, { data: "v2" });
      await s.restoreVersion(id, 1);
      await new Promise((r) => setTimeout(r, 1200));
      await s.cleanupExpiredSessions();
      expect((await s.listVersions(id)).map((v) => v.version)).toEqual([3]);
      expect(await s.retrieve(id)).toEqual(big);
    });

    it("restores racing writes that prune their source never leave a version naming a deleted body", async () => {
      const s = await open({ keepVersions: 1 });
      for (let round = 0; round < 6; round++) {
        const big = randomBytes(LARGE);
        const id = await s.store(big, { sessionId: "race" });
        await s.updateFile(id, { data: `small ${round}` });
        const outcomes = await Promise.allSettled([
          s.restoreVersion(id, 1),
          s.updateFile(id, { data: randomBytes(LARGE) }),
          s.updateFile(id, { data: `later ${round}` }),
        ]);
        for (const o of outcomes) {
          if (o.status === "rejected") {
            expect(o.reason instanceof ArtifactNotFoundError || o.reason instanceof ConflictError).toBe(true);
          }
        }
        await settle(s, id, 2);
        await expectAllReadable(s, id);
        expect(sha(await s.retrieve(id))).toBe((await s.metadata(id)).sha256);
      }
    });

    it("a fault at any step of a restore leaves the old state or the new one, every version readable", async () => {
      const s = await open();
      const big = randomBytes(LARGE);
      const id = await s.store(big, { sessionId: "fault" });
      await s.updateFile(id, { data: "current" });
      observer.reset();
      await s.restoreVersion(id, 1);
      const steps = observer.calls.length;
      expect(steps).toBeGreaterThan(2);
      for (let n = 1; n <= steps; n++) {
        await s.updateFile(id, { data: `current ${n}` });
        const before = await s.metadata(id);
        observer.failCall(n);
        const outcome = await s.restoreVersion(id, 1).then(
          () => "restored",
          (err: Error) => err.name,
        );
        observer.failCall(null);
        await settle(s, id, 11);
        const now = await s.metadata(id);
        if (outcome === "restored") expect(now.sha256).toBe(sha(big));
        else expect([before.sha256, sha(big)]).toContain(now.sha256);
        expect(sha(await s.retrieve(id))).toBe(now.sha256);
        await expectAllReadable(s, id);
      }
    });
  },
);
