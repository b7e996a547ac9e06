import { afterEach, describe, expect, it } from "vitest";
import { ArtifactNotFoundError, ArtifactStore, type ArtifactStoreOptions } from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";

/**
 * Content and metadata updates racing on one artifact: every read must see bytes that match the
 * sha256 recorded with them, and the last metadata write must not be lost for good.
 */
describe.each(storeConfigs())("$name: concurrent updates", (fixture: Fixture<ArtifactStoreOptions>) => {
  let store: ArtifactStore | null = null;
  afterEach(async () => {
    await store?.close();
    await fixture.dispose();
  });

  it("content rewrites and metadata edits never pair a record with the wrong bytes", async () => {
    store = new ArtifactStore(await fixture.open());
    const s = store;
    const id = await s.store("v0", { mime: "text/plain", sessionId: "race" });
    const rounds = 15;
    const writer = (async () => {
      for (let i = 1; i <= rounds; i++) await s.updateFile(id, { data: `content ${i}` });
    })();
    const editor = (async () => {
      for (let i = 1; i <= rounds; i++) await s.updateMetadata(id, { summary: `edit ${i}`, meta: { i } });
    })();
    const reader = (async () => {
      let reads = 0;
      for (let i = 0; i < rounds * 2; i++) {
        const text = await s.readFile(id, { asText: true }); // throws ArtifactCorruptedError on a mismatch
        expect(text).toMatch(/^(v0|content \d+)$/);
        reads++;
      }
      return reads;
    })();
    await Promise.all([writer, editor]);
    expect(await reader).toBe(rounds * 2);
    const meta = await s.metadata(id);
    expect(await s.readFile(id, { asText: true })).toBe(`content ${rounds}`);
    expect(meta.bytes).toBe(`content ${rounds}`.length);
    expect(meta.summary).toBe(`edit ${rounds}`);
  });

  it("a delete racing an update wins: the artifact stays deleted, every round", async () => {
    store = new ArtifactStore(await fixture.open());
    const s = store;
    const body = "x".repeat(64 * 1024);
    let updatesLanded = 0;
    for (let round = 0; round < 40; round++) {
      const id = await s.store(body, { sessionId: "race-delete" });
      await s.metadata(id); // read once, as a server would before acting on it
      const [update, removal] = await Promise.allSettled([
        s.updateFile(id, { data: `round ${round}` }),
        s.delete(id),
      ]);
      expect(removal).toMatchObject({ status: "fulfilled", value: true });
      if (update.status === "rejected") expect(update.reason).toBeInstanceOf(ArtifactNotFoundError);
      else updatesLanded++;
      expect(await s.exists(id), `round ${round}`).toBe(false);
      await expect(s.retrieve(id)).rejects.toBeInstanceOf(ArtifactNotFoundError);
      await expect(s.updateFile(id, { data: "late" })).rejects.toBeInstanceOf(ArtifactNotFoundError);
    }
    console.log(`${fixture.name}: 40 rounds, ${updatesLanded} updates landed before their delete`);
  }, 180_000);
});
