import { afterEach, beforeEach, describe, expect, inject, test } from "vitest";
import {
  ArtifactStore,
  type ArtifactStoreOptions,
  createHttpHandler,
  QuotaExceededError,
} from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";
import { forgetSandboxInRedis } from "./helpers/redis-keys.js";

/** PUTs bytes to a presigned upload URL: the store's own handler, or S3's. */
async function putTo(
  store: ArtifactStore,
  upload: { url: string; headers: Record<string, string> },
  body: Buffer,
) {
  const request = new Request(upload.url, {
    method: "PUT",
    headers: upload.headers,
    body: new Uint8Array(body),
  });
  const own = upload.url.startsWith(store.config.publicUrl);
  const res = own ? await createHttpHandler(store).fetch(request) : await fetch(request);
  expect(res.status).toBeLessThan(300);
}

describe.each(storeConfigs().map((f) => f.name))("quotas on %s", (name) => {
  let fixture: Fixture<ArtifactStoreOptions>;
  let options: ArtifactStoreOptions;
  let store: ArtifactStore;
  const open = (extra: ArtifactStoreOptions = {}) =>
    new ArtifactStore({
      ...options,
      signingSecret: "quota-test-secret",
      quotas: { user: { bytes: 1000, artifacts: 5 }, session: { artifacts: 3 } },
      ...extra,
    });

  beforeEach(async () => {
    fixture = storeConfigs().find((f) => f.name === name)!;
    options = await fixture.open();
    store = open();
  });

  afterEach(async () => {
    await store.close();
    await fixture.dispose();
  });

  test("a write past a quota is refused before anything is stored, and deletes give usage back", async () => {
    const a = await store.store(Buffer.alloc(600), { userId: "alice" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 600, artifacts: 1 });
    const refused = await store.store(Buffer.alloc(500), { userId: "alice" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QuotaExceededError);
    expect((refused as QuotaExceededError).code).toBe("QUOTA_EXCEEDED");
    expect((refused as QuotaExceededError).scope).toBe("user");
    expect(await store.listBySession("user_alice")).toHaveLength(1);
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 600, artifacts: 1 });

    // Session artifact quota (3), counted per session; another session of alice's has its own.
    await store.store("b", { userId: "alice" });
    await store.store("c", { userId: "alice" });
    await expect(store.store("d", { userId: "alice" })).rejects.toMatchObject({ scope: "session" });
    await store.store("d", { userId: "alice", sessionId: "alice-two" });
    await store.store("e", { userId: "alice", sessionId: "alice-two" });
    // User artifact quota (5) across both sessions.
    await expect(store.store("f", { userId: "alice", sessionId: "alice-three" })).rejects.toMatchObject({
      scope: "user",
    });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 604, artifacts: 5 });
    expect(await store.getUsage({ sessionId: "alice-two" })).toEqual({ bytes: 2, artifacts: 2 });
    // Another user is not affected.
    await store.store(Buffer.alloc(900), { userId: "bob" });

    await store.delete(a);
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 4, artifacts: 4 });
    await store.store(Buffer.alloc(900), { userId: "alice", sessionId: "alice-two" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 904, artifacts: 5 });
  });

  test("an update counts only its growth; a stream of unknown size stops where the quota ends", async () => {
    // Without history: the content an update replaces is gone, so only the growth counts.
    await store.close();
    store = open({ keepVersions: 0 });
    const id = await store.store(Buffer.alloc(700), { userId: "alice" });
    await store.updateFile(id, { data: Buffer.alloc(900), userId: "alice" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 900, artifacts: 1 });
    await expect(store.updateFile(id, { data: Buffer.alloc(1001), userId: "alice" })).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    expect((await store.metadata(id)).bytes).toBe(900);

    async function* chunks(n: number) {
      for (let i = 0; i < n; i++) yield Buffer.alloc(50);
    }
    await expect(store.store(chunks(4), { userId: "alice" })).rejects.toBeInstanceOf(QuotaExceededError);
    expect(await store.listBySession("user_alice")).toHaveLength(1);
    await store.store(chunks(2), { userId: "alice" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 1000, artifacts: 2 });
    await expect(store.copyFile(id, { userId: "alice" })).rejects.toBeInstanceOf(QuotaExceededError);
  });

  test("a presigned upload reserves its maxBytes until it is registered, then counts its real size", async () => {
    const upload = await store.presignUpload({ userId: "alice", maxBytes: 800, mimeType: "text/plain" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 800, artifacts: 1 });
    await expect(store.store(Buffer.alloc(300), { userId: "alice" })).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    await expect(store.presignUpload({ userId: "alice", maxBytes: 300 })).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    await putTo(store, upload, Buffer.alloc(100, 1));
    await store.registerUploadedArtifact(upload.artifactId, { userId: "alice" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 100, artifacts: 1 });

    const multipart = await store.createMultipartUpload({ userId: "alice", maxBytes: 500 });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 600, artifacts: 2 });
    await store.abortMultipartUpload(multipart.artifactId, multipart.uploadId, { userId: "alice" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 100, artifacts: 1 });
  });

  test("earlier versions count until retention drops them or the artifact goes, also after a recount", async () => {
    await store.close();
    store = open({ keepVersions: 2 });
    const usage = () => store.getUsage({ userId: "alice" });
    /** Retention drops outgrown versions just after a write returns: wait for the count to settle. */
    const settled = async (bytes: number) => {
      for (let i = 0; i < 100 && (await usage()).bytes !== bytes; i++)
        await new Promise((r) => setTimeout(r, 20));
      return usage();
    };
    const id = await store.store(Buffer.alloc(100), { userId: "alice" });
    await store.updateFile(id, { data: Buffer.alloc(200), userId: "alice" });
    expect(await usage()).toEqual({ bytes: 300, artifacts: 1 }); // v1 kept: 100 + 200
    await store.updateFile(id, { data: Buffer.alloc(300), userId: "alice" });
    expect(await usage()).toEqual({ bytes: 600, artifacts: 1 });
    await store.updateFile(id, { data: Buffer.alloc(50), userId: "alice" });
    // v1 fell out of keepVersions: its 100 bytes are given back.
    expect(await settled(550)).toEqual({ bytes: 550, artifacts: 1 });
    // The versions kept count toward the limit: 550 + 500 > 1000.
    await expect(store.updateFile(id, { data: Buffer.alloc(500), userId: "alice" })).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    // A restore is a new version and counts like one (v2's 200 bytes then drop out).
    await store.restoreVersion(id, 3, { userId: "alice" });
    expect(await settled(650)).toEqual({ bytes: 650, artifacts: 1 });
    expect((await store.listVersions(id, { userId: "alice" })).reduce((n, v) => n + v.bytes, 0)).toBe(650);
    // A recount from storage agrees (counters lost with Redis, or a new process with memory sessions).
    const redisUrl = inject("services").redisUrl;
    if (options.sessionProvider === "redis" && redisUrl) {
      expect(await forgetSandboxInRedis(redisUrl, options.sandboxId!)).toBeGreaterThan(0);
      expect(await usage()).toEqual({ bytes: 650, artifacts: 1 });
    }
    expect(await store.recountUsage({ userId: "alice" })).toEqual({ bytes: 650, artifacts: 1 });
    expect(await store.delete(id, { userId: "alice" })).toBe(true);
    expect(await usage()).toEqual({ bytes: 0, artifacts: 0 });
  });

  test("counters that are lost are recounted from storage, never reset to zero", async () => {
    await store.store(Buffer.alloc(300), { userId: "alice" });
    await store.store(Buffer.alloc(200), { userId: "alice", sessionId: "alice-two" });
    await store.presignUpload({ userId: "alice", maxBytes: 100 });
    const before = await store.getUsage({ userId: "alice" });
    expect(before).toEqual({ bytes: 600, artifacts: 3 });
    const redisUrl = inject("services").redisUrl;
    if (options.sessionProvider === "redis" && redisUrl) {
      expect(await forgetSandboxInRedis(redisUrl, options.sandboxId!)).toBeGreaterThan(0);
    } else if (options.storageProvider === "filesystem") {
      // Memory sessions: a new process has no counters; storage on disk still has the artifacts.
      await store.close();
      store = open();
    } else return; // memory storage: nothing outlives the process to recount from
    expect(await store.getUsage({ userId: "alice" })).toEqual(before);
    expect(await store.getUsage({ sessionId: "alice-two" })).toEqual({ bytes: 200, artifacts: 1 });
    await expect(store.store(Buffer.alloc(401), { userId: "alice" })).rejects.toBeInstanceOf(
      QuotaExceededError,
    );
    await store.store(Buffer.alloc(400), { userId: "alice" });
    expect(await store.getUsage({ userId: "alice" })).toEqual({ bytes: 1000, artifacts: 4 });
  });

  test("quotas come from the environment when not given", async () => {
    const saved = { ...process.env };
    try {
      process.env.ARTIFACT_QUOTA_SESSION_ARTIFACTS = "1";
      const fromEnv = new ArtifactStore({ ...options });
      try {
        expect(fromEnv.quotaLimits).toEqual({ session: { artifacts: 1 } });
        await fromEnv.store("one", { sessionId: "env-s" });
        await expect(fromEnv.store("two", { sessionId: "env-s" })).rejects.toBeInstanceOf(QuotaExceededError);
      } finally {
        await fromEnv.close();
      }
    } finally {
      process.env = saved;
    }
  });
});
