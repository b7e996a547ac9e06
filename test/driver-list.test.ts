import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mapLimit } from "../src/concurrency.js";
import type { StorageDriver } from "../src/storage/driver.js";
import { driverFixtures, uniqueSandbox } from "./fixtures.js";
import { single } from "./helpers/bytes.js";

/**
 * A driver's listing is what deleting a session or a sandbox walks, a page at a time, deleting
 * what each page named. On every driver: each page holds only keys that exist, in order, and the
 * walk ends (`more` false) once the keys left are gone, also when the last page comes out full.
 */
describe.each(driverFixtures())("driver listings while keys go: $name", (fixture) => {
  let driver: StorageDriver;
  const sandboxId = uniqueSandbox("dl");
  const folder = (session: string) => `grid/${sandboxId}/${session}/`;
  const put = (key: string) => driver.put(key, single(Buffer.from("x")), { meta: "" });

  beforeAll(async () => {
    driver = await fixture.open();
  });

  afterAll(async () => {
    for (const session of ["walk", "tail"]) {
      const { keys } = await driver.list(folder(session), { limit: 1000 });
      await mapLimit(keys, 16, (key) => driver.delete(key));
    }
    await driver.close();
    await fixture.dispose();
  });

  it("a walk that deletes each page and keys ahead of it names only live keys, each once", async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `${folder("walk")}${String(i).padStart(3, "0")}`);
    await mapLimit(keys, 16, put);
    const deletedAhead = new Set<string>();
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; ; pages++) {
      if (pages > 60) throw new Error("listing did not end");
      const page = await driver.list(folder("walk"), { limit: 7, after });
      for (const key of page.keys) expect(deletedAhead.has(key)).toBe(false);
      seen.push(...page.keys);
      // Delete what the page named, as a session delete does, and every third key not reached yet.
      await mapLimit(page.keys, 8, (key) => driver.delete(key));
      const last = page.keys[page.keys.length - 1];
      for (const key of keys.filter((k) => last !== undefined && k > last).filter((_, i) => i % 3 === 0)) {
        if (!deletedAhead.has(key) && (await driver.delete(key))) deletedAhead.add(key);
      }
      if (!page.more) break;
      after = last ?? null;
    }
    expect(seen).toStrictEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toStrictEqual(keys.filter((k) => !deletedAhead.has(k)));
    expect(deletedAhead.size).toBeGreaterThan(10);
    expect((await driver.list(folder("walk"), { limit: 10 })).keys).toStrictEqual([]);
  });

  it("a session folder nothing was written to lists nothing; a folder holding only folders lists their keys", async () => {
    const nested = [`grid/${sandboxId}/_nest/a/1`, `grid/${sandboxId}/_nest/b/2`];
    await mapLimit(nested, 2, put);
    expect(await driver.list(folder("never-written"), { limit: 10 })).toStrictEqual({
      keys: [],
      more: false,
    });
    expect((await driver.list(`grid/${sandboxId}/_nest/`, { limit: 10 })).keys).toStrictEqual(nested);
    await mapLimit(nested, 2, (key) => driver.delete(key));
  });

  it("a full page followed only by deleted keys is the last page", async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `${folder("tail")}${String(i).padStart(3, "0")}`);
    await mapLimit(keys, 12, put);
    // Read once so a driver that keeps a sorted listing has it, then delete past the first five.
    expect((await driver.list(folder("tail"), { limit: 100 })).keys).toStrictEqual(keys);
    for (const key of keys.slice(5)) expect(await driver.delete(key)).toBe(true);
    const page = await driver.list(folder("tail"), { limit: 5 });
    expect(page.keys).toStrictEqual(keys.slice(0, 5));
    expect(page.more).toBe(false);
    const wide = await driver.list(`grid/${sandboxId}/`, { limit: 5 });
    expect(wide.keys).toStrictEqual(keys.slice(0, 5));
    expect(wide.more).toBe(false);
  });
});
