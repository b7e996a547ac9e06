import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BodyTooLargeError } from "../src/body.js";
import { mapLimit } from "../src/concurrency.js";
import { ConflictError, ValidationError } from "../src/errors.js";
import { newArtifactId } from "../src/grid.js";
import { type ArtifactRecord, LIMITS } from "../src/metadata.js";
import type { StorageProvider } from "../src/storage/provider.js";
import { storageFixtures, uniqueSandbox } from "./fixtures.js";
import { chunked, failingAfter, randomBody, readBody, sha256, single } from "./helpers/bytes.js";
import { listKeys, listPages } from "./helpers/listing.js";
import { makePendingRecord, makeRecord, plain, type RecordPlace } from "./helpers/records.js";
import { findSecrets, knownSecrets } from "./helpers/secrets.js";
import { uploadAsClient } from "./helpers/upload.js";

/**
 * The StorageProvider contract (src/storage/provider.ts), run unchanged against every provider in
 * test/fixtures.ts. Each test works in sandboxes of its own, so tests never see each other's data.
 */

/**
 * Artifacts in the large-listing test. Every S3 put is a network round trip to the test server, so
 * that fixture lists fewer to keep the run short; every other provider lists the full number.
 */
const LARGE_LISTING_COUNT: Readonly<Record<string, number>> = { s3: 2_500 };
const LARGE_LISTING_DEFAULT = 10_000;

describe.each(storageFixtures())("StorageProvider contract: $name", (fixture) => {
  let provider: StorageProvider;
  const sandboxes: string[] = [];

  /** A fresh sandbox, removed again after the suite. */
  const sandbox = (): string => {
    const id = uniqueSandbox("sc");
    sandboxes.push(id);
    return id;
  };
  const place = (sessionId = "s1"): RecordPlace => ({ sandboxId: sandbox(), sessionId });

  /** Asserts no trace of `record` is left: no record, no body, no index entry, no listing entry. */
  const expectGone = async (record: ArtifactRecord): Promise<void> => {
    expect(await provider.getRecord(record.key)).toBeNull();
    expect(await provider.openBody(record.key)).toBeNull();
    expect(await provider.locate(record.sandboxId, record.artifactId)).toBeNull();
    expect(await listKeys(provider, `grid/${record.sandboxId}/${record.sessionId}/`)).not.toContain(
      record.key,
    );
  };

  const expectBody = async (key: string, data: Uint8Array): Promise<void> => {
    const opened = await provider.openBody(key);
    expect(opened).not.toBeNull();
    const body = await readBody(opened!);
    expect(body.equals(data)).toBe(true);
    expect(opened!.sha256).toBe(sha256(data));
    expect(opened!.length).toBe(data.byteLength);
    expect(opened!.totalBytes).toBe(data.byteLength);
  };

  beforeAll(async () => {
    provider = await fixture.open();
  });

  afterAll(async () => {
    try {
      if (provider) {
        for (const id of sandboxes) {
          const keys = await listKeys(provider, `grid/${id}/`, 1000);
          await mapLimit(keys, 32, (key) => provider.delete(key));
        }
        await provider.close();
      }
    } finally {
      await fixture.dispose();
    }
    // Hundreds of deletes of several requests each: minutes on a loaded machine, not a failure.
  }, 600_000);

  describe("put and getRecord", () => {
    it("fills bytes and sha256 from what was written and round-trips every field", async () => {
      const data = randomBody(4321);
      // The caller's bytes and sha256 are wrong on purpose: the provider must measure.
      const record = makeRecord(place(), { bytes: 99, sha256: "0".repeat(64) });
      const committed = await provider.put(record, single(data));
      expect(plain(committed)).toStrictEqual(plain({ ...record, bytes: 4321, sha256: sha256(data) }));
      expect(plain(await provider.getRecord(record.key))).toStrictEqual(plain(committed));
      await expectBody(record.key, data);
    });

    it("gives every reader its own copy: changing a record read back changes nothing stored", async () => {
      const record = makeRecord(place(), { meta: { team: { name: "red" } } });
      await provider.put(record, single(randomBody(10)));
      const first = (await provider.getRecord(record.key))!;
      (first.meta.team as { name: string }).name = "blue";
      first.summary = "changed by a reader";
      const again = (await provider.getRecord(record.key))!;
      expect(again.meta).toStrictEqual({ team: { name: "red" } });
      expect(again.summary).toBe(record.summary);
      const listed = await provider.list(`grid/${record.sandboxId}/${record.sessionId}/`, { limit: 10 });
      (listed.records[0]!.meta.team as { name: string }).name = "green";
      expect((await provider.getRecord(record.key))!.meta).toStrictEqual({ team: { name: "red" } });
    });

    it("keeps what was written, not the writer's objects: changing them after put changes nothing stored", async () => {
      const meta = { team: { name: "red" }, tags: ["a"] };
      const record = makeRecord(place(), { meta });
      const committed = await provider.put(record, single(randomBody(10)));
      meta.team.name = "blue";
      meta.tags.push("b");
      record.summary = "changed by the writer";
      committed.meta.extra = true;
      const again = (await provider.getRecord(record.key))!;
      expect(again.meta).toStrictEqual({ team: { name: "red" }, tags: ["a"] });
      expect(again.summary).not.toBe("changed by the writer");
      const updated = await provider.putRecord({ ...again, summary: "second", meta: { n: 1 } });
      updated.meta.n = 2;
      expect((await provider.getRecord(record.key))!.meta).toStrictEqual({ n: 1 });
    });

    it("round-trips records at the store's field limits and with null fields", async () => {
      const at = place();
      const big = makeRecord(at, {
        summary: "ü".repeat(LIMITS.summaryLength),
        filename: `${"ä/ b".repeat(LIMITS.filenameLength / 4 - 1)}.bin`,
        meta: { blob: "✓x".repeat(Math.floor((LIMITS.metaBytes - 200) / 5)), n: -1.5, empty: {} },
      });
      const sparse = makeRecord(at, {
        filename: null,
        ttl: null,
        expiresAt: null,
        userId: null,
        sessionExpiresAt: null,
        meta: {},
        summary: "",
      });
      for (const record of [big, sparse]) {
        const committed = await provider.put(record, single(Buffer.from("x")));
        expect(plain(await provider.getRecord(record.key))).toStrictEqual(plain(committed));
        expect(plain(committed)).toStrictEqual(
          plain({ ...record, bytes: 1, sha256: sha256(Buffer.from("x")) }),
        );
      }
    });

    it("streams an async iterable of many uneven chunks", async () => {
      // Past 5 MiB, so providers that switch to multipart on size take that path too.
      const data = randomBody(6 * 1024 * 1024 + 123);
      const record = makeRecord(place());
      const committed = await provider.put(record, chunked(data, [65_536, 1, 4_093, 100_000, 17]));
      expect(committed.bytes).toBe(data.byteLength);
      expect(committed.sha256).toBe(sha256(data));
      await expectBody(record.key, data);
    });

    it("stores an empty body", async () => {
      const record = makeRecord(place());
      const committed = await provider.put(record, single(new Uint8Array(0)));
      expect(committed.bytes).toBe(0);
      expect(committed.sha256).toBe(sha256(new Uint8Array(0)));
      expect(plain(await provider.getRecord(record.key))).toStrictEqual(plain(committed));
      await expectBody(record.key, new Uint8Array(0));
    });

    it("takes a source that yields no chunks at all as an empty body", async () => {
      const record = makeRecord(place());
      const committed = await provider.put(record, (async function* () {})());
      expect(committed.bytes).toBe(0);
      await expectBody(record.key, new Uint8Array(0));
    });
  });

  describe("put limits and failures", () => {
    it("accepts a body of exactly maxBytes", async () => {
      const data = randomBody(10_000);
      const record = makeRecord(place());
      const committed = await provider.put(record, chunked(data, [3_000]), { maxBytes: 10_000 });
      expect(committed.bytes).toBe(10_000);
      await expectBody(record.key, data);
    });

    it("refuses a body past maxBytes with BodyTooLargeError and leaves nothing", async () => {
      const record = makeRecord(place());
      const attempt = provider.put(record, chunked(randomBody(10_001), [3_000]), { maxBytes: 10_000 });
      const error = await attempt.then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(BodyTooLargeError);
      expect(error).toBeInstanceOf(ValidationError);
      await expectGone(record);
      expect(await provider.list(`grid/${record.sandboxId}/`, { limit: 10 })).toStrictEqual({
        records: [],
        cursor: null,
      });
    });

    it("keeps the previous version when an overwrite passes maxBytes", async () => {
      const old = randomBody(500);
      const record = makeRecord(place());
      const committed = await provider.put(record, single(old));
      const next = { ...record, summary: "too big" };
      await expect(
        provider.put(next, chunked(randomBody(2_000), [300]), { maxBytes: 1_000 }),
      ).rejects.toThrow(BodyTooLargeError);
      expect(plain(await provider.getRecord(record.key))).toStrictEqual(plain(committed));
      await expectBody(record.key, old);
    });

    it("leaves nothing when the source throws midway", async () => {
      const record = makeRecord(place());
      const boom = new Error("client went away");
      await expect(provider.put(record, failingAfter(randomBody(50_000), 20_000, boom))).rejects.toThrow();
      await expectGone(record);
    });

    it("keeps the previous version when the source of an overwrite throws midway", async () => {
      const old = randomBody(3_000);
      const record = makeRecord(place());
      const committed = await provider.put(record, single(old));
      const boom = new Error("client went away");
      await expect(
        provider.put({ ...record, summary: "half" }, failingAfter(randomBody(50_000), 20_000, boom)),
      ).rejects.toThrow();
      expect(plain(await provider.getRecord(record.key))).toStrictEqual(plain(committed));
      await expectBody(record.key, old);
      expect(await provider.locate(record.sandboxId, record.artifactId)).toBe(record.key);
    });

    it("replaces a key atomically: a concurrent reader only ever sees bodies matching their sha256", async () => {
      // Distinct contents and sizes, so a torn or mixed body cannot match any recorded checksum.
      const versions = Array.from({ length: 24 }, (_, i) => randomBody(30_000 + i * 4_111));
      const known = new Set(versions.map(sha256));
      const record = makeRecord(place());
      await provider.put(record, single(versions[0]!));

      let writing = true;
      const problems: string[] = [];
      const seen = new Set<string>();
      let reads = 0;
      const reader = async () => {
        while (writing && problems.length === 0) {
          // Yield to the event loop: against an in-process provider every await here is a
          // microtask, and the writer would never get a turn.
          await new Promise((resolve) => setImmediate(resolve));
          const opened = await provider.openBody(record.key);
          if (!opened) {
            problems.push("openBody returned null for an existing key");
            continue;
          }
          const body = await readBody(opened);
          const actual = sha256(body);
          if (actual !== opened.sha256) problems.push(`body ${actual} reported as ${opened.sha256}`);
          if (body.byteLength !== opened.length)
            problems.push(`${body.byteLength} bytes, length ${opened.length}`);
          if (!known.has(actual)) problems.push(`body ${actual} is none of the versions written`);
          seen.add(actual);
          reads++;
        }
      };
      const readers = Promise.all([reader(), reader()]);
      try {
        for (const [i, data] of versions.slice(1).entries()) {
          await provider.put({ ...record, summary: `v${i + 1}` }, chunked(data, [4_096, 1_000, 7]));
        }
      } finally {
        writing = false;
        await readers;
      }
      expect(problems).toStrictEqual([]);
      expect(reads).toBeGreaterThan(0);
      // The readers really overlapped the writes, or this test proved nothing.
      expect(seen.size).toBeGreaterThanOrEqual(2);
      const last = versions[versions.length - 1]!;
      expect((await provider.getRecord(record.key))?.sha256).toBe(sha256(last));
      await expectBody(record.key, last);
    });
  });

  describe("putRecord", () => {
    it("updates the metadata of an existing body without touching the bytes", async () => {
      const data = randomBody(2_048);
      const record = makeRecord(place());
      const committed = await provider.put(record, single(data));
      const updated: ArtifactRecord = {
        ...committed,
        summary: "renamed",
        filename: "other.bin",
        mime: "application/octet-stream",
        meta: { changed: true },
        updatedAt: new Date(Date.now() + 5_000).toISOString(),
      };
      await provider.putRecord(updated);
      expect(plain(await provider.getRecord(record.key))).toStrictEqual(plain(updated));
      await expectBody(record.key, data);
      expect(await provider.locate(record.sandboxId, record.artifactId)).toBe(record.key);
    });

    it("refuses a record read before the content changed (ConflictError), keeping record and bytes paired", async () => {
      const record = makeRecord(place());
      const first = await provider.put(record, single(randomBody(512)));
      const newer = randomBody(700);
      await provider.put(first, single(newer));
      const stale: ArtifactRecord = { ...first, summary: "stale edit" };
      await expect(provider.putRecord(stale)).rejects.toBeInstanceOf(ConflictError);
      const now = await provider.getRecord(record.key);
      expect(now?.sha256).toBe(sha256(newer));
      expect(now?.summary).toBe(first.summary);
      await expectBody(record.key, newer);
    });

    it("writes a bodiless pending record: getRecord shows it pending, openBody is null", async () => {
      const pending = makePendingRecord(place(), 1_000);
      await provider.putRecord(pending);
      expect(plain(await provider.getRecord(pending.key))).toStrictEqual(plain(pending));
      expect(await provider.openBody(pending.key)).toBeNull();
      expect(await provider.locate(pending.sandboxId, pending.artifactId)).toBe(pending.key);
    });
  });

  describe("adoptUpload", () => {
    /** The record the store commits for a pending slot: ready, no upload limits, size not known yet. */
    const readyFrom = (pending: ArtifactRecord): ArtifactRecord => {
      const { upload: _limits, ...rest } = pending;
      return { ...rest, status: "ready", bytes: 0, sha256: "", summary: "registered" };
    };

    it("is null when nothing was uploaded, and leaves the pending record alone", async () => {
      const pending = makePendingRecord(place());
      await provider.putRecord(pending);
      expect(await provider.adoptUpload(readyFrom(pending), { maxBytes: null })).toBeNull();
      expect(plain(await provider.getRecord(pending.key))).toStrictEqual(plain(pending));
      const unknown = makeRecord(place());
      expect(await provider.adoptUpload(unknown, { maxBytes: null })).toBeNull();
      expect(await provider.getRecord(unknown.key)).toBeNull();
    });

    it("measures the size and sha256 of what was uploaded and commits the record", async () => {
      const data = randomBody(7_777);
      const pending = makePendingRecord(place());
      await provider.putRecord(pending);
      await uploadAsClient(provider, pending, data);
      const ready = readyFrom(pending);
      const committed = await provider.adoptUpload(ready, { maxBytes: data.byteLength });
      expect(plain(committed)).toStrictEqual(
        plain({ ...ready, bytes: data.byteLength, sha256: sha256(data) }),
      );
      expect(plain(await provider.getRecord(pending.key))).toStrictEqual(plain(committed));
      await expectBody(pending.key, data);
      expect(await provider.locate(pending.sandboxId, pending.artifactId)).toBe(pending.key);
    });

    it("deletes an upload past maxBytes and throws BodyTooLargeError", async () => {
      const pending = makePendingRecord(place());
      await provider.putRecord(pending);
      await uploadAsClient(provider, pending, randomBody(2_001));
      await expect(provider.adoptUpload(readyFrom(pending), { maxBytes: 2_000 })).rejects.toThrow(
        BodyTooLargeError,
      );
      await expectGone(pending);
    });
  });

  describe("openBody", () => {
    it("returns exactly the requested byte ranges", async () => {
      const data = randomBody(4_099);
      const record = makeRecord(place());
      await provider.put(record, single(data));
      const ranges = [
        { start: 0, end: 0 },
        { start: 4_098, end: 4_098 },
        { start: 100, end: 1_123 },
        { start: 0, end: 4_098 },
        { start: 4_000, end: 4_098 },
      ];
      for (const range of ranges) {
        const opened = await provider.openBody(record.key, range);
        expect(opened, JSON.stringify(range)).not.toBeNull();
        const body = await readBody(opened!);
        expect(body.equals(data.subarray(range.start, range.end + 1)), JSON.stringify(range)).toBe(true);
        expect(opened!.length).toBe(range.end - range.start + 1);
        expect(opened!.totalBytes).toBe(4_099);
        expect(opened!.sha256).toBe(sha256(data));
      }
    });

    it("is null for a key that was never written", async () => {
      expect(await provider.openBody(makeRecord(place()).key)).toBeNull();
      expect(await provider.getRecord(makeRecord(place()).key)).toBeNull();
    });
  });

  describe("copy", () => {
    it("commits the same bytes under a new key and leaves the source untouched", async () => {
      const data = randomBody(12_345);
      const at = place();
      const source = await provider.put(makeRecord(at), single(data));
      const target = makeRecord(at, { summary: "the copy", filename: "copy.bin", bytes: 0, sha256: "" });
      const committed = await provider.copy(source.key, target);
      expect(plain(committed)).toStrictEqual(
        plain({ ...target, bytes: data.byteLength, sha256: sha256(data) }),
      );
      expect(plain(await provider.getRecord(target.key))).toStrictEqual(plain(committed));
      await expectBody(target.key, data);
      expect(await provider.locate(at.sandboxId, target.artifactId)).toBe(target.key);
      expect(plain(await provider.getRecord(source.key))).toStrictEqual(plain(source));
      await expectBody(source.key, data);

      // The two are independent: removing the copy keeps the source readable.
      expect(await provider.delete(target.key)).toBe(true);
      await expectBody(source.key, data);
    });
  });

  describe("delete", () => {
    it("returns true, then false, and removes record, body and index entry", async () => {
      const record = makeRecord(place());
      await provider.put(record, single(randomBody(100)));
      expect(await provider.delete(record.key)).toBe(true);
      await expectGone(record);
      expect(await provider.delete(record.key)).toBe(false);
    });

    it("removes a pending record, and is false for a key never written", async () => {
      const pending = makePendingRecord(place());
      await provider.putRecord(pending);
      expect(await provider.delete(pending.key)).toBe(true);
      await expectGone(pending);
      expect(await provider.delete(makeRecord(place()).key)).toBe(false);
    });
  });

  describe("list", () => {
    // One sandbox with a big session and a session whose id extends the big one's, and a second
    // sandbox whose id extends the first's: a prefix without its trailing "/" would leak.
    let sandboxA: string;
    let sandboxB: string;
    const byKey = new Map<string, ArtifactRecord>();
    const keysOf = (sandboxId: string, sessionId?: string) =>
      [...byKey.keys()]
        .filter((k) => k.startsWith(`grid/${sandboxId}/${sessionId === undefined ? "" : `${sessionId}/`}`))
        .sort();

    beforeAll(async () => {
      sandboxA = sandbox();
      sandboxB = `${sandboxA}x`;
      sandboxes.push(sandboxB);
      const places = [
        ...Array.from({ length: 250 }, () => ({ sandboxId: sandboxA, sessionId: "s1" })),
        ...Array.from({ length: 3 }, () => ({ sandboxId: sandboxA, sessionId: "s1x" })),
        ...Array.from({ length: 2 }, () => ({ sandboxId: sandboxB, sessionId: "s1" })),
      ];
      const committed = await mapLimit(places, 8, (at, i) =>
        provider.put(makeRecord(at), single(Buffer.from(`body ${i}`))),
      );
      for (const record of committed) byKey.set(record.key, record);
    });

    it("pages a session in key order: 250 records in pages of 100, each exactly once", async () => {
      const pages = await listPages(provider, `grid/${sandboxA}/s1/`, 100);
      expect(pages.map((p) => p.length)).toStrictEqual([100, 100, 50]);
      const keys = pages.flat().map((r) => r.key);
      expect(keys).toStrictEqual(keysOf(sandboxA, "s1"));
    });

    it("returns whole records, equal to what put committed", async () => {
      const page = await provider.list(`grid/${sandboxA}/s1x/`, { limit: 10 });
      expect(page.cursor).toBeNull();
      expect(page.records).toStrictEqual(keysOf(sandboxA, "s1x").map((k) => byKey.get(k)));
    });

    it("keeps sessions and sandboxes apart even when one id extends another", async () => {
      expect(await listKeys(provider, `grid/${sandboxA}/s1x/`)).toStrictEqual(keysOf(sandboxA, "s1x"));
      expect(await listKeys(provider, `grid/${sandboxB}/s1/`)).toStrictEqual(keysOf(sandboxB, "s1"));
      expect(await listKeys(provider, `grid/${sandboxB}/`)).toStrictEqual(keysOf(sandboxB));
      expect(keysOf(sandboxA, "s1x")).toHaveLength(3);
      expect(keysOf(sandboxB)).toHaveLength(2);
    });

    it("lists a whole sandbox under grid/{sandbox}/, across sessions, in key order", async () => {
      const keys = await listKeys(provider, `grid/${sandboxA}/`, 100);
      expect(keys).toStrictEqual(keysOf(sandboxA));
      expect(keys).toHaveLength(253);
    });

    it("pages with limit 1 and ends with a null cursor", async () => {
      const pages = await listPages(provider, `grid/${sandboxA}/s1x/`, 1);
      expect(pages.map((p) => p.length)).toStrictEqual([1, 1, 1]);
    });

    it("lists each overwritten artifact once and whole, a record too large for metadata too", async () => {
      const at = place("rv");
      // At the field limits: more than S3 metadata holds, so there the record is the head's body.
      const big = makeRecord(at, {
        summary: "ü".repeat(LIMITS.summaryLength),
        meta: { blob: "✓".repeat(2000) },
      });
      const small = makeRecord(at);
      const first = await provider.put(big, single(Buffer.from("big 1")));
      await provider.put(first, single(Buffer.from("big 2")), { previous: first });
      const kept = await provider.put(small, single(Buffer.from("small 1")));
      await provider.put(kept, single(Buffer.from("small 2")), { previous: kept });
      const expected = await Promise.all([...[big.key, small.key].sort()].map((k) => provider.getRecord(k)));
      for (const limit of [1, 2, 10]) {
        const pages = await listPages(provider, `grid/${at.sandboxId}/rv/`, limit);
        expect(pages.flat()).toStrictEqual(expected);
        expect(pages.at(-1)).not.toHaveLength(0);
      }
      const wide = await listPages(provider, `grid/${at.sandboxId}/`, 1);
      expect(wide.flat()).toStrictEqual(expected);
    });

    it("is empty with a null cursor for a prefix nothing was written under", async () => {
      expect(await provider.list(`grid/${sandbox()}/`, { limit: 10 })).toStrictEqual({
        records: [],
        cursor: null,
      });
      expect(await provider.list(`grid/${sandboxA}/nobody/`, { limit: 10 })).toStrictEqual({
        records: [],
        cursor: null,
      });
    });
  });

  it("lists without duplicates while records are deleted between pages", async () => {
    const at = place();
    const records = await mapLimit(Array.from({ length: 40 }), 8, () =>
      provider.put(makeRecord(at), single(Buffer.from("x"))),
    );
    const remaining = records.map((r) => r.key).sort();
    const deletedUnseen = new Set<string>();
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await provider.list(`grid/${at.sandboxId}/${at.sessionId}/`, { limit: 6, cursor });
      cursor = page.cursor;
      seen.push(...page.records.map((r) => r.key));
      // Delete the key the cursor points at and one key not reached yet.
      const last = page.records[page.records.length - 1];
      if (last) expect(await provider.delete(last.key)).toBe(true);
      const ahead = remaining.find((k) => k > (last?.key ?? "") && !deletedUnseen.has(k));
      if (ahead && cursor !== null) {
        expect(await provider.delete(ahead)).toBe(true);
        deletedUnseen.add(ahead);
      }
      if (++pages > 40) throw new Error("listing did not end");
    } while (cursor !== null);

    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toStrictEqual([...seen].sort());
    for (const key of deletedUnseen) expect(seen).not.toContain(key);
    expect(seen.sort()).toStrictEqual(remaining.filter((k) => !deletedUnseen.has(k)));
    expect(deletedUnseen.size).toBeGreaterThan(3);
  });

  describe("locate", () => {
    it("finds the key from the id alone, only within the artifact's sandbox", async () => {
      const record = makeRecord(place("s-locate"));
      await provider.put(record, single(Buffer.from("here")));
      expect(await provider.locate(record.sandboxId, record.artifactId)).toBe(record.key);
      expect(await provider.locate(record.sandboxId, newArtifactId())).toBeNull();
      expect(await provider.locate(sandbox(), record.artifactId)).toBeNull();
    });

    it("follows an id's key through an overwrite, a delete and a new write of that key", async () => {
      const record = makeRecord(place("s-follow"));
      const { sandboxId, artifactId, key } = record;
      /** The record read by id, the same-turn way where the provider has one, else by locate. */
      const byId = async (): Promise<ArtifactRecord | null> => {
        const view = provider.viewOfIdNow?.(sandboxId, artifactId);
        if (view !== undefined) return view && { ...view.record, storage: view.storage };
        const located = await provider.locate(sandboxId, artifactId);
        return located === null ? null : provider.getRecord(located);
      };
      const first = await provider.put(record, single(Buffer.from("first")));
      expect(plain(await byId())).toStrictEqual(plain(first));
      const second = await provider.put({ ...record, summary: "second" }, single(Buffer.from("second")));
      expect((await byId())?.sha256).toBe(sha256(Buffer.from("second")));
      expect(plain(await byId())).toStrictEqual(plain(second));
      expect(await provider.delete(key)).toBe(true);
      expect(await byId()).toBeNull();
      const third = await provider.put({ ...record, summary: "third" }, single(Buffer.from("third")));
      expect(plain(await byId())).toStrictEqual(plain(third));
      expect(await provider.getRecord(key)).toMatchObject({ summary: "third" });
    });
  });

  describe("health and describe", () => {
    it("reports healthy", async () => {
      const health = await provider.health();
      expect(health.ok).toBe(true);
      expect(typeof health.detail).toBe("string");
    });

    it("describes itself without secrets", () => {
      const facts = provider.describe();
      expect(facts).toBeTypeOf("object");
      expect(JSON.parse(JSON.stringify(facts))).toBeTypeOf("object");
      expect(findSecrets(facts, knownSecrets())).toStrictEqual([]);
    });
  });

  it("lists thousands of artifacts completely, each exactly once", { timeout: 900_000 }, async () => {
    const count = LARGE_LISTING_COUNT[fixture.name] ?? LARGE_LISTING_DEFAULT;
    const at = place("big");
    const written = await mapLimit(Array.from({ length: count }), 16, () =>
      provider.put(makeRecord(at), single(Buffer.from("b"))).then((r) => r.key),
    );
    const pages = await listPages(provider, `grid/${at.sandboxId}/`, 1000);
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(1000);
    const keys = pages.flat().map((r) => r.key);
    expect(keys).toHaveLength(count);
    expect(keys).toStrictEqual(written.sort());
  });
});
