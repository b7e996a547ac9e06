import { createHash, randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ArtifactStore } from "../src/index.js";
import { sweepOrphanRevisions } from "../src/revision-sweep.js";
import type { StorageDriver } from "../src/storage/driver.js";
import { MemoryDriver } from "../src/storage/memory.js";
import { VersionLog } from "../src/versions.js";
import { driverFixtures, type Fixture, uniqueSandbox } from "./fixtures.js";

/**
 * Cleanup sweeps revisions nothing names. A crash is injected with a driver wrapper: while
 * "crashed", every head write fails after its revision was written, and nothing is deleted (a dead
 * process cleans nothing up). Orphans are also written straight into storage beside live
 * artifacts. Cleanup keeps orphans younger than the grace period, deletes the older ones, and
 * every live artifact and every kept version still reads back its exact bytes. Real filesystem
 * and RGW; memory too (the wrapper makes bodies over 64 KiB go to revisions on every driver).
 */

const GRACE_SECONDS = 3;
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const large = () => randomBytes(100 * 1024 + Math.floor(Math.random() * 1000));

function crashable(inner: StorageDriver): { driver: StorageDriver; crash(on: boolean): void } {
  let crashed = false;
  // Smaller than any driver's own limit, so modest bodies take the revision path everywhere.
  const capabilities = { ...inner.capabilities, inlineBodyBytes: 64 * 1024 };
  const driver = new Proxy(inner, {
    get(target, prop) {
      if (prop === "capabilities") return capabilities;
      if (crashed && prop === "put") {
        return async (key: string, body: AsyncIterable<Uint8Array>, options: never) => {
          if (key.includes("~")) return target.put(key, body, options);
          throw new Error("injected crash: the process died before its head write");
        };
      }
      if (crashed && prop === "delete") {
        return async () => {
          throw new Error("injected crash: a dead process deletes nothing");
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { driver, crash: (on) => (crashed = on) };
}

async function revisionKeys(driver: StorageDriver, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await driver.list(prefix, { limit: 1000, after });
    keys.push(...page.keys.filter((k) => /~[0-9a-f]{16}$/.test(k)));
    if (!page.more || page.keys.length === 0) return keys;
    after = page.keys[page.keys.length - 1]!;
  }
}

describe.each(driverFixtures())("orphaned revisions on $name", (fixture: Fixture<StorageDriver>) => {
  let store: ArtifactStore | null = null;
  afterEach(async () => {
    await store?.close();
    store = null;
    await fixture.dispose();
  });

  it("are swept by cleanup once past the grace period; live artifacts and versions keep every byte", async () => {
    const { driver, crash } = crashable(await fixture.open());
    const sandboxId = uniqueSandbox("orphans");
    const prefix = `grid/${sandboxId}/`;
    store = new ArtifactStore({
      storageProvider: driver,
      sandboxId,
      defaultTtl: null,
      orphanGraceSeconds: GRACE_SECONDS,
    });
    const s = store;

    // Live artifacts: large ones (revisions), a small one (inline), one with kept versions, one
    // in a user's own scope.
    const expected = new Map<string, Buffer>();
    const keep = async (
      data: Buffer,
      options: Parameters<ArtifactStore["store"]>[1] = { sessionId: "live" },
    ) => {
      const id = await s.store(data, options);
      expected.set(id, data);
      return id;
    };
    await keep(large());
    await keep(Buffer.from("small and inline"));
    await keep(large(), { scope: "user", userId: "alice" });
    const versioned = await keep(large());
    const history = [expected.get(versioned)!];
    for (let i = 0; i < 2; i++) {
      const data = large();
      await s.updateFile(versioned, { data });
      history.push(data);
      expected.set(versioned, data);
    }
    const liveRevisions = await revisionKeys(driver, prefix);
    expect(liveRevisions.length).toBeGreaterThanOrEqual(4);

    // A crash between a new artifact's revision and its head; and orphans beside live artifacts.
    crash(true);
    await expect(s.store(large(), { sessionId: "live" })).rejects.toThrow(/injected crash/);
    crash(false);
    const crashed = (await revisionKeys(driver, prefix)).filter((k) => !liveRevisions.includes(k));
    expect(crashed).toHaveLength(1);
    const planted = async (id: string) => {
      const { key } = await s.metadata(id);
      const orphan = `${key}~${randomBytes(8).toString("hex")}`;
      await driver.put(
        orphan,
        (async function* () {
          yield large();
        })(),
        { meta: "" },
      );
      return orphan;
    };
    const old = [...crashed, await planted(versioned), await planted([...expected.keys()][0]!)];

    // Younger than the grace period: kept.
    await s.cleanupExpiredSessions();
    for (const key of old) expect(await driver.head(key), key).not.toBeNull();

    await new Promise((r) => setTimeout(r, (GRACE_SECONDS + 0.5) * 1000));
    const fresh = await planted(versioned);
    await s.cleanupExpiredSessions();
    for (const key of old) expect(await driver.head(key), key).toBeNull();
    expect(await driver.head(fresh)).not.toBeNull();
    expect((await revisionKeys(driver, prefix)).sort()).toEqual([...liveRevisions, fresh].sort());

    // Every live artifact, and every kept version, reads back its exact bytes.
    for (const [id, data] of expected) {
      const back = await s.retrieve(id);
      expect(sha256(back), id).toBe(sha256(data));
    }
    const versions = await s.listVersions(versioned);
    expect(versions.map((v) => v.version)).toEqual([3, 2, 1]);
    for (const v of versions) {
      const back = await s.retrieve(versioned, { version: v.version });
      expect(sha256(back), `version ${v.version}`).toBe(sha256(history[v.version - 1]!));
    }
  });
});

describe("the orphan sweep's guards", () => {
  it("keeps what a head or a kept version names, and skips an artifact whose head moved meanwhile", async () => {
    const driver = new MemoryDriver();
    const versions = new VersionLog(driver, { keepVersions: 10, keepVersionsDays: null });
    const prefix = `grid/${uniqueSandbox("sweep")}/s/`;
    const key = `${prefix}a1`;
    const put = (k: string) =>
      driver.put(
        k,
        (async function* () {
          yield Buffer.from("bytes");
        })(),
        { meta: "" },
      );
    const [current, kept, orphan] = ["00000000000000a1", "00000000000000b2", "00000000000000c3"];
    for (const rev of [current, kept, orphan]) await put(`${key}~${rev}`);
    await versions.claim(
      key,
      {
        version: 1,
        bytes: 5,
        sha256: "",
        storedAt: new Date().toISOString(),
        etag: "e1",
        mime: "x/y",
        rev: kept,
      },
      null,
    );
    const later = Date.now() + 60_000; // every revision is past a 1 s grace by then
    let etag = 0;
    const moving = { driver, versions, headOf: async () => ({ etag: String(etag++), rev: current }) };
    expect(await sweepOrphanRevisions(moving, prefix, 1000, later)).toBe(0);
    expect(await driver.head(`${key}~${orphan}`)).not.toBeNull();

    const steady = { driver, versions, headOf: async () => ({ etag: "same", rev: current }) };
    expect(await sweepOrphanRevisions(steady, prefix, 1000, later)).toBe(1);
    expect(await driver.head(`${key}~${orphan}`)).toBeNull();
    expect(await driver.head(`${key}~${current}`)).not.toBeNull();
    expect(await driver.head(`${key}~${kept}`)).not.toBeNull();
    // Not yet past the grace period: nothing is taken, named or not.
    await put(`${key}~${orphan}`);
    expect(await sweepOrphanRevisions(steady, prefix, 60_000)).toBe(0);
  });
});
