import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BodyTooLargeError } from "../src/body.js";
import { mapLimit } from "../src/concurrency.js";
import { resolveConfig } from "../src/config.js";
import { ArtifactNotFoundError, ValidationError } from "../src/errors.js";
import type { RecordStore } from "../src/records.js";
import {
  generated,
  objectKeys,
  once,
  openS3,
  openUploads,
  rawClient,
  readAll,
  record,
  s3Config,
  s3Services,
  sandbox,
  sha256,
} from "./s3-helpers.js";

const MiB = 1024 * 1024;

describe.skipIf(!s3Services())("s3 provider against RGW", () => {
  let s3: RecordStore;
  let raw: S3Client;
  const sb = sandbox();

  beforeAll(async () => {
    s3 = await openS3();
    raw = rawClient();
  });
  afterAll(async () => {
    await s3.close();
    raw.destroy();
  });

  it("keeps a small artifact as one object: its bytes, with the record as metadata", async () => {
    const data = Buffer.from("hello, grid");
    const r = record(sb, "sess-a");
    const committed = await s3.put(r, once(data), { fresh: true });
    expect(committed).toMatchObject({ bytes: data.byteLength, sha256: sha256(data) });

    // Exactly one object, at the grid key itself, holding the bytes.
    const objects = (await objectKeys(raw, `grid/${sb}/`)).filter((k) => k.includes(r.artifactId));
    expect(objects).toEqual([r.key]);
    const head = await raw.send(new HeadObjectCommand({ Bucket: s3Config().bucket, Key: r.key }));
    expect(head.ContentLength).toBe(data.byteLength);
    expect(head.Metadata?.chuk).toContain(sha256(data));
    expect(await s3.getRecord(r.key)).toEqual(committed);
    expect(await s3.locate(sb, r.artifactId)).toBe(r.key);
    expect(await s3.locate(sb, "0123456789abcdef0123456789abcdef")).toBeNull();

    const opened = (await s3.openBody(r.key))!;
    expect(opened).toMatchObject({ length: 11, totalBytes: 11, sha256: sha256(data) });
    expect((await readAll(opened.stream)).toString()).toBe("hello, grid");

    const ranged = (await s3.openBody(r.key, { start: 7, end: 10 }))!;
    expect(ranged).toMatchObject({ length: 4, totalBytes: 11 });
    expect((await readAll(ranged.stream)).toString()).toBe("grid");

    expect(await s3.openBody(record(sb, "sess-a").key)).toBeNull();
    expect(await s3.getRecord(record(sb, "sess-a").key)).toBeNull();
  });

  it("stores an empty body", async () => {
    const r = record(sb, "sess-empty");
    const committed = await s3.put(r, once(new Uint8Array(0)));
    expect(committed.bytes).toBe(0);
    const opened = (await s3.openBody(r.key))!;
    expect(opened).toMatchObject({ length: 0, totalBytes: 0, sha256: sha256(new Uint8Array(0)) });
    expect((await readAll(opened.stream)).byteLength).toBe(0);
  });

  it("a metadata-only update keeps the bytes; a pending record has no body and is listed", async () => {
    const r = record(sb, "sess-b");
    const committed = await s3.put(r, once(Buffer.from("body")));
    await s3.putRecord({ ...committed, summary: "renamed", meta: { x: 2 } });
    expect(await s3.getRecord(r.key)).toMatchObject({ summary: "renamed", meta: { x: 2 }, bytes: 4 });
    expect((await readAll((await s3.openBody(r.key))!.stream)).toString()).toBe("body");

    const pending = record(sb, "sess-b", { status: "pending" });
    await s3.putRecord(pending);
    // The etag is stamped by the write; everything else is as given.
    expect(await s3.getRecord(pending.key)).toMatchObject({ ...pending, etag: expect.any(String) });
    expect(await s3.openBody(pending.key)).toBeNull();
    expect(await s3.locate(sb, pending.artifactId)).toBe(pending.key);
    const page = await s3.list(`grid/${sb}/sess-b/`, { limit: 10 });
    expect(page.records.map((x) => x.key).sort()).toEqual([r.key, pending.key].sort());
  });

  it("readers never see bytes that do not match the sha256 returned with them while updates run", async () => {
    const r = record(sb, "sess-race");
    const bodies = [Buffer.alloc(300_000, 1), Buffer.alloc(200_000, 2), Buffer.alloc(100_000, 3)];
    await s3.put(r, once(bodies[0]!));
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 24; i++) await s3.put(r, once(bodies[i % 3]!));
      writing = false;
    })();
    let reads = 0;
    const reader = async () => {
      while (writing) {
        const opened = (await s3.openBody(r.key))!;
        const bytes = await readAll(opened.stream);
        expect(bytes.byteLength).toBe(opened.totalBytes);
        expect(sha256(bytes)).toBe(opened.sha256);
        reads++;
      }
    };
    await Promise.all([writer, reader(), reader()]);
    expect(reads).toBeGreaterThan(10);
  });

  it("refuses a body past maxBytes and leaves nothing behind, small or streamed", async () => {
    const client = raw;
    for (const [size, limit] of [
      [1000, 999],
      [20 * MiB, 12 * MiB],
    ] as const) {
      const r = record(sb, "sess-max");
      const body = generated(size);
      await expect(s3.put(r, body.source(), { maxBytes: limit })).rejects.toBeInstanceOf(BodyTooLargeError);
      expect(await s3.getRecord(r.key)).toBeNull();
      expect(await s3.locate(sb, r.artifactId)).toBeNull();
      expect(await s3.openBody(r.key)).toBeNull();
    }
    expect(await objectKeys(client, `grid/${sb}/sess-max/`)).toEqual([]);
    expect(await openUploads(client, `grid/${sb}/`)).toEqual([]);
  });

  it("a stream that fails mid-upload aborts the multipart upload and commits nothing", async () => {
    const r = record(sb, "sess-fail");
    async function* dying(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 20; i++) yield Buffer.alloc(MiB, i);
      throw new Error("client went away");
    }
    await expect(s3.put(r, dying())).rejects.toThrow("client went away");
    expect(await s3.getRecord(r.key)).toBeNull();
    expect(await objectKeys(raw, `grid/${sb}/sess-fail/`)).toEqual([]);
    expect(await openUploads(raw, `grid/${sb}/`)).toEqual([]);
  });

  it("copies server-side with the checksum, and refuses a missing source", async () => {
    const source = record(sb, "sess-c");
    const data = Buffer.from("copy me");
    await s3.put(source, once(data));
    const target = record(sb, "sess-c", { summary: "the copy" });
    const committed = await s3.copy(source.key, target);
    expect(committed).toMatchObject({ key: target.key, bytes: 7, sha256: sha256(data), summary: "the copy" });
    expect(committed.storage?.rev).toBeNull(); // one CopyObject: bytes and the new record together
    expect(await s3.getRecord(target.key)).toEqual(committed);
    expect(await s3.locate(sb, target.artifactId)).toBe(target.key);
    expect((await readAll((await s3.openBody(target.key))!.stream)).toString()).toBe("copy me");
    await expect(s3.copy(record(sb, "sess-c").key, record(sb, "sess-c"))).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
  });

  it("streams a large body in parts, and copies past the single-copy limit part by part", async () => {
    // Small limits, so the path taken by bodies over 5 GiB runs here with 13 MiB.
    const tuned = await openS3({ partSize: 5 * MiB, singleCopyMax: 6 * MiB, copyPartSize: 5 * MiB });
    try {
      const r = record(sb, "sess-mpc");
      const body = generated(13 * MiB + 123);
      const committed = await tuned.put(r, body.source());
      expect(committed).toMatchObject({ bytes: 13 * MiB + 123, sha256: body.sha256 });
      const opened = (await tuned.openBody(r.key))!;
      expect(opened.sha256).toBe(body.sha256);
      expect(sha256(await readAll(opened.stream))).toBe(body.sha256);
      const copy = await tuned.copy(r.key, record(sb, "sess-mpc"));
      expect(copy.sha256).toBe(body.sha256);
      expect(sha256(await readAll((await tuned.openBody(copy.key))!.stream))).toBe(body.sha256);
      expect(await openUploads(raw, `grid/${sb}/`)).toEqual([]);
    } finally {
      await tuned.close();
    }
  });

  it("delete removes body, record, index and staging, and says whether anything was there", async () => {
    const r = record(sb, "sess-d");
    await s3.put(r, once(Buffer.from("bye")));
    expect(await s3.delete(r.key)).toBe(true);
    expect(await s3.getRecord(r.key)).toBeNull();
    expect(await s3.openBody(r.key)).toBeNull();
    expect(await s3.locate(sb, r.artifactId)).toBeNull();
    expect(await s3.delete(r.key)).toBe(false);
    const left = (await objectKeys(raw, `grid/${sb}/`)).filter((k) => k.includes(r.artifactId));
    expect(left).toEqual([]);
  });

  it("lists 2,500 records completely through pages, in key order, never reserved objects", async () => {
    const lsb = sandbox();
    const sessions = ["alpha", "beta"];
    const records = Array.from({ length: 2500 }, (_, i) => record(lsb, sessions[i % 2]!));
    const started = Date.now();
    await mapLimit(records, 32, (r) => s3.putRecord(r, { fresh: true }));
    const created = Date.now() - started;
    // Reserved objects sit under the sandbox too: none may surface in a listing.
    await s3.put(record(lsb, "alpha"), generated(9 * MiB).source());
    const expected = new Set(records.map((r) => r.key));

    const listStarted = Date.now();
    const keys: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await s3.list(`grid/${lsb}/`, { limit: 1000, cursor });
      keys.push(...page.records.map((r) => r.key));
      cursor = page.cursor;
      pages++;
      if (cursor !== null) expect(typeof cursor).toBe("string");
    } while (cursor !== null);
    const listed = Date.now() - listStarted;
    expect(pages).toBe(3);
    expect(keys.length).toBe(2501);
    expect(keys).toEqual([...keys].sort());
    for (const k of expected) expect(keys).toContain(k);

    // One session, smaller pages.
    const alpha: string[] = [];
    cursor = null;
    do {
      const page = await s3.list(`grid/${lsb}/alpha/`, { limit: 333, cursor });
      expect(page.records.length).toBeLessThanOrEqual(333);
      alpha.push(...page.records.map((r) => r.key));
      cursor = page.cursor;
    } while (cursor !== null);
    expect(alpha.length).toBe(1251);
    expect(new Set(alpha).size).toBe(1251);
    console.log(`2,500 records: created in ${created} ms (concurrency 32), listed in ${listed} ms (3 pages)`);
  }, 300_000);

  it("costs the requests the design promises per operation", async () => {
    // Observe (not alter) every request the provider sends.
    const spy = vi.spyOn(S3Client.prototype, "send");
    const count = async (fn: () => Promise<unknown>) => {
      spy.mockClear();
      await fn();
      return spy.mock.calls.map(([command]) => command.constructor.name.replace(/Command$/, ""));
    };
    try {
      await s3.getRecord(record(sb, "sess-trips").key); // the one-off check that the bucket exists
      // A fresh id (what store() writes): one PutObject holding bytes and record; the id index
      // entry goes to the session provider meanwhile.
      const r = record(sb, "sess-trips");
      expect(await count(() => s3.put(r, once(Buffer.from("v1")), { fresh: true }))).toEqual(["PutObject"]);
      expect(await s3.locate(r.sandboxId, r.artifactId)).toBe(r.key);
      // Replacing the bytes of the version read: one conditional PutObject.
      const read = (await s3.getRecord(r.key))!;
      expect(await count(() => s3.put(read, once(Buffer.from("v2"))))).toEqual(["PutObject"]);
      // Reading what the caller's record names: one GetObject, which carries its sha256 too.
      const current = (await s3.getRecord(r.key))!;
      expect(
        await count(async () => readAll((await s3.openBody(r.key, undefined, current))!.stream)),
      ).toEqual(["GetObject"]);
      // Presigning what the caller's record names: no request at all.
      expect(
        await count(() =>
          s3.presignGet(r.key, { expires: 60, sha256: current.sha256, rev: current.storage!.rev }),
        ),
      ).toEqual([]);
      // The first metadata-only update moves the bytes to a revision (RGW cannot copy an object
      // onto itself conditionally) and writes the head; every later one is one conditional PUT.
      expect(await count(() => s3.putRecord({ ...current, summary: "renamed" }))).toEqual([
        "CopyObject",
        "PutObject",
      ]);
      const moved = (await s3.getRecord(r.key))!;
      expect(moved.storage?.rev).toMatch(/^[0-9a-f]{16}$/);
      expect(await count(() => s3.putRecord({ ...moved, summary: "again" }))).toEqual(["PutObject"]);
      expect((await readAll((await s3.openBody(r.key))!.stream)).toString()).toBe("v2");
    } finally {
      spy.mockRestore();
    }
  });

  it("refuses list prefixes that are not a sandbox or session, and foreign cursors", async () => {
    await expect(s3.list("grid/", { limit: 10 })).rejects.toThrow();
    await expect(s3.list(`grid/${sb}/_index/`, { limit: 10 })).rejects.toThrow();
    await expect(
      s3.list(`grid/${sb}/sess-a/`, {
        limit: 10,
        cursor: Buffer.from("grid/other/x/y").toString("base64url"),
      }),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it("health() writes, reads and deletes a probe; describe() names no secret", async () => {
    const health = await s3.health();
    expect(health.ok).toBe(true);
    expect(health.detail).toContain(s3Config().bucket);
    const facts = JSON.stringify(s3.describe());
    expect(facts).toContain(s3Config().bucket);
    expect(facts).not.toContain(s3Config().secretAccessKey);
    expect(await objectKeys(raw, "grid/_probe/")).toEqual([]);
  });

  it("the ibm_cos name runs the same code path, configured the IBM COS way", async () => {
    const c = s3Config();
    const config = resolveConfig(
      { storageProvider: "ibm_cos" },
      {
        IBM_COS_ACCESS_KEY: c.accessKeyId,
        IBM_COS_SECRET_KEY: c.secretAccessKey,
        IBM_COS_ENDPOINT: c.endpoint,
        ARTIFACT_BUCKET: c.bucket,
      },
    );
    const cos = await openS3({}, "ibm_cos", config.s3);
    try {
      expect(cos.name).toBe("ibm_cos");
      const r = record(sb, "sess-cos");
      await cos.put(r, once(Buffer.from("cos")));
      expect((await readAll((await cos.openBody(r.key))!.stream)).toString()).toBe("cos");
      expect((await cos.health()).ok).toBe(true);
      const url = await cos.presignGet(r.key, { expires: 60 });
      expect(await (await fetch(url)).text()).toBe("cos");
    } finally {
      await cos.close();
    }
  });

  it("replacing a large body leaves exactly one revision; a failed commit keeps the old version whole", async () => {
    // A record too large for metadata puts even small bytes in a revision named by the head.
    const big = { blob: "x".repeat(3000) };
    const r = record(sb, "sess-rev", { meta: big });
    for (const text of ["one", "two", "three"]) {
      const current = await s3.getRecord(r.key);
      await s3.put(current ?? r, once(Buffer.from(text)));
    }
    // Superseded revisions are deleted off the write's path, right after it.
    await vi.waitFor(async () => expect(await objectKeys(raw, `${r.key}~`)).toHaveLength(1));

    // Inject the crash window: the new bytes are written, the head (the commit point) is not.
    const original = S3Client.prototype.send;
    const spy = vi.spyOn(S3Client.prototype, "send").mockImplementation(function (
      this: S3Client,
      command,
      ...rest
    ) {
      if (command instanceof PutObjectCommand && command.input.Key === r.key) {
        return Promise.reject(Object.assign(new Error("connection reset"), { code: "ECONNRESET" }));
      }
      return (original as (...a: unknown[]) => Promise<unknown>).call(this, command, ...rest);
    } as typeof original);
    try {
      const current = (await s3.getRecord(r.key))!;
      await expect(s3.put({ ...current, summary: "never" }, once(Buffer.from("four")))).rejects.toThrow(
        "ECONNRESET",
      );
    } finally {
      spy.mockRestore();
    }
    const after = (await s3.getRecord(r.key))!;
    expect(after.sha256).toBe(sha256(Buffer.from("three")));
    const opened = (await s3.openBody(r.key))!;
    expect(opened.sha256).toBe(after.sha256);
    expect((await readAll(opened.stream)).toString()).toBe("three");
    // The uncommitted revision was removed again.
    expect(await objectKeys(raw, `${r.key}~`)).toHaveLength(1);
  });

  it("an update that races a delete never brings the artifact back", async () => {
    for (let round = 0; round < 20; round++) {
      const r = record(sb, "sess-del");
      const read = await s3.put(r, once(Buffer.from("v1")), { fresh: true });
      const [updated, deleted] = await Promise.allSettled([
        s3.put(read, once(Buffer.from("v2"))),
        s3.delete(r.key),
      ]);
      expect(deleted).toMatchObject({ status: "fulfilled", value: true });
      if (updated.status === "rejected") expect(updated.reason).toBeInstanceOf(ArtifactNotFoundError);
      // Whichever landed first, the delete wins: nothing is left.
      expect(await s3.getRecord(r.key)).toBeNull();
    }
  });
});
