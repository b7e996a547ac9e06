import { afterEach, describe, expect, it } from "vitest";
import {
  AccessDeniedError,
  ArtifactNotFoundError,
  ArtifactStore,
  type ArtifactStoreOptions,
  ConflictError,
  createHttpHandler,
  ValidationError,
} from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";

/**
 * Scopes, versions, retention, conditional writes and checkpoints, through the public API, on
 * every store configuration (memory, filesystem, S3 + Redis).
 */
describe.each(storeConfigs())(
  "$name: scopes, versions, conditional writes, checkpoints",
  (fixture: Fixture<ArtifactStoreOptions>) => {
    let store: ArtifactStore | null = null;
    const open = async (extra: Partial<ArtifactStoreOptions> = {}) => {
      store = new ArtifactStore({ ...(await fixture.open()), defaultTtl: null, ...extra });
      return store;
    };
    afterEach(async () => {
      await store?.close();
      store = null;
      await fixture.dispose();
    });

    describe("scopes", () => {
      it("keeps user artifacts under the user's reserved key, visible from any of their sessions", async () => {
        const s = await open();
        const id = await s.store("profile", { scope: "user", userId: "alice", sessionId: "chat-1" });
        const m = await s.metadata(id);
        expect(m.scope).toBe("user");
        expect(m.key).toBe(`grid/${s.sandboxId}/_u-alice/${id}`);
        expect(s.parseGridKey(m.key)).toMatchObject({ scope: "user", scopeUserId: "alice", artifactId: id });
        // Another of alice's sessions reads it; so does alice by user id.
        await s.createSession({ sessionId: "chat-2", userId: "alice" });
        expect(await s.readFile(id, { sessionId: "chat-2", asText: true })).toBe("profile");
        expect(await s.readFile(id, { userId: "alice", asText: true })).toBe("profile");
        expect((await s.listByUser("alice")).map((a) => a.artifactId)).toEqual([id]);
        // Not a session artifact: no session lists it.
        expect(await s.listBySession("chat-1")).toHaveLength(0);
      });

      it("denies another user a user artifact by id, listing, version and checkpoint", async () => {
        const s = await open();
        const id = await s.store("alice's", { scope: "user", userId: "alice" });
        await s.updateFile(id, { data: "alice's v2", userId: "alice" });
        await s.createSession({ sessionId: "bob-chat", userId: "bob" });
        await expect(s.retrieve(id, { userId: "bob" })).rejects.toBeInstanceOf(AccessDeniedError);
        await expect(s.retrieve(id, { sessionId: "bob-chat" })).rejects.toBeInstanceOf(AccessDeniedError);
        await expect(s.retrieve(id, { userId: "bob", version: 1 })).rejects.toBeInstanceOf(AccessDeniedError);
        await expect(s.listVersions(id, { userId: "bob" })).rejects.toBeInstanceOf(AccessDeniedError);
        await expect(s.restoreVersion(id, 1, { userId: "bob" })).rejects.toBeInstanceOf(AccessDeniedError);
        await expect(s.updateFile(id, { data: "x", userId: "bob" })).rejects.toBeInstanceOf(
          AccessDeniedError,
        );
        await expect(s.delete(id, { userId: "bob" })).rejects.toBeInstanceOf(AccessDeniedError);
        expect(await s.listByUser("bob")).toHaveLength(0);
        // Bob's checkpoint of his own session never names alice's artifact; alice's session is not his.
        const cp = await s.createCheckpoint("bob-chat", { userId: "bob" });
        expect(cp.artifacts).toEqual([]);
        await s.createSession({ sessionId: "alice-chat", userId: "alice" });
        await expect(s.createCheckpoint("alice-chat", { userId: "bob" })).rejects.toBeInstanceOf(
          AccessDeniedError,
        );
        expect(await s.readFile(id, { userId: "alice", asText: true })).toBe("alice's v2");
      });

      it("shares sandbox artifacts with every user; only trusted calls write them", async () => {
        const s = await open();
        await expect(s.store("x", { scope: "sandbox", userId: "alice" })).rejects.toBeInstanceOf(
          AccessDeniedError,
        );
        const id = await s.store("template", { scope: "sandbox", filename: "t.md" });
        const m = await s.metadata(id);
        expect(m.scope).toBe("sandbox");
        expect(m.key).toBe(`grid/${s.sandboxId}/_shared/${id}`);
        expect(await s.readFile(id, { userId: "alice", asText: true })).toBe("template");
        expect(await s.readFile(id, { userId: "bob", asText: true })).toBe("template");
        expect(await s.retrieve(id, { userId: "bob", version: 1 })).toEqual(Buffer.from("template"));
        await expect(s.updateFile(id, { data: "mine", userId: "bob" })).rejects.toBeInstanceOf(
          AccessDeniedError,
        );
        await expect(s.updateMetadata(id, { summary: "mine", userId: "bob" })).rejects.toBeInstanceOf(
          AccessDeniedError,
        );
        await expect(s.delete(id, { userId: "bob" })).rejects.toBeInstanceOf(AccessDeniedError);
        await expect(s.restoreVersion(id, 1, { userId: "bob" })).rejects.toBeInstanceOf(AccessDeniedError);
        expect((await s.listShared()).map((a) => a.artifactId)).toEqual([id]);
        await s.updateFile(id, { data: "template v2" });
        expect(await s.readFile(id, { userId: "bob", asText: true })).toBe("template v2");
        expect(await s.delete(id)).toBe(true);
        expect(await s.listShared()).toHaveLength(0);
      });

      it("pages listByUser and listShared like listBySession", async () => {
        const s = await open();
        const ids = await s.storeBatch(
          [1, 2, 3, 4, 5].map((i) => ({ data: `u${i}` })),
          { scope: "user", userId: "carol" },
        );
        expect(ids.every((id) => id !== null)).toBe(true);
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await s.listByUser("carol", { limit: 2, cursor });
          expect(page.length).toBeLessThanOrEqual(2);
          seen.push(...page.map((a) => a.artifactId));
          cursor = page.cursor;
        } while (cursor !== null);
        expect(seen.sort()).toEqual([...(ids as string[])].sort());
        await s.storeBatch([{ data: "a" }, { data: "b" }, { data: "c" }], { scope: "sandbox" });
        const first = await s.listShared({ limit: 2 });
        expect(first).toHaveLength(2);
        const rest = await s.listShared({ limit: 2, cursor: first.cursor });
        expect(rest).toHaveLength(1);
      });

      it("refuses a user scope without a user and an unknown scope", async () => {
        const s = await open();
        await expect(s.store("x", { scope: "user" })).rejects.toBeInstanceOf(ValidationError);
        await expect(s.store("x", { scope: "global" as never })).rejects.toBeInstanceOf(ValidationError);
        await expect(s.listByUser("../x")).rejects.toBeInstanceOf(ValidationError);
      });

      it("session expiry and cleanup never touch user or sandbox artifacts; their own ttl applies", async () => {
        const s = await open({ sessionTtlHours: 1 / 3600 }); // sessions expire after one second
        const inSession = await s.store("s", { sessionId: "short", userId: "dave" });
        const mine = await s.store("u", { scope: "user", userId: "dave", sessionId: "short" });
        const shared = await s.store("x", { scope: "sandbox" });
        const brief = await s.store("y", { scope: "sandbox", ttl: 1 });
        await new Promise((r) => setTimeout(r, 1300));
        await s.cleanupExpiredSessions();
        expect(await s.exists(inSession)).toBe(false);
        expect(await s.readFile(mine, { userId: "dave", asText: true })).toBe("u");
        expect(await s.readFile(shared, { asText: true })).toBe("x");
        await expect(s.metadata(brief)).rejects.toBeInstanceOf(ArtifactNotFoundError);
      });

      it("takes a scope on presigned uploads", async () => {
        const s = await open();
        const up = await s.presignUpload({ scope: "user", userId: "erin", filename: "cv.pdf" });
        expect(up.key).toBe(`grid/${s.sandboxId}/_u-erin/${up.artifactId}`);
      });
    });

    describe("versions", () => {
      it("numbers every write of bytes, changes the etag on every write, and reads each version back", async () => {
        const s = await open();
        const id = await s.store("one", { sessionId: "v" });
        const m1 = await s.metadata(id);
        expect(m1.version).toBe(1);
        const m2 = await s.updateFile(id, { data: "two" });
        expect(m2.version).toBe(2);
        expect(m2.etag).not.toBe(m1.etag);
        const m2b = await s.updateMetadata(id, { summary: "renamed" });
        expect(m2b.version).toBe(2);
        expect(m2b.etag).not.toBe(m2.etag);
        const big = Buffer.alloc(300 * 1024, 7); // past every driver's inline size: a revision
        const m3 = await s.updateFile(id, { data: big });
        expect(m3.version).toBe(3);
        expect((await s.metadata(id)).etag).toBe(m3.etag);
        expect(await s.readFile(id, { version: 1, asText: true })).toBe("one");
        expect(await s.readFile(id, { version: 2, asText: true })).toBe("two");
        expect(await s.retrieve(id, { version: 3 })).toEqual(big);
        expect(await s.retrieve(id)).toEqual(big);
        const versions = await s.listVersions(id);
        expect(versions.map((v) => [v.version, v.bytes])).toEqual([
          [3, big.byteLength],
          [2, 3],
          [1, 3],
        ]);
        expect(versions[0]!.etag).toBe(m3.etag);
        const opened = await s.openStream(id, { version: 2 });
        expect(opened.metadata.version).toBe(2);
        expect(opened.metadata.bytes).toBe(3);
        const chunks: Buffer[] = [];
        for await (const c of opened.body.stream) chunks.push(Buffer.from(c));
        expect(Buffer.concat(chunks).toString()).toBe("two");
        const ranged = await s.openStream(id, { version: 1, range: { start: 1, end: 2 } });
        const part: Buffer[] = [];
        for await (const c of ranged.body.stream) part.push(Buffer.from(c));
        expect(Buffer.concat(part).toString()).toBe("ne");
        await expect(s.retrieve(id, { version: 9 })).rejects.toBeInstanceOf(ArtifactNotFoundError);
        await expect(s.retrieve(id, { version: 0 })).rejects.toBeInstanceOf(ValidationError);
      });

      it("restoreVersion makes a new version with the old content; history is kept", async () => {
        const s = await open();
        const id = await s.store("first", { sessionId: "r", mime: "text/plain" });
        await s.updateFile(id, { data: "{}", mime: "application/json" });
        const restored = await s.restoreVersion(id, 1);
        expect(restored.version).toBe(3);
        expect(restored.mime).toBe("text/plain");
        expect(await s.readFile(id, { asText: true })).toBe("first");
        expect(await s.readFile(id, { version: 2, asText: true })).toBe("{}");
        expect((await s.listVersions(id)).map((v) => v.version)).toEqual([3, 2, 1]);
      });

      it("keeps at most keepVersions earlier versions", async () => {
        const s = await open({ keepVersions: 2 });
        const id = await s.store("v1", { sessionId: "k" });
        for (let i = 2; i <= 6; i++) await s.updateFile(id, { data: `v${i}` });
        // Pruning runs after the write returns: wait for it to settle.
        let versions = await s.listVersions(id);
        for (let i = 0; i < 50 && versions.length > 3; i++) {
          await new Promise((r) => setTimeout(r, 20));
          versions = await s.listVersions(id);
        }
        expect(versions.map((v) => v.version)).toEqual([6, 5, 4]);
        expect(await s.readFile(id, { version: 4, asText: true })).toBe("v4");
        await expect(s.retrieve(id, { version: 3 })).rejects.toBeInstanceOf(ArtifactNotFoundError);
      });

      it("keeps no history with keepVersions 0, still numbering versions", async () => {
        const s = await open({ keepVersions: 0 });
        const id = await s.store("a", { sessionId: "k0" });
        const m = await s.updateFile(id, { data: "b" });
        expect(m.version).toBe(2);
        expect((await s.listVersions(id)).map((v) => v.version)).toEqual([2]);
        await expect(s.retrieve(id, { version: 1 })).rejects.toBeInstanceOf(ArtifactNotFoundError);
      });

      it("drops earlier versions older than keepVersionsDays at cleanup", async () => {
        const s = await open({ keepVersionsDays: 1 / 86400 }); // one second
        const id = await s.store("old", { sessionId: "d" });
        await s.updateFile(id, { data: "newer" });
        await new Promise((r) => setTimeout(r, 1200));
        await s.cleanupExpiredSessions();
        expect((await s.listVersions(id)).map((v) => v.version)).toEqual([2]);
        expect(await s.readFile(id, { asText: true })).toBe("newer");
      });

      it("deletes every version with the artifact", async () => {
        const s = await open();
        const id = await s.store("a", { sessionId: "del" });
        await s.updateFile(id, { data: "b" });
        expect(await s.delete(id)).toBe(true);
        await expect(s.retrieve(id, { version: 1 })).rejects.toBeInstanceOf(ArtifactNotFoundError);
        await expect(s.listVersions(id)).rejects.toBeInstanceOf(ArtifactNotFoundError);
      });

      it("presigns an earlier version: the URL downloads that version's bytes", async () => {
        const s = await open();
        const id = await s.store("first", { sessionId: "p" });
        await s.updateFile(id, { data: "second" });
        const app = createHttpHandler(s, { apiKeys: [] });
        // Signed URLs of memory and filesystem go to this package's handler; S3's to the bucket.
        const download = async (url: string) =>
          url.startsWith(s.config.publicUrl) ? app.request(url.slice(s.config.publicUrl.length)) : fetch(url);
        const old = await download(await s.presign(id, { version: 1 }));
        expect(old.status).toBe(200);
        expect(await old.text()).toBe("first");
        const now = await download(await s.presign(id));
        expect(await now.text()).toBe("second");
      });
    });

    describe("conditional writes", () => {
      it("updateFile, updateMetadata and delete with ifMatch: a moved etag is a ConflictError and nothing is written", async () => {
        const s = await open();
        const id = await s.store("base", { sessionId: "c" });
        const m = await s.metadata(id);
        const next = await s.updateFile(id, { data: "mine", ifMatch: m.etag });
        expect(next.version).toBe(2);
        await expect(s.updateFile(id, { data: "stale", ifMatch: m.etag })).rejects.toBeInstanceOf(
          ConflictError,
        );
        await expect(s.updateMetadata(id, { summary: "stale", ifMatch: m.etag })).rejects.toBeInstanceOf(
          ConflictError,
        );
        await expect(s.delete(id, { ifMatch: m.etag })).rejects.toBeInstanceOf(ConflictError);
        const now = await s.metadata(id);
        expect(now.etag).toBe(next.etag);
        expect(now.summary).toBe("");
        expect(await s.readFile(id, { asText: true })).toBe("mine");
        const edited = await s.updateMetadata(id, { summary: "ok", ifMatch: now.etag });
        expect(await s.delete(id, { ifMatch: edited.etag })).toBe(true);
      });

      it("two writers with one etag: exactly one wins", async () => {
        const s = await open();
        const id = await s.store("base", { sessionId: "c2" });
        const { etag } = await s.metadata(id);
        const results = await Promise.allSettled([
          s.updateFile(id, { data: "A", ifMatch: etag }),
          s.updateFile(id, { data: "B", ifMatch: etag }),
        ]);
        const won = results.filter((r) => r.status === "fulfilled");
        expect(won).toHaveLength(1);
        const lost = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        expect(lost.reason).toBeInstanceOf(ConflictError);
        expect((await s.listVersions(id)).map((v) => v.version)).toEqual([2, 1]);
      });
    });

    describe("checkpoints", () => {
      it("lists checkpoints newest first, also those made within one millisecond", async () => {
        const s = await open();
        await s.store("x", { sessionId: "many-cp" });
        const made: string[] = [];
        for (let i = 0; i < 8; i++) made.push((await s.createCheckpoint("many-cp")).checkpointId);
        expect((await s.listCheckpoints("many-cp")).map((x) => x.checkpointId)).toEqual(made.reverse());
      });

      it("records every artifact's version and restores them, deleting what came after", async () => {
        const s = await open();
        const a = await s.store("a1", { sessionId: "work" });
        const b = await s.store("b1", { sessionId: "work" });
        const cp = await s.createCheckpoint("work", { name: "before edits" });
        expect(cp.name).toBe("before edits");
        expect(cp.artifacts.map((x) => [x.artifactId, x.version]).sort()).toEqual(
          [
            [a, 1],
            [b, 1],
          ].sort(),
        );
        await s.updateFile(a, { data: "a2" });
        const c = await s.store("c1", { sessionId: "work" });
        const later = await s.createCheckpoint("work", { name: "after" });
        expect((await s.listCheckpoints("work")).map((x) => x.checkpointId)).toEqual([
          later.checkpointId,
          cp.checkpointId,
        ]);
        const result = await s.restoreCheckpoint("work", cp.checkpointId);
        expect(result.restored).toEqual([a]);
        expect(result.unchanged).toEqual([b]);
        expect(result.deleted).toEqual([c]);
        expect(result.missing).toEqual([]);
        expect(await s.readFile(a, { asText: true })).toBe("a1");
        expect((await s.metadata(a)).version).toBe(3);
        expect(await s.readFile(a, { version: 2, asText: true })).toBe("a2");
        expect(await s.exists(c)).toBe(false);
        await expect(s.restoreCheckpoint("work", "cp-nope")).rejects.toBeInstanceOf(ValidationError);
        await expect(s.restoreCheckpoint("work", `cp-${"0".repeat(32)}`)).rejects.toBeInstanceOf(
          ArtifactNotFoundError,
        );
      });
    });
  },
);
