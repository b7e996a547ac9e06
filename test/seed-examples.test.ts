/**
 * Every code example of the seed README, in TypeScript naming, run against every whole-store
 * configuration (memory, filesystem, and S3 + Redis when the servers are up). Each test gets a
 * fresh sandbox (and, for the filesystem, a fresh root).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, inject, test, vi } from "vitest";
import * as lib from "../src/index.js";
import {
  AccessDeniedError,
  ArtifactExpiredError,
  ArtifactNotFoundError,
  ArtifactStore,
  ArtifactStoreError,
  type ArtifactStoreOptions,
  configureFilesystem,
  configureS3,
  type PresignedUpload,
  ProviderError,
  parseGridKey,
  resetConfiguration,
  type StorageProviderName,
} from "../src/index.js";
import { type Fixture, storeConfigs, uniqueSandbox } from "./fixtures.js";
import { bucketKeys, walk } from "./helpers/store-state.js";

// ---- helpers ------------------------------------------------------------------------------------

const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSeconds = () => Math.floor(Date.now() / 1000);

type FetchHandler = { fetch(request: Request): Response | Promise<Response> };
type CreateHttpHandler = (store: ArtifactStore, options?: Record<string, unknown>) => FetchHandler;

/** The package's HTTP handler, once src/http exports it from the package root. */
const createHttpHandler = (lib as Record<string, unknown>).createHttpHandler as CreateHttpHandler | undefined;

/** True for URLs the store signed itself (memory, filesystem); false for native (SigV4) URLs. */
function signedByStore(store: ArtifactStore, url: string): boolean {
  return url.startsWith(`${store.signer.baseUrl}/signed/`);
}

function splitSignedUrl(store: ArtifactStore, url: string): { key: string; query: URLSearchParams } {
  const parsed = new URL(url);
  const base = new URL(store.signer.baseUrl);
  const path = parsed.pathname.slice(base.pathname.replace(/\/$/, "").length);
  expect(path.startsWith("/signed/")).toBe(true);
  return { key: decodeURIComponent(path.slice("/signed/".length)), query: parsed.searchParams };
}

async function collectBytes(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Downloads through a presigned URL: a real GET for native URLs, the signer + store for ours. */
async function download(store: ArtifactStore, url: string): Promise<Buffer> {
  if (!signedByStore(store, url)) {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    return Buffer.from(await response.arrayBuffer());
  }
  const { key, query } = splitSignedUrl(store, url);
  const verdict = store.signer.verify("GET", key, query);
  if (!verdict.ok) throw new Error(`signed GET refused: ${verdict.reason}`);
  const { body } = await store.openSigned(verdict.grant.key);
  return collectBytes(body.stream);
}

/**
 * The client's PUT of a presigned upload. Native URLs get a real HTTP PUT; URLs the store signed
 * go through the same steps the HTTP handler takes (verify, then receive the body).
 */
async function putUpload(store: ArtifactStore, upload: PresignedUpload, bytes: Uint8Array): Promise<void> {
  if (!signedByStore(store, upload.url)) {
    const response = await fetch(upload.url, {
      method: "PUT",
      body: new Uint8Array(bytes),
      headers: upload.headers,
    });
    expect(response.status, await response.text()).toBeLessThan(300);
    return;
  }
  const { key, query } = splitSignedUrl(store, upload.url);
  const verdict = store.signer.verify("PUT", key, query);
  if (!verdict.ok) throw new Error(`signed PUT refused: ${verdict.reason}`);
  if (verdict.grant.mime != null) expect(upload.headers["content-type"]).toBe(verdict.grant.mime);
  await store.receiveSignedUpload(
    verdict.grant,
    (async function* () {
      yield bytes;
    })(),
  );
}

/** Seconds until a presigned URL stops working, read from the URL itself. */
function urlLifetime(url: string): number {
  const query = new URL(url).searchParams;
  const exp = query.get("exp");
  if (exp !== null) return Number(exp) - nowSeconds();
  const amzExpires = query.get("X-Amz-Expires");
  const amzDate = query.get("X-Amz-Date");
  if (amzExpires !== null && amzDate !== null) {
    const iso = amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z");
    return Math.round((Date.parse(iso) + Number(amzExpires) * 1000 - Date.now()) / 1000);
  }
  throw new Error(`no expiry found in ${url}`);
}

function expectLifetime(url: string, seconds: number): void {
  const lifetime = urlLifetime(url);
  expect(lifetime).toBeGreaterThanOrEqual(seconds - 10);
  expect(lifetime).toBeLessThanOrEqual(seconds + 1);
}

/** Every path under `dir`, relative, recursively. */
const CONFIG_NAMES = storeConfigs().map((f) => f.name);

// ---- the README, per store configuration ----------------------------------------------------------

describe.each(CONFIG_NAMES)("seed README examples on %s", (configName) => {
  let fixture: Fixture<ArtifactStoreOptions>;
  let options: ArtifactStoreOptions;
  let store: ArtifactStore;
  const persistent = configName !== "memory";

  beforeEach(async () => {
    fixture = storeConfigs().find((f) => f.name === configName)!;
    options = await fixture.open();
    store = new ArtifactStore(options);
  });

  afterEach(async () => {
    await store.close();
    await fixture.dispose();
  });

  test("Quick Start: store for a user, presignShort, readFile asText, updateFile", async () => {
    await using store = new ArtifactStore(options);
    const fileId = await store.store(new TextEncoder().encode("Hello, world!"), {
      mime: "text/plain",
      summary: "greeting",
      filename: "hello.txt",
      userId: "alice",
    });

    const url = await store.presignShort(fileId);
    expectLifetime(url, 900);
    expect((await download(store, url)).toString()).toBe("Hello, world!");

    const text = await store.readFile(fileId, { asText: true });
    expect(text).toBe("Hello, world!");

    await store.updateFile(fileId, {
      data: new TextEncoder().encode("Hello, updated world!"),
      summary: "Updated greeting",
    });
    expect(await store.readFile(fileId, { asText: true })).toBe("Hello, updated world!");
    const meta = await store.metadata(fileId);
    expect(meta.summary).toBe("Updated greeting");
    expect(meta.filename).toBe("hello.txt");
    expect(meta.sessionId).toBe("user_alice");
    expect(meta.bytes).toBe(Buffer.byteLength("Hello, updated world!"));
    expect(meta.sha256).toBe(sha256("Hello, updated world!"));
  });

  test("Core Concepts: the grid key of an artifact and parseGridKey", async () => {
    const fileId = await store.store("data", { mime: "text/plain", summary: "Test" });
    const metadata = await store.metadata(fileId);
    expect(metadata.key).toBe(`grid/${options.sandboxId}/${metadata.sessionId}/${fileId}`);

    const parsed = store.parseGridKey(metadata.key);
    expect(parsed).not.toBeNull();
    expect(parsed!.sandboxId).toBe(options.sandboxId);
    expect(parsed!.sessionId).toBe(metadata.sessionId);
    expect(parsed!.artifactId).toBe(fileId);
    expect(parseGridKey(metadata.key)).toEqual(parsed);
    expect(store.parseGridKey("grid/../x/y")).toBeNull();
    expect(store.parseGridKey("not-a-grid-key")).toBeNull();
  });

  test("Core Concepts: sessions are security boundaries (cross-session copy is refused)", async () => {
    const aliceFile = await store.store(new TextEncoder().encode("Alice's private data"), {
      mime: "text/plain",
      summary: "Private file",
      userId: "alice",
    });
    const bobFile = await store.store(new TextEncoder().encode("Bob's private data"), {
      mime: "text/plain",
      summary: "Private file",
      userId: "bob",
    });
    expect((await store.metadata(aliceFile)).sessionId).toBe("user_alice");
    expect((await store.metadata(bobFile)).sessionId).toBe("user_bob");

    let caught: unknown;
    try {
      await store.copyFile(aliceFile, { targetSessionId: "bob_session" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ArtifactStoreError);
    expect(caught).toBeInstanceOf(AccessDeniedError);
    expect((caught as AccessDeniedError).code).toBe("ACCESS_DENIED");

    await expect(store.copyFile(aliceFile, { targetSessionId: "user_bob" })).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    expect((await store.listBySession("user_bob")).map((m) => m.artifactId)).toEqual([bobFile]);
    expect(await store.listBySession("bob_session")).toHaveLength(0);
    expect((await store.listBySession("user_alice")).map((m) => m.artifactId)).toEqual([aliceFile]);
  });

  test("Common Recipes: upload with a presigned URL, PUT the bytes, register", async () => {
    const photo = randomBytes(4096);
    const upload = await store.presignUpload({
      sessionId: "alice",
      filename: "photo.jpg",
      mimeType: "image/jpeg",
      expires: 1800, // 30 minutes
    });
    const { url, artifactId } = upload;
    expectLifetime(url, 1800);
    // Nothing is visible before the bytes arrive and the upload is registered.
    expect(await store.exists(artifactId)).toBe(false);

    await putUpload(store, upload, photo);
    expect(await store.exists(artifactId)).toBe(false);
    expect(await store.listBySession("alice")).toHaveLength(0);

    const registered = await store.registerUploadedArtifact(artifactId, {
      mime: "image/jpeg",
      summary: "Profile pic",
      filename: "photo.jpg",
    });
    expect(registered.artifactId).toBe(artifactId);
    expect(registered.sessionId).toBe("alice");
    expect(registered.bytes).toBe(photo.byteLength);
    expect(registered.sha256).toBe(sha256(photo));
    expect(registered.summary).toBe("Profile pic");
    expect(Buffer.compare(await store.retrieve(artifactId), photo)).toBe(0);
    expect((await store.metadata(artifactId)).sha256).toBe(sha256(photo));
    expect((await store.listBySession("alice")).map((m) => m.artifactId)).toEqual([artifactId]);
  });

  // Memory and filesystem URLs point at this package's HTTP handler; S3 URLs are PUT to directly above.
  test.skipIf(createHttpHandler === undefined || configName === "s3+redis")(
    "Common Recipes: presigned upload through a real HTTP PUT to createHttpHandler",
    async () => {
      const app = createHttpHandler!(store, {});
      const bytes = randomBytes(2048);
      const upload = await store.presignUpload({
        sessionId: "alice",
        filename: "photo.jpg",
        mimeType: "image/jpeg",
        expires: 1800,
      });
      const response = await app.fetch(
        new Request(upload.url, { method: "PUT", body: bytes, headers: upload.headers }),
      );
      expect(response.status, await response.text()).toBeLessThan(300);
      const registered = await store.registerUploadedArtifact(upload.artifactId, {
        mime: "image/jpeg",
        summary: "Profile pic",
        filename: "photo.jpg",
      });
      expect(registered.bytes).toBe(bytes.byteLength);
      expect(registered.sha256).toBe(sha256(bytes));

      const get = await app.fetch(new Request(await store.presignShort(upload.artifactId)));
      expect(get.status).toBe(200);
      expect(Buffer.compare(Buffer.from(await get.arrayBuffer()), bytes)).toBe(0);
    },
  );

  test("FAQ: large files go through presignUpload (session 'user', video/mp4)", async () => {
    const video = randomBytes(64 * 1024);
    const upload = await store.presignUpload({
      sessionId: "user",
      filename: "video.mp4",
      mimeType: "video/mp4",
      expires: 1800,
    });
    await putUpload(store, upload, video);
    const registered = await store.registerUploadedArtifact(upload.artifactId);
    expect(registered.mime).toBe("video/mp4");
    expect(registered.filename).toBe("video.mp4");
    expect(registered.bytes).toBe(video.byteLength);
    expect(sha256(await store.retrieve(upload.artifactId))).toBe(sha256(video));
  });

  test("Batch Store: ten items in one call, then one bad item fails alone", async () => {
    const image = randomBytes(1500);
    const files = Array.from({ length: 10 }, (_, i) => ({
      data: image,
      mime: "image/jpeg",
      filename: `products/img-${i}.jpg`,
      summary: `Product image ${i}`,
      meta: { product_id: "LPT-001" },
    }));
    const fileIds = await store.storeBatch(files, { sessionId: "catalog" });
    expect(fileIds.filter((id) => id).length).toBe(10);
    expect(new Set(fileIds).size).toBe(10);
    const listed = await store.listBySession("catalog");
    expect(listed).toHaveLength(10);
    const third = await store.metadata(fileIds[3]!);
    expect(third.filename).toBe("products/img-3.jpg");
    expect(third.meta).toEqual({ product_id: "LPT-001" });
    expect(third.sha256).toBe(sha256(image));

    const mixed = await store.storeBatch(
      [
        { data: "a", mime: "text/plain", filename: "a.txt" },
        { data: "b", mime: "text/plain", filename: "b.txt" },
        { data: "c", mime: "x", filename: "c.txt" },
        { data: "d", mime: "text/plain", filename: "d.txt" },
      ],
      { sessionId: "catalog" },
    );
    expect(mixed.map((id) => id !== null)).toEqual([true, true, false, true]);
    const after = await store.listBySession("catalog");
    expect(after).toHaveLength(13);
    expect(after.some((m) => m.filename === "c.txt")).toBe(false);
    expect(await store.readFile(mixed[3]!)).toBe("d");

    // An item's own ttl (null too: never expires) wins over the batch's; the batch's over the default.
    const timed = await store.storeBatch([{ data: "e" }, { data: "f", ttl: 60 }, { data: "g", ttl: null }], {
      sessionId: "catalog",
      ttl: 3600,
    });
    const ttls = await Promise.all(timed.map(async (id) => (await store.metadata(id!)).ttl));
    expect(ttls).toEqual([3600, 60, null]);
    const [plain] = await store.storeBatch([{ data: "h" }], { sessionId: "catalog" });
    expect((await store.metadata(plain!)).ttl).toBe((await store.metadata(await store.store("i"))).ttl);
  });

  test("Directory-Like Operations: list, directory contents, copy with a new filename", async () => {
    const session = "session-123";
    const docId = await store.store("# Read me", { filename: "docs/README.md", sessionId: session });
    await store.store("guide", { filename: "docs/guide.md", sessionId: session });
    await store.store(randomBytes(10), {
      filename: "images/logo.png",
      mime: "image/png",
      sessionId: session,
    });
    await store.store("top", { filename: "notes.txt", sessionId: session });

    const files = await store.listBySession(session);
    expect(files.map((f) => `${f.filename}: ${f.bytes} bytes`).sort()).toEqual([
      "docs/README.md: 9 bytes",
      "docs/guide.md: 5 bytes",
      "images/logo.png: 10 bytes",
      "notes.txt: 3 bytes",
    ]);

    const docs = await store.getDirectoryContents(session, "docs/");
    const images = await store.getDirectoryContents(session, "images/");
    expect(docs.map((f) => f.filename).sort()).toEqual(["docs/README.md", "docs/guide.md"]);
    expect(images.map((f) => f.filename)).toEqual(["images/logo.png"]);

    const backupId = await store.copyFile(docId, { newFilename: "docs/README_backup.md" });
    expect(backupId).not.toBe(docId);
    const backup = await store.metadata(backupId);
    expect(backup.sessionId).toBe(session);
    expect(backup.filename).toBe("docs/README_backup.md");
    expect(await store.readFile(backupId)).toBe("# Read me");
    expect((await store.metadata(docId)).filename).toBe("docs/README.md");
    expect((await store.getDirectoryContents(session, "docs/")).map((f) => f.filename).sort()).toEqual([
      "docs/README.md",
      "docs/README_backup.md",
      "docs/guide.md",
    ]);
  });

  test("Web Framework Integration: upload and list handlers as plain functions", async () => {
    async function handleUpload(
      file: { content: Uint8Array; contentType: string; filename: string },
      userId: string,
    ) {
      const fileId = await store.store(file.content, {
        mime: file.contentType,
        summary: `Uploaded: ${file.filename}`,
        filename: file.filename,
        userId,
      });
      const url = await store.presignMedium(fileId);
      return { file_id: fileId, download_url: url };
    }
    async function listFiles(userId: string) {
      const sessionId = `user_${userId}`;
      const files = await store.listBySession(sessionId);
      return files.map((f) => ({ id: f.artifactId, name: f.filename, size: f.bytes, created: f.storedAt }));
    }

    const before = Date.now();
    const content = randomBytes(777);
    const uploaded = await handleUpload(
      { content, contentType: "application/pdf", filename: "report.pdf" },
      "alice",
    );
    await handleUpload({ content: randomBytes(5), contentType: "text/plain", filename: "b.txt" }, "bob");
    expectLifetime(uploaded.download_url, 3600);
    expect(Buffer.compare(await download(store, uploaded.download_url), content)).toBe(0);

    const listed = await listFiles("alice");
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: uploaded.file_id, name: "report.pdf", size: 777 });
    const created = Date.parse(listed[0]!.created);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(Date.now() + 1000);
    expect((await listFiles("bob")).map((f) => f.name)).toEqual(["b.txt"]);
  });

  test("MCP Server Integration: upload_file and list_files tools as plain functions", async () => {
    async function uploadFile(dataB64: string, filename: string, sessionId: string) {
      const data = Buffer.from(dataB64, "base64");
      const fileId = await store.store(data, {
        mime: "application/octet-stream",
        summary: `Uploaded: ${filename}`,
        filename,
        sessionId,
      });
      const url = await store.presignMedium(fileId);
      return { file_id: fileId, filename, size: data.byteLength, download_url: url };
    }
    async function listFiles(sessionId: string) {
      const files = await store.listBySession(sessionId);
      return {
        files: files.map((f) => ({ id: f.artifactId, name: f.filename, size: f.bytes, type: f.mime })),
      };
    }
    const payload = randomBytes(300);
    const result = await uploadFile(payload.toString("base64"), "blob.bin", "mcp-session");
    expect(result.size).toBe(300);
    expect(Buffer.compare(await download(store, result.download_url), payload)).toBe(0);
    expect(await listFiles("mcp-session")).toEqual({
      files: [{ id: result.file_id, name: "blob.bin", size: 300, type: "application/octet-stream" }],
    });
  });

  test("Advanced Features: presign, presignShort, presignMedium, presignLong carry their expiry", async () => {
    const fileId = await store.store("signed content", { mime: "text/plain" });
    const url = await store.presign(fileId, { expires: 3600 });
    const short = await store.presignShort(fileId);
    const medium = await store.presignMedium(fileId);
    const long = await store.presignLong(fileId);
    expectLifetime(url, 3600);
    expectLifetime(short, 900);
    expectLifetime(medium, 3600);
    expectLifetime(long, 86400);
    expectLifetime(await store.presign(fileId, { expires: 120 }), 120);
    for (const u of [url, short, medium, long]) {
      expect((await download(store, u)).toString()).toBe("signed content");
    }
  });

  test("Advanced Features: rich metadata, updateMetadata with merge true and false", async () => {
    const imageBytes = randomBytes(2048);
    const fileId = await store.store(imageBytes, {
      mime: "image/jpeg",
      summary: "Product photo",
      filename: "products/laptop-pro.jpg",
      userId: "marketing",
      meta: {
        product_id: "LPT-001",
        tags: ["laptop", "professional"],
        dimensions: { width: 1920, height: 1080 },
      },
    });
    const stored = await store.metadata(fileId);
    expect(stored.meta).toEqual({
      product_id: "LPT-001",
      tags: ["laptop", "professional"],
      dimensions: { width: 1920, height: 1080 },
    });

    await store.updateMetadata(fileId, {
      summary: "Updated product photo",
      meta: { tags: ["laptop", "professional", "workspace"] },
      merge: true,
    });
    const merged = await store.metadata(fileId);
    expect(merged.summary).toBe("Updated product photo");
    expect(merged.meta).toEqual({
      product_id: "LPT-001",
      tags: ["laptop", "professional", "workspace"],
      dimensions: { width: 1920, height: 1080 },
    });
    // Content is untouched by a metadata update.
    expect(merged.sha256).toBe(stored.sha256);
    expect(merged.bytes).toBe(2048);
    expect(Buffer.compare(await store.retrieve(fileId), imageBytes)).toBe(0);

    await store.updateMetadata(fileId, { meta: { replaced: true }, merge: false });
    const replaced = await store.metadata(fileId);
    expect(replaced.meta).toEqual({ replaced: true });
    expect(replaced.summary).toBe("Updated product photo");
    expect(replaced.filename).toBe("products/laptop-pro.jpg");
    expect(Buffer.compare(await store.retrieve(fileId), imageBytes)).toBe(0);
  });

  test("Advanced Features: file operations (update, copy, move, exists, delete)", async () => {
    const fileId = await store.store("original", { mime: "text/plain", filename: "file.txt", userId: "ops" });
    const newContent = new TextEncoder().encode("new content");
    await store.updateFile(fileId, { data: newContent });
    expect(await store.readFile(fileId)).toBe("new content");
    expect((await store.metadata(fileId)).sha256).toBe(sha256(newContent));

    const copyId = await store.copyFile(fileId, { newFilename: "backup.txt" });
    expect(copyId).not.toBe(fileId);
    expect((await store.metadata(copyId)).filename).toBe("backup.txt");
    expect(await store.readFile(copyId)).toBe("new content");

    const moved = await store.moveFile(fileId, { newFilename: "renamed.txt" });
    expect(moved.filename).toBe("renamed.txt");
    expect(moved.artifactId).toBe(fileId);
    // Really saved: a fresh read sees the new name, and so does the session listing.
    expect((await store.metadata(fileId)).filename).toBe("renamed.txt");
    expect((await store.listBySession("user_ops")).map((m) => m.filename).sort()).toEqual([
      "backup.txt",
      "renamed.txt",
    ]);
    expect(await store.readFile(fileId)).toBe("new content");
    if (persistent) {
      // A new store on the same backend (for the filesystem: the same root) sees the rename.
      await using fresh = new ArtifactStore(options);
      expect((await fresh.metadata(fileId)).filename).toBe("renamed.txt");
      expect(await fresh.readFile(fileId)).toBe("new content");
    }

    expect(await store.exists(fileId)).toBe(true);
    const deleted = await store.delete(fileId);
    expect(deleted).toBe(true);
    expect(await store.exists(fileId)).toBe(false);
    expect(await store.delete(fileId)).toBe(false);
    await expect(store.retrieve(fileId)).rejects.toBeInstanceOf(ArtifactNotFoundError);
    // The copy is independent of the deleted original.
    expect(await store.readFile(copyId)).toBe("new content");
  });

  test("Monitoring: validateConfiguration, getStats, cleanupExpiredSessions", async () => {
    const status = await store.validateConfiguration();
    expect(status.storage.status, status.storage.detail).toBe("ok");
    expect(status.session.status, status.session.detail).toBe("ok");

    const stats = await store.getStats();
    const expectedProvider = options.storageProvider ?? "memory";
    expect(stats.storageProvider).toBe(expectedProvider);
    expect(stats.sessionProvider).toBe(options.sessionProvider ?? "memory");
    expect(stats.bucket).toBe(options.s3?.bucket ?? options.bucket ?? null);
    expect(stats.sandboxId).toBe(options.sandboxId);

    const cleaned = await store.cleanupExpiredSessions();
    expect(typeof cleaned).toBe("number");
    expect(cleaned).toBe(0);
  });

  test("Error Handling: not found, expired, access denied, each caught by its type", async () => {
    async function describeRetrieval(fileId: string, context: { userId?: string } = {}): Promise<string> {
      try {
        await store.retrieve(fileId, context);
        return "ok";
      } catch (e) {
        if (e instanceof ArtifactNotFoundError) return "File not found";
        if (e instanceof ArtifactExpiredError) return "File has expired";
        if (e instanceof ProviderError) return `Storage error: ${e.message}`;
        if (e instanceof ArtifactStoreError) return `Access denied: ${e.message}`;
        throw e;
      }
    }
    expect(await describeRetrieval(randomBytes(16).toString("hex"))).toBe("File not found");

    const shortLived = await store.store("soon gone", { mime: "text/plain", ttl: 1 });
    const owned = await store.store("alice only", { userId: "alice" });
    expect(await describeRetrieval(owned)).toBe("ok");
    expect(await describeRetrieval(owned, { userId: "bob" })).toMatch(/^Access denied: /);
    await sleep(1100);
    expect(await describeRetrieval(shortLived)).toBe("File has expired");
    await expect(store.retrieve(shortLived)).rejects.toBeInstanceOf(ArtifactExpiredError);
    await expect(store.metadata(shortLived)).rejects.toBeInstanceOf(ArtifactExpiredError);
    expect(await store.exists(shortLived)).toBe(false);
  });

  test("Security Best Practices: one session per user, one per organisation", async () => {
    const user = { id: "42" };
    const org = { id: "acme" };
    const userSession = `user_${user.id}`;
    const mine = await store.store("user data", { mime: "text/plain", sessionId: userSession });
    const orgSession = `org_${org.id}`;
    const shared = await store.store("org data", { mime: "text/plain", sessionId: orgSession });
    expect((await store.metadata(mine)).sessionId).toBe("user_42");
    expect((await store.metadata(shared)).sessionId).toBe("org_acme");
    expect((await store.listBySession(userSession)).map((m) => m.artifactId)).toEqual([mine]);
    expect((await store.listBySession(orgSession)).map((m) => m.artifactId)).toEqual([shared]);
    // The user session belongs to user 42: another user cannot write into it.
    await expect(store.store("intruder", { sessionId: userSession, userId: "43" })).rejects.toBeInstanceOf(
      AccessDeniedError,
    );
    expect(await store.listBySession(userSession)).toHaveLength(1);
  });

  test("Security Best Practices: secure_download checks the session before presigning", async () => {
    class HttpError extends Error {
      constructor(
        readonly status: number,
        message: string,
      ) {
        super(message);
      }
    }
    async function secureDownload(fileId: string, userId: string): Promise<string> {
      const metadata = await store.metadata(fileId);
      const expectedSession = `user_${userId}`;
      if (metadata.sessionId !== expectedSession) throw new HttpError(403, "Access denied");
      return store.presign(fileId);
    }
    const fileId = await store.store("alice's", { mime: "text/plain", userId: "alice" });
    const url = await secureDownload(fileId, "alice");
    expect((await download(store, url)).toString()).toBe("alice's");
    await expect(secureDownload(fileId, "bob")).rejects.toMatchObject({ status: 403 });
  });

  test("FAQ: ttl sets expiresAt; cleanup removes expired artifacts, bytes and metadata", async () => {
    const before = Date.now();
    const hourLong = await store.store("an hour", { mime: "text/plain", ttl: 3600 });
    const meta = await store.metadata(hourLong);
    expect(meta.ttl).toBe(3600);
    const expiresAt = Date.parse(meta.expiresAt!);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3600_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3600_000 + 1000);

    const ephemeral = await store.store("a second", { mime: "text/plain", ttl: 1, sessionId: "faq" });
    const ephemeralKey = (await store.metadata(ephemeral)).key;
    await sleep(1100);
    const expired = await store.cleanupExpiredSessions();
    expect(expired).toBe(1);

    expect(await store.exists(ephemeral)).toBe(false);
    await expect(store.metadata(ephemeral)).rejects.toBeInstanceOf(ArtifactNotFoundError);
    await expect(store.retrieve(ephemeral)).rejects.toBeInstanceOf(ArtifactNotFoundError);
    expect(await store.delete(ephemeral)).toBe(false);
    expect(await store.readFile(hourLong)).toBe("an hour");

    if (configName === "filesystem") {
      const root = options.fsRoot!;
      const parsed = parseGridKey(ephemeralKey)!;
      expect(existsSync(join(root, "grid", parsed.sandboxId, parsed.sessionId, parsed.artifactId))).toBe(
        false,
      );
      const leftovers = (await walk(root, { directories: true })).filter((p) => p.includes(ephemeral));
      expect(leftovers).toEqual([]);
    }
    if (options.storageProvider === "s3") {
      const keys = await bucketKeys(options);
      expect(keys.filter((k) => k.includes(ephemeral))).toEqual([]);
      expect(keys.some((k) => k.includes(hourLong))).toBe(true);
    }
  });

  test("Unit Tests example: store, exists, retrieve, metadata.bytes", async () => {
    await using store = new ArtifactStore(options);
    const fileId = await store.store(new TextEncoder().encode("test"), {
      mime: "text/plain",
      summary: "Test",
    });
    expect(await store.exists(fileId)).toBe(true);
    const content = await store.retrieve(fileId);
    expect(Buffer.compare(content, Buffer.from("test"))).toBe(0);
    const meta = await store.metadata(fileId);
    expect(meta.bytes).toBe(4);
  });

  test("await using closes the store; close() is idempotent; persistent data outlives the store", async () => {
    let escaped: ArtifactStore;
    let fileId: string;
    {
      await using scoped = new ArtifactStore(options);
      escaped = scoped;
      fileId = await scoped.store("kept", { mime: "text/plain", sessionId: "lifecycle" });
    }
    await expect(escaped.retrieve(fileId)).rejects.toBeInstanceOf(ArtifactStoreError);
    await escaped.close();

    const explicit = new ArtifactStore(options);
    if (persistent) expect(await explicit.readFile(fileId)).toBe("kept");
    await explicit.close();
    await explicit.close();
    await expect(explicit.store("after close")).rejects.toBeInstanceOf(ArtifactStoreError);
  });
});

// ---- the README's configuration examples -------------------------------------------------------

describe("seed README configuration examples", () => {
  const services = inject("services");
  const temps: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "chuk-seed-"));
    temps.push(dir);
    return dir;
  };

  beforeEach(() => {
    // The examples must not depend on whatever the developer's shell exports.
    for (const name of [
      "ARTIFACT_PROVIDER",
      "SESSION_PROVIDER",
      "ARTIFACT_FS_ROOT",
      "ARTIFACT_SANDBOX_ID",
      "ARTIFACT_BUCKET",
      "S3_ENDPOINT_URL",
      "SESSION_REDIS_URL",
      "REDIS_URL",
    ]) {
      vi.stubEnv(name, undefined);
    }
  });

  afterEach(async () => {
    resetConfiguration();
    vi.unstubAllEnvs();
    for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  test("Development (zero config): memory storage and memory sessions", async () => {
    await using store = new ArtifactStore();
    expect(store.storageProviderName).toBe("memory");
    expect(store.sessionProviderName).toBe("memory");
    const id = await store.store("just works", { mime: "text/plain" });
    expect(await store.readFile(id)).toBe("just works");
    const stats = await store.getStats();
    expect(stats.storageProvider).toBe("memory");
    expect(stats.bucket).toBeNull();
  });

  test("Filesystem: configureFilesystem({ root }) then new ArtifactStore() writes under that root", async () => {
    const root = await tempDir();
    configureFilesystem({ root });
    let fileId: string;
    {
      await using store = new ArtifactStore();
      expect(store.storageProviderName).toBe("filesystem");
      fileId = await store.store("on disk", { mime: "text/plain", sessionId: "fs-config" });
      const meta = await store.metadata(fileId);
      expect(existsSync(join(root, ...meta.key.split("/")))).toBe(true);
      expect(((await store.getStats()).storage as { root: string }).root).toBe(resolve(root));
    }
    {
      // Persistence: a second store configured the same way reads it back.
      await using again = new ArtifactStore();
      expect(await again.readFile(fileId)).toBe("on disk");
    }
    resetConfiguration();
    await using plain = new ArtifactStore();
    expect(plain.storageProviderName).toBe("memory");
    expect(await plain.exists(fileId)).toBe(false);
  });

  test("Quick config: ARTIFACT_PROVIDER=filesystem and ARTIFACT_FS_ROOT from the environment", async () => {
    const root = await tempDir();
    vi.stubEnv("ARTIFACT_PROVIDER", "filesystem");
    vi.stubEnv("ARTIFACT_FS_ROOT", root);
    await using store = new ArtifactStore();
    expect(store.storageProviderName).toBe("filesystem");
    const id = await store.store("env configured", { sessionId: "env" });
    expect((await walk(root, { directories: true })).some((p) => p.endsWith(id))).toBe(true);
  });

  test("Secure Configuration: storageProvider taken from the environment, memory by default", async () => {
    const make = () =>
      new ArtifactStore({
        storageProvider: (process.env.ARTIFACT_PROVIDER ?? "memory") as StorageProviderName,
      });
    {
      await using store = make();
      expect(store.storageProviderName).toBe("memory");
    }
    const root = await tempDir();
    vi.stubEnv("ARTIFACT_PROVIDER", "filesystem");
    vi.stubEnv("ARTIFACT_FS_ROOT", root);
    await using store = make();
    expect(store.storageProviderName).toBe("filesystem");
    const id = await store.store("from env", { sessionId: "secure" });
    expect((await walk(root, { directories: true })).some((p) => p.endsWith(id))).toBe(true);
  });

  test("Error Handling: a failing backend surfaces as ProviderError, an ArtifactStoreError with a cause", async () => {
    const dir = await tempDir();
    const notADirectory = join(dir, "file");
    await writeFile(notADirectory, "I am a file");
    await using store = new ArtifactStore({ storageProvider: "filesystem", fsRoot: notADirectory });
    let caught: unknown;
    try {
      await store.retrieve(randomBytes(16).toString("hex"));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ProviderError);
    expect(caught).toBeInstanceOf(ArtifactStoreError);
    expect((caught as ProviderError).code).toBe("PROVIDER_ERROR");
    expect((caught as ProviderError).cause).toBeInstanceOf(Error);
  });

  test.skipIf(!services.s3)("S3 (Production): configureS3 against the real S3 server", async () => {
    const s3 = services.s3!;
    const sandboxId = uniqueSandbox("seed-s3");
    configureS3({
      accessKey: s3.accessKeyId,
      secretKey: s3.secretAccessKey,
      bucket: s3.bucket,
      region: s3.region,
      endpointUrl: s3.endpoint,
      sandboxId,
    });
    await using store = new ArtifactStore();
    expect(store.storageProviderName).toBe("s3");
    const id = await store.store("in the bucket", { mime: "text/plain", sessionId: "s3-config" });
    expect(await store.readFile(id)).toBe("in the bucket");
    const stats = await store.getStats();
    expect(stats.storageProvider).toBe("s3");
    expect(stats.bucket).toBe(s3.bucket);
    const status = await store.validateConfiguration();
    expect(status.storage.status, status.storage.detail).toBe("ok");
    expect(await store.delete(id)).toBe(true);
  });

  test.skipIf(!services.s3)(
    "Quick config: ARTIFACT_PROVIDER=ibm_cos with IBM_COS_* variables (against the local S3 API)",
    async () => {
      const s3 = services.s3!;
      vi.stubEnv("ARTIFACT_PROVIDER", "ibm_cos");
      vi.stubEnv("IBM_COS_ACCESS_KEY", s3.accessKeyId);
      vi.stubEnv("IBM_COS_SECRET_KEY", s3.secretAccessKey);
      vi.stubEnv("IBM_COS_ENDPOINT", s3.endpoint);
      vi.stubEnv("ARTIFACT_BUCKET", s3.bucket);
      vi.stubEnv("ARTIFACT_SANDBOX_ID", uniqueSandbox("seed-cos"));
      await using store = new ArtifactStore();
      expect(store.storageProviderName).toBe("ibm_cos");
      const id = await store.store("via the COS settings", { mime: "text/plain", sessionId: "cos" });
      expect(await store.readFile(id)).toBe("via the COS settings");
      expect((await store.getStats()).bucket).toBe(s3.bucket);
      expect(await store.delete(id)).toBe(true);
    },
  );

  test.skipIf(!services.s3 || !services.redisUrl)(
    "Docker Compose: S3 and Redis configured only through the environment",
    async () => {
      const s3 = services.s3!;
      vi.stubEnv("ARTIFACT_PROVIDER", "s3");
      vi.stubEnv("AWS_ACCESS_KEY_ID", s3.accessKeyId);
      vi.stubEnv("AWS_SECRET_ACCESS_KEY", s3.secretAccessKey);
      vi.stubEnv("ARTIFACT_BUCKET", s3.bucket);
      vi.stubEnv("S3_ENDPOINT_URL", s3.endpoint);
      vi.stubEnv("AWS_REGION", s3.region);
      vi.stubEnv("SESSION_PROVIDER", "redis");
      vi.stubEnv("SESSION_REDIS_URL", services.redisUrl!);
      vi.stubEnv("ARTIFACT_SANDBOX_ID", uniqueSandbox("seed-env"));
      await using store = new ArtifactStore();
      expect(store.storageProviderName).toBe("s3");
      expect(store.sessionProviderName).toBe("redis");
      const id = await store.store("compose", { mime: "text/plain", userId: "compose" });
      expect(await store.readFile(id, { userId: "compose" })).toBe("compose");
      const status = await store.validateConfiguration();
      expect(status.storage.status, status.storage.detail).toBe("ok");
      expect(status.session.status, status.session.detail).toBe("ok");
      expect(await store.delete(id)).toBe(true);
    },
  );
});
