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
 * `delete(id, { ifMatch })` racing updates of the same artifact, many rounds, on every provider:
 * either the delete fails with ConflictError and the artifact is still there, or it deletes the
 * artifact and no update it raced was acknowledged — an update that landed after the delete's check
 * is never silently lost.
 */
const ROUNDS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(storeConfigs())(
  "$name: conditional delete racing updates",
  (fixture: Fixture<ArtifactStoreOptions>) => {
    let store: ArtifactStore | null = null;
    afterEach(async () => {
      await store?.close();
      store = null;
      await fixture.dispose();
    });

    it("an update landing just before the delete reaches storage: the delete fails or the update is undone", async () => {
      const observer = new DriverObserver();
      store = new ArtifactStore({ ...observedOptions(await fixture.open(), observer), defaultTtl: null });
      const s = store;
      for (const update of [
        (id: string) => s.updateFile(id, { data: "landed" }),
        (id: string) => s.updateMetadata(id, { summary: "landed" }),
      ]) {
        const id = await s.store("base", { sessionId: "del-step" });
        const { etag, key } = await s.metadata(id);
        let landed: PromiseSettledResult<unknown> | null = null;
        // Every check the delete makes passes; then, before its DELETE of the head, the update lands.
        observer.before(
          (call) => call.op === "delete" && call.key === key,
          async () => {
            [landed] = await Promise.allSettled([update(id)]);
          },
        );
        const [removal] = await Promise.allSettled([s.delete(id, { ifMatch: etag })]);
        expect(landed).not.toBeNull();
        if (removal!.status === "fulfilled") {
          expect(landed!.status, "an acknowledged update was lost to the delete").toBe("rejected");
          expect(await s.exists(id)).toBe(false);
        } else {
          expect(removal!.reason).toBeInstanceOf(ConflictError);
          expect(landed!.status).toBe("fulfilled");
          expect(await s.exists(id)).toBe(true);
        }
      }
    });

    it("exactly one side stands, every round", async () => {
      store = new ArtifactStore({ ...(await fixture.open()), defaultTtl: null });
      const s = store;
      const tally = { deleted: 0, conflicts: 0, updatesAcked: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        const id = await s.store(`round ${round}`, { sessionId: "del-race" });
        const { etag } = await s.metadata(id);
        // One side starts, the other follows after a varying delay (event-loop turns, then
        // milliseconds), so the delete's check falls before, between or after the updates' writes.
        const startUpdates = () =>
          Promise.allSettled([
            s.updateFile(id, { data: `update ${round}` }),
            s.updateMetadata(id, { summary: `edited ${round}` }),
          ]);
        const wait = async () => {
          if (round % 8 < 4) for (let i = 0; i < (round % 4) * 3; i++) await new Promise(setImmediate);
          else await sleep(round % 4);
        };
        let updates: ReturnType<typeof startUpdates>;
        let deletion: Promise<boolean>;
        if (round % 2 === 0) {
          updates = startUpdates();
          await wait();
          deletion = s.delete(id, { ifMatch: etag });
        } else {
          deletion = s.delete(id, { ifMatch: etag });
          await wait();
          updates = startUpdates();
        }
        const [removal] = await Promise.allSettled([deletion]);
        const settled = await updates;
        const acked = settled.filter((u) => u.status === "fulfilled").length;
        tally.updatesAcked += acked;
        for (const u of settled) {
          if (u.status === "rejected") {
            expect(u.reason instanceof ArtifactNotFoundError || u.reason instanceof ConflictError).toBe(true);
          }
        }
        if (removal!.status === "fulfilled") {
          tally.deleted++;
          expect(removal.value, `round ${round}`).toBe(true);
          // The delete's check held until it deleted: no update after it may have been acknowledged.
          expect(acked, `round ${round}: updates acknowledged although the delete stood`).toBe(0);
          expect(await s.exists(id)).toBe(false);
        } else {
          tally.conflicts++;
          expect(removal!.reason, `round ${round}`).toBeInstanceOf(ConflictError);
          expect(await s.exists(id), `round ${round}: a failed delete removed the artifact`).toBe(true);
          const text = await s.readFile(id, { asText: true });
          const contentAcked = settled[0]!.status === "fulfilled";
          expect(text).toBe(contentAcked ? `update ${round}` : `round ${round}`);
        }
      }
      console.log(`${fixture.name}: ${ROUNDS} rounds`, tally);
      expect(tally.deleted + tally.conflicts).toBe(ROUNDS);
    }, 180_000);
  },
);
