import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArtifactStoreOptions } from "../src/config.js";
import { AccessDeniedError, ArtifactNotFoundError, ValidationError } from "../src/errors.js";
import { ArtifactStore } from "../src/store.js";
import { generated, objectKeys, rawClient, s3Config, s3Services, sandbox, sha256 } from "./s3-helpers.js";

/** The whole store, end to end, on the s3 provider against RGW (sessions in memory: storage is the truth). */

describe.skipIf(!s3Services())("ArtifactStore on s3", () => {
  let options: ArtifactStoreOptions;
  let store: ArtifactStore;

  beforeAll(() => {
    const c = s3Config();
    options = {
      storageProvider: "s3",
      sandboxId: sandbox(),
      s3: {
        bucket: c.bucket,
        region: c.region,
        endpoint: c.endpoint,
        accessKeyId: c.accessKeyId,
        secretAccessKey: c.secretAccessKey,
      },
    };
    store = new ArtifactStore(options);
  });
  afterAll(async () => {
    await store.close();
  });

  it("stores, reads, updates, copies, moves, lists and deletes", async () => {
    const id = await store.store("Hello, world!", {
      mime: "text/plain",
      summary: "greeting",
      filename: "hello.txt",
      userId: "alice",
    });
    expect(await store.readFile(id, { asText: true })).toBe("Hello, world!");
    const meta = await store.metadata(id);
    expect(meta).toMatchObject({
      bytes: 13,
      sha256: sha256(Buffer.from("Hello, world!")),
      storageProvider: "s3",
      sessionId: "user_alice",
      key: `grid/${options.sandboxId}/user_alice/${id}`,
    });

    const updated = await store.updateFile(id, {
      data: "Hello, updated world!",
      summary: "Updated greeting",
    });
    expect(updated).toMatchObject({ bytes: 21, summary: "Updated greeting" });
    expect(await store.readFile(id, { asText: true })).toBe("Hello, updated world!");
    await store.updateMetadata(id, { meta: { lang: "en" }, summary: "meta only" });
    expect((await store.metadata(id)).meta).toEqual({ lang: "en" });
    expect(await store.readFile(id, { asText: true })).toBe("Hello, updated world!");

    const copyId = await store.copyFile(id, { newFilename: "copy.txt" });
    expect(await store.readFile(copyId, { asText: true })).toBe("Hello, updated world!");
    await expect(store.copyFile(id, { targetSessionId: "someone-else" })).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    const moved = await store.moveFile(copyId, { newFilename: "docs/moved.txt" });
    expect(moved.filename).toBe("docs/moved.txt");
    expect((await store.metadata(copyId)).filename).toBe("docs/moved.txt");

    const listed = await store.listBySession("user_alice");
    expect(listed.map((m) => m.artifactId).sort()).toEqual([id, copyId].sort());
    expect((await store.getDirectoryContents("user_alice", "docs/")).map((m) => m.artifactId)).toEqual([
      copyId,
    ]);

    expect(await store.delete(copyId)).toBe(true);
    expect(await store.delete(copyId)).toBe(false);
    expect(await store.exists(copyId)).toBe(false);
    await expect(store.retrieve(copyId)).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it("presigns a download that plain fetch can use, with range", async () => {
    const id = await store.store(Buffer.from("0123456789"), { filename: "digits.bin", userId: "bob" });
    const url = await store.presignShort(id);
    expect(url).toContain("X-Amz-Signature=");
    const response = await fetch(url);
    expect(await response.text()).toBe("0123456789");
    expect(response.headers.get("content-disposition")).toContain('filename="digits.bin"');
    const ranged = await fetch(url, { headers: { range: "bytes=2-4" } });
    expect(await ranged.text()).toBe("234");
  });

  it("presignUpload → client PUT → registerUploadedArtifact records the real size and sha256", async () => {
    const upload = await store.presignUpload({
      userId: "carol",
      filename: "data.csv",
      mimeType: "text/csv",
      maxBytes: 100,
    });
    const data = Buffer.from("x,y\n1,2\n3,4\n");
    const put = await fetch(upload.url, { method: "PUT", body: data, headers: upload.headers });
    expect(put.status).toBe(200);
    const registered = await store.registerUploadedArtifact(upload.artifactId, {
      userId: "carol",
      summary: "csv",
    });
    expect(registered).toMatchObject({ bytes: data.byteLength, sha256: sha256(data), mime: "text/csv" });
    expect(await store.retrieve(upload.artifactId)).toEqual(data);

    const big = await store.presignUpload({ userId: "carol", maxBytes: 4 });
    await fetch(big.url, { method: "PUT", body: Buffer.from("too large"), headers: big.headers });
    await expect(store.registerUploadedArtifact(big.artifactId, { userId: "carol" })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(store.metadata(big.artifactId)).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it("streams a Node Readable larger than one part and reads it back checked", async () => {
    const body = generated(20 * 1024 * 1024 + 7);
    const id = await store.store(Readable.from(body.source()), {
      userId: "dave",
      mime: "application/octet-stream",
    });
    const meta = await store.metadata(id);
    expect(meta).toMatchObject({ bytes: 20 * 1024 * 1024 + 7, sha256: body.sha256 });
    expect(sha256(await store.retrieve(id))).toBe(body.sha256);
  });

  it("a fresh store with empty sessions finds everything from the bucket alone", async () => {
    const id = await store.store("durable", { userId: "erin", filename: "d.txt" });
    const fresh = new ArtifactStore(options);
    try {
      expect(await fresh.readFile(id, { asText: true })).toBe("durable");
      expect((await fresh.listBySession("user_erin")).map((m) => m.artifactId)).toEqual([id]);
      await expect(fresh.readFile(id, { userId: "mallory" })).rejects.toBeInstanceOf(AccessDeniedError);
    } finally {
      await fresh.close();
    }
  });

  it("validates, reports stats without secrets, and cleans up expired artifacts completely", async () => {
    const check = await store.validateConfiguration();
    expect(check.storage).toMatchObject({ status: "ok", provider: "s3" });
    const stats = await store.getStats();
    expect(stats.bucket).toBe(s3Config().bucket);
    expect(JSON.stringify(stats)).not.toContain(s3Config().secretAccessKey);

    const shortLived = new ArtifactStore({ ...options, sandboxId: sandbox(), defaultTtl: 1 });
    try {
      const id = await shortLived.store("soon gone", { userId: "frank" });
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(await shortLived.cleanupExpiredSessions()).toBe(1);
      const raw = rawClient();
      try {
        // Nothing of the artifact is left; its session (not expired) keeps its owner record.
        expect(await objectKeys(raw, `grid/${shortLived.sandboxId}/`)).toEqual([
          `grid/${shortLived.sandboxId}/_sessions/user_frank`,
        ]);
      } finally {
        raw.destroy();
      }
      await expect(shortLived.retrieve(id)).rejects.toBeInstanceOf(ArtifactNotFoundError);
    } finally {
      await shortLived.close();
    }
  });
});
