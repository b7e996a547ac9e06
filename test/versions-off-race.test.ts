import { afterEach, describe, expect, it } from "vitest";
import {
  ArtifactNotFoundError,
  ArtifactStore,
  type ArtifactStoreOptions,
  ConflictError,
} from "../src/index.js";
import { MemoryDriver } from "../src/storage/memory.js";
import { type Fixture, storeConfigs } from "./fixtures.js";

/**
 * With `keepVersions: 0` there is no version log, yet two writers racing on one artifact must
 * never both be told the same version number. Several stores (as several processes would: each
 * has its own per-artifact queue) race updates on one artifact, on every provider. Numbers come
 * from the head, and its write is conditional on the head read: on every backend here, RGW 16.2
 * included, exactly one of several writes on one precondition lands (see
 * /work/shared/reference/local-s3.md), so the losers retry on the newer head and take the next number.
 */
const STORES = 8;
const WRITES_PER_STORE = 10;
const BODY = 256 * 1024;

describe.each(storeConfigs())(
  "$name: keepVersions 0, racing writers",
  (fixture: Fixture<ArtifactStoreOptions>) => {
    const stores: ArtifactStore[] = [];
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((s) => s.close()));
      await fixture.dispose();
    });

    it("every acknowledged update has a number of its own", async () => {
      const base = await fixture.open();
      // Memory storage is one process's: the stores share one driver, as processes share a bucket.
      const shared = base.storageProvider === undefined ? { storageProvider: new MemoryDriver() } : {};
      for (let i = 0; i < STORES; i++) {
        stores.push(new ArtifactStore({ ...base, ...shared, keepVersions: 0, defaultTtl: null }));
      }
      const id = await stores[0]!.store("v1", { sessionId: "off" });
      const acked: number[] = [];
      let failed = 0;
      const unexpected: string[] = [];
      await Promise.all(
        stores.map(async (s, n) => {
          for (let i = 0; i < WRITES_PER_STORE; i++) {
            try {
              // Bodies big enough that a PUT spends a while between its If-Match check and its commit.
              const data = Buffer.alloc(BODY, `store ${n} write ${i}`);
              acked.push((await s.updateFile(id, { data })).version);
            } catch (err) {
              if (!(err instanceof ConflictError || err instanceof ArtifactNotFoundError))
                unexpected.push(String(err));
              failed++;
            }
          }
        }),
      );
      const seen = new Map<number, number>();
      for (const v of acked) seen.set(v, (seen.get(v) ?? 0) + 1);
      const taken = [...seen].filter(([, count]) => count > 1).map(([v]) => v);
      console.log(
        `${fixture.name}: ${acked.length} acknowledged, ${failed} refused, numbers taken twice: ${taken.length}`,
        unexpected.slice(0, 3),
      );
      expect(unexpected, "refusals other than ConflictError").toEqual([]);
      expect(taken, "version numbers acknowledged to two writers").toEqual([]);
      expect(acked.length).toBeGreaterThan(0);
      // The head holds one of the acknowledged versions.
      expect(acked).toContain((await stores[0]!.metadata(id)).version);
    }, 120_000);
  },
);
