import { afterEach, describe, expect, it } from "vitest";
import { ArtifactStore, type ArtifactStoreOptions } from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";

/**
 * What a read hands out is the caller's own: changing it never changes what the store holds or
 * what the next reader gets. The memory provider answers reads from the records it keeps, in the
 * same turn, so this is where a shared object would leak.
 */
describe.each(storeConfigs())("$name: reads hand out copies", (fixture: Fixture<ArtifactStoreOptions>) => {
  let store: ArtifactStore | null = null;
  afterEach(async () => {
    await store?.close();
    await fixture.dispose();
  });

  it("metadata, retrieve, listings and presigned reads stay as stored whatever callers do with them", async () => {
    store = new ArtifactStore(await fixture.open());
    const s = store;
    const withMeta = await s.store("nested", {
      sessionId: "copies",
      filename: "a.txt",
      meta: { team: { name: "red" }, tags: ["x"] },
    });
    const bare = await s.store("bare", { sessionId: "copies", filename: "b.txt" });
    const expected = {
      [withMeta]: { filename: "a.txt", meta: { team: { name: "red" }, tags: ["x"] }, text: "nested" },
      [bare]: { filename: "b.txt", meta: {}, text: "bare" },
    };

    const spoil = (m: { meta: Record<string, unknown>; filename: string | null }) => {
      const team = m.meta.team as { name: string } | undefined;
      if (team) team.name = "changed";
      (m.meta.tags as string[] | undefined)?.push("y");
      m.meta.added = true;
      m.filename = "changed.txt";
    };
    for (let round = 0; round < 2; round++) {
      for (const id of [withMeta, bare]) {
        spoil(await s.metadata(id));
        spoil(await s.metadata(id, { sessionId: "copies" }));
        const bytes = await s.retrieve(id);
        bytes.fill(0x21);
        await s.presign(id);
      }
      for (const m of await s.listBySession("copies")) spoil(m);
    }

    for (const id of [withMeta, bare]) {
      const m = await s.metadata(id);
      expect({ filename: m.filename, meta: m.meta }).toEqual({
        filename: expected[id]!.filename,
        meta: expected[id]!.meta,
      });
      expect((await s.retrieve(id)).toString()).toBe(expected[id]!.text);
    }
    const listed = await s.listBySession("copies");
    expect(listed.map((m) => m.meta).sort((a, b) => Object.keys(a).length - Object.keys(b).length)).toEqual([
      {},
      { team: { name: "red" }, tags: ["x"] },
    ]);
  });
});
