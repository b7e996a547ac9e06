import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdLocator } from "../src/id-locator.js";
import type { ArtifactRecord } from "../src/metadata.js";
import { decodeHeadMeta } from "../src/record-codec.js";
import { RecordStore } from "../src/records.js";
import { MemorySessionProvider } from "../src/sessions/memory.js";
import type { StorageDriver } from "../src/storage/driver.js";
import { driverFixtures, uniqueSandbox } from "./fixtures.js";
import { randomBody, single } from "./helpers/bytes.js";
import { makePendingRecord, makeRecord, plain } from "./helpers/records.js";

/**
 * The meta text a head object carries is what another process (or a restart) reads the record
 * from. A driver that keeps decoded slots is handed a function that makes the text only when it is
 * read (MetaSource): here, on every driver, the text read back from the driver — without any slot —
 * must decode to the record the record layer reads, also after the writer changed its objects.
 * Drivers that read many heads at once (headMany) must answer as head() does.
 */
describe.each(driverFixtures())("heads and their meta text: $name", (fixture) => {
  let driver: StorageDriver;
  let records: RecordStore;
  const sandboxId = uniqueSandbox("hm");

  /** What the head's own text says, decoded as a process with no slot would. */
  const fromText = async (key: string): Promise<ArtifactRecord | null> => {
    const head = await driver.head(key);
    expect(head).not.toBeNull();
    // Only the text: a slot would answer from what this process decoded.
    const decoded = decodeHeadMeta({ meta: head!.meta }, key);
    expect(decoded).not.toBeNull();
    return decoded!.record;
  };

  const expectTextMatches = async (key: string): Promise<void> => {
    const read = await records.getRecord(key);
    expect(read).not.toBeNull();
    const { storage: _storage, ...expected } = read!;
    const decoded = await fromText(key);
    expect(plain(decoded!)).toStrictEqual(plain(expected));
  };

  beforeAll(async () => {
    driver = await fixture.open();
    const sessions = new MemorySessionProvider();
    records = new RecordStore(driver, new IdLocator(driver, async () => sessions));
  });

  afterAll(async () => {
    await records?.close();
    await fixture.dispose();
  });

  it("a new artifact's text is its record, though the writer changed its objects after the write", async () => {
    const meta = { team: { name: "red" }, note: "é ✓" };
    const record = makeRecord({ sandboxId, sessionId: "s1" }, { meta, summary: "first" });
    const committed = await records.put(record, single(randomBody(100)));
    meta.team.name = "blue";
    record.summary = "changed by the writer";
    committed.meta.extra = true;
    const decoded = await fromText(record.key);
    expect(decoded!.meta).toStrictEqual({ team: { name: "red" }, note: "é ✓" });
    expect(decoded!.summary).toBe("first");
    await expectTextMatches(record.key);
  });

  it("matches after a metadata rewrite, a content update and for a pending record", async () => {
    const record = makeRecord({ sandboxId, sessionId: "s2" }, { meta: { n: 1 } });
    await records.put(record, single(randomBody(50)));
    const read = (await records.getRecord(record.key))!;
    await records.putRecord({ ...read, summary: "rewritten", meta: { n: 2 } });
    await expectTextMatches(record.key);
    const again = (await records.getRecord(record.key))!;
    await records.put(again, single(randomBody(70)));
    await expectTextMatches(record.key);
    const pending = makePendingRecord({ sandboxId, sessionId: "s2" });
    await records.putRecord(pending, { fresh: true });
    await expectTextMatches(pending.key);
  });

  it("matches for a body large enough to sit in a revision of its own", async () => {
    const record = makeRecord({ sandboxId, sessionId: "s3" });
    const inline = driver.capabilities.inlineBodyBytes;
    const size = Number.isFinite(inline) ? inline + 1 : 2 * 1024 * 1024;
    await records.put(record, single(randomBody(size)));
    await expectTextMatches(record.key);
  });

  it("headMany, where the driver has it, answers for each key what head() answers", async (context) => {
    if (!driver.headMany) return context.skip();
    const base = `grid/${sandboxId}/many`;
    const keys: string[] = [];
    for (let i = 0; i < 150; i++) {
      const key = `${base}/k${String(i).padStart(3, "0")}`;
      // Metas on both sides of a single tail read, and an empty body.
      const meta = i % 50 === 0 ? `{"big":"${"x".repeat(6000 + i)}"}` : `{"n":${i},"t":"é"}`;
      await driver.put(key, single(randomBody(i % 7 === 0 ? 0 : 10 + i)), { meta });
      keys.push(key);
    }
    // Missing keys, and a folder where a key would be: absent, as head() says.
    const asked = [...keys.slice(0, 70), `${base}/missing`, `grid/${sandboxId}/many`, ...keys.slice(70)];
    const many = await driver.headMany(asked);
    const one = await Promise.all(asked.map((key) => driver.head(key)));
    expect(many).toHaveLength(asked.length);
    expect(many).toStrictEqual(one);
    expect(many[70]).toBeNull();
    expect(many[71]).toBeNull();
    expect(many[0]!.meta).toBe(`{"big":"${"x".repeat(6000)}"}`);
  });
});
