/**
 * Bad input, on every whole-store configuration: each case gets a clear, typed error and leaves
 * nothing half-written. After every refused call the watched sessions list exactly what they did
 * before; on the filesystem the root holds exactly the files it held (same paths, same bytes) and
 * nothing appeared outside it; on S3 the sandbox's objects are unchanged.
 */
import { createHash, randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import {
  AccessDeniedError,
  ArtifactCorruptedError,
  type ArtifactData,
  ArtifactNotFoundError,
  ArtifactStore,
  ArtifactStoreError,
  type ArtifactStoreOptions,
  ValidationError,
} from "../src/index.js";
import { type Fixture, storeConfigs } from "./fixtures.js";
import { bucketKeys, walk } from "./helpers/store-state.js";

type ErrorClass = abstract new (...args: never[]) => ArtifactStoreError;

const sha256 = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");
const randomId = () => randomBytes(16).toString("hex");
/** Casts input a TypeScript caller could not write, as it arrives from JSON, JS or an MCP client. */
const untyped = <T>(value: unknown): T => value as T;

const BAD_SEGMENTS = ["..", ".", "a/b", "", "s".repeat(1000)];
const BAD_TTLS: unknown[] = [-1, 0, 1.5, Number.NaN, "60", Number.POSITIVE_INFINITY];
const BAD_IDS = ["../x", "a/b"];

function circular(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
}
const BAD_META: [string, unknown][] = [
  ["a BigInt", { n: 10n }],
  ["a circular object", circular()],
  ["a function", { fn: () => 1 }],
  ["megabytes of JSON", { blob: "x".repeat(3 * 1024 * 1024) }],
  ["a string", "not an object"],
  ["an array", [1, 2, 3]],
];

/** Every file under `root` with the sha256 of its content. */
async function diskState(root: string): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const rel of (await walk(root)).sort()) state[rel] = sha256(await readFile(join(root, rel)));
  return state;
}

/**
 * Paths a naive implementation might write `name` to, relative to any folder of the layout, that
 * fall outside `root`; with their state now (mtime, or null when absent).
 */
function escapeTargets(root: string, name: string, key?: string): Map<string, number | null> {
  const bases = [root, join(root, "grid"), join(root, "_tmp"), join(root, "_index")];
  if (key) {
    const parts = key.split("/");
    for (let i = 2; i <= parts.length; i++) bases.push(join(root, ...parts.slice(0, i)));
  }
  const targets = new Map<string, number | null>();
  for (const base of bases) {
    const target = resolve(base, name.replaceAll("\u0000", ""));
    if (target !== root && !target.startsWith(root + sep)) {
      targets.set(target, statSync(target, { throwIfNoEntry: false })?.mtimeMs ?? null);
    }
  }
  return targets;
}

function expectUntouched(targets: Map<string, number | null>): void {
  for (const [path, mtime] of targets) {
    expect(statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? null, `${path} outside the root`).toBe(
      mtime,
    );
  }
}

const CONFIG_NAMES = storeConfigs().map((f) => f.name);

describe.each(CONFIG_NAMES)("bad input on %s", (configName) => {
  let fixture: Fixture<ArtifactStoreOptions>;
  let options: ArtifactStoreOptions;
  let store: ArtifactStore;
  /** In user_alice, owned by alice. */
  let aliceFile: string;
  /** In "shared", a session without an owner. */
  let sharedFile: string;
  const isFs = configName === "filesystem";
  const isS3 = configName.startsWith("s3");
  const WATCHED = ["user_alice", "user_bob", "shared", "project-x", "names", "target"];

  beforeEach(async () => {
    fixture = storeConfigs().find((f) => f.name === configName)!;
    options = await fixture.open();
    store = new ArtifactStore(options);
    aliceFile = await store.store("alice's bytes", {
      userId: "alice",
      filename: "a.txt",
      mime: "text/plain",
      meta: { k: 1 },
    });
    sharedFile = await store.store("shared bytes", { sessionId: "shared", filename: "s.txt" });
  });

  afterEach(async () => {
    vi.unstubAllEnvs();
    await store.close();
    await fixture.dispose();
  });

  /** What must not change when a call is refused. */
  async function snapshot(): Promise<unknown> {
    const listings: Record<string, unknown> = {};
    for (const session of WATCHED) listings[session] = [...(await store.listBySession(session))];
    const state: Record<string, unknown> = { listings };
    if (isFs) state.disk = await diskState(options.fsRoot!);
    if (isS3) state.objects = await bucketKeys(options);
    if (configName === "memory") state.storage = (await store.getStats()).storage;
    return state;
  }

  /** Runs `call`, expects it to reject with `type` (an ArtifactStoreError), and nothing to change. */
  async function refused(type: ErrorClass, call: () => Promise<unknown>, label = ""): Promise<void> {
    const before = await snapshot();
    let caught: unknown = null;
    try {
      await call();
    } catch (err) {
      caught = err;
    }
    expect(caught, `${label}: expected ${type.name}`).toBeInstanceOf(type);
    expect(caught, label).toBeInstanceOf(ArtifactStoreError);
    expect(typeof (caught as ArtifactStoreError).code, label).toBe("string");
    expect(await snapshot(), `${label}: something changed`).toEqual(before);
  }

  // ---- content ------------------------------------------------------------------------------------

  test("non-bytes data (number, object, null, undefined) is a ValidationError", async () => {
    for (const data of [42, { a: 1 }, null, undefined, true, Symbol("s")]) {
      const label = `data ${String(data)}`;
      await refused(
        ValidationError,
        () => store.store(untyped<ArtifactData>(data), { sessionId: "shared" }),
        label,
      );
      await refused(
        ValidationError,
        () => store.store(untyped<ArtifactData>(data), { userId: "alice" }),
        label,
      );
      await refused(
        ValidationError,
        () => store.writeFile(untyped<string>(data), { sessionId: "shared" }),
        label,
      );
      await refused(
        ValidationError,
        () => store.updateFile(aliceFile, { data: untyped<ArtifactData>(data) }),
        label,
      );
      const batch = await store.storeBatch([{ data: untyped<ArtifactData>(data) }], { sessionId: "shared" });
      expect(batch).toEqual([null]);
    }
    expect(await store.readFile(aliceFile)).toBe("alice's bytes");
    expect(await store.listBySession("shared")).toHaveLength(1);
  });

  test("empty and absurd mime types are a ValidationError", async () => {
    for (const mime of ["", "x", "m".repeat(10 * 1024), "text/plain\r\nX: y", "text/plain\nX: y", " /x"]) {
      const label = `mime ${JSON.stringify(mime.slice(0, 30))}`;
      await refused(ValidationError, () => store.store("data", { mime, sessionId: "shared" }), label);
      await refused(ValidationError, () => store.updateMetadata(aliceFile, { mime }), label);
      await refused(ValidationError, () => store.updateFile(aliceFile, { data: "new", mime }), label);
      await refused(
        ValidationError,
        () => store.presignUpload({ sessionId: "shared", mimeType: mime }),
        label,
      );
    }
    expect((await store.metadata(aliceFile)).mime).toBe("text/plain");
  });

  // ---- filenames: metadata only, never paths --------------------------------------------------------

  test("hostile filenames are refused or stored purely as metadata, never as paths", async () => {
    const names = [
      "../../etc/passwd",
      "../../x",
      "a\u0000b",
      "/",
      "/etc/passwd",
      "..",
      "f".repeat(10 * 1024),
    ];
    for (const name of names) {
      const label = `filename ${JSON.stringify(name.slice(0, 30))}`;
      const bytes = randomBytes(48);
      const root = options.fsRoot ?? "/nonexistent";
      const outside = isFs ? escapeTargets(root, name) : new Map<string, number | null>();
      const before = await snapshot();
      const outcome = await store.store(bytes, { filename: name, sessionId: "names" }).then(
        (id) => ({ id }),
        (err: unknown) => ({ err }),
      );
      if ("err" in outcome) {
        expect(outcome.err, label).toBeInstanceOf(ValidationError);
        expect(await snapshot(), label).toEqual(before);
      } else {
        const meta = await store.metadata(outcome.id);
        expect(meta.filename, label).toBe(name);
        expect(meta.key, label).toBe(`grid/${options.sandboxId}/names/${outcome.id}`);
        expect(Buffer.compare(await store.retrieve(outcome.id), bytes), label).toBe(0);
        if (isFs) {
          // The bytes exist exactly once on disk: the artifact's own file at its grid key. (The id
          // index under _index/ holds symlinks to it, not copies.)
          const holders: string[] = [];
          for (const rel of await walk(root)) {
            if (rel.startsWith("_index/")) continue;
            if ((await readFile(join(root, rel))).includes(bytes)) holders.push(rel);
          }
          expect(holders, label).toHaveLength(1);
          expect(holders[0], `${label}: bytes at ${holders[0]}`).toBe(meta.key);
          expectUntouched(escapeTargets(root, name, meta.key));
        }
      }
      if (isFs) expectUntouched(outside);
    }
    // Hostile names are just as inert when set later.
    const targets = isFs ? escapeTargets(options.fsRoot!, "../../x") : new Map<string, number | null>();
    await store.updateMetadata(aliceFile, { filename: "../../x" }).catch(() => {});
    await store.moveFile(aliceFile, { newFilename: "../../etc/passwd" }).catch(() => {});
    await store.copyFile(aliceFile, { newFilename: "../../x" }).catch(() => {});
    expect(await store.readFile(aliceFile)).toBe("alice's bytes");
    if (isFs) expectUntouched(targets);
  });

  test("a filename with NUL or of 10 KB is a ValidationError wherever a filename is taken", async () => {
    for (const name of ["a\u0000b", "f".repeat(10 * 1024), "line\r\nbreak", ""]) {
      const label = `filename ${JSON.stringify(name.slice(0, 20))}`;
      await refused(ValidationError, () => store.store("x", { filename: name, sessionId: "names" }), label);
      await refused(ValidationError, () => store.updateMetadata(aliceFile, { filename: name }), label);
      await refused(ValidationError, () => store.moveFile(aliceFile, { newFilename: name }), label);
      await refused(ValidationError, () => store.copyFile(aliceFile, { newFilename: name }), label);
      await refused(
        ValidationError,
        () => store.presignUpload({ sessionId: "names", filename: name }),
        label,
      );
    }
    expect((await store.metadata(aliceFile)).filename).toBe("a.txt");
  });

  // ---- sessions, sandboxes, users -----------------------------------------------------------------

  test("sessionId of '..', '.', 'a/b', '' or 1,000 characters is a ValidationError", async () => {
    const forAll = await store.store("for every caller", { scope: "sandbox" });
    for (const sessionId of BAD_SEGMENTS) {
      const label = `sessionId ${JSON.stringify(sessionId.slice(0, 20))}`;
      await refused(ValidationError, () => store.store("x", { sessionId }), label);
      await refused(ValidationError, () => store.store("x", { sessionId, userId: "alice" }), label);
      await refused(ValidationError, () => store.writeFile("x", { sessionId }), label);
      await refused(ValidationError, () => store.storeBatch([{ data: "x" }], { sessionId }), label);
      await refused(ValidationError, () => store.presignUpload({ sessionId }), label);
      await refused(ValidationError, () => store.listBySession(sessionId), label);
      await refused(ValidationError, () => store.getDirectoryContents(sessionId, "docs/"), label);
      await refused(ValidationError, () => store.createSession({ sessionId }), label);
      await refused(ValidationError, () => store.deleteSession(sessionId), label);
      await refused(ValidationError, () => store.retrieve(aliceFile, { sessionId }), label);
      // An artifact any caller may read: the bad id is still refused, not passed over.
      await refused(ValidationError, () => store.metadata(forAll, { sessionId }), label);
      await refused(ValidationError, () => store.retrieve(forAll, { sessionId }), label);
      await refused(ValidationError, () => store.copyFile(aliceFile, { targetSessionId: sessionId }), label);
    }
  });

  test("userId of '..', '.', 'a/b', '' or 1,000 characters is a ValidationError", async () => {
    const forAll = await store.store("for every caller", { scope: "sandbox" });
    for (const userId of BAD_SEGMENTS) {
      const label = `userId ${JSON.stringify(userId.slice(0, 20))}`;
      await refused(ValidationError, () => store.store("x", { userId }), label);
      await refused(ValidationError, () => store.retrieve(aliceFile, { userId }), label);
      await refused(ValidationError, () => store.metadata(forAll, { userId }), label);
      await refused(ValidationError, () => store.retrieve(forAll, { userId }), label);
      await refused(ValidationError, () => store.listBySession("user_alice", { userId }), label);
    }
  });

  test("sandboxId of '..', '.', 'a/b', '' or 1,000 characters is refused when the store is built", async () => {
    for (const sandboxId of BAD_SEGMENTS) {
      const before = await snapshot();
      expect(() => new ArtifactStore({ ...options, sandboxId })).toThrow(ValidationError);
      const { sandboxId: _own, ...rest } = options;
      vi.stubEnv("ARTIFACT_SANDBOX_ID", sandboxId);
      if (sandboxId !== "") expect(() => new ArtifactStore(rest)).toThrow(ValidationError);
      vi.unstubAllEnvs();
      expect(await snapshot()).toEqual(before);
    }
  });

  // ---- ttl and meta -------------------------------------------------------------------------------

  test("negative, zero, fractional, NaN and string TTLs are a ValidationError", async () => {
    for (const ttl of BAD_TTLS) {
      const label = `ttl ${String(ttl)}`;
      const bad = untyped<number>(ttl);
      await refused(ValidationError, () => store.store("x", { ttl: bad, sessionId: "shared" }), label);
      await refused(ValidationError, () => store.updateMetadata(aliceFile, { ttl: bad }), label);
      await refused(ValidationError, () => store.updateFile(aliceFile, { data: "new", ttl: bad }), label);
      await refused(ValidationError, () => store.presign(aliceFile, { expires: bad }), label);
      expect(await store.storeBatch([{ data: "x", ttl: bad }], { sessionId: "shared" })).toEqual([null]);
      expect(
        await store.storeBatch([{ data: "x" }, { data: "y" }], { sessionId: "shared", ttl: bad }),
      ).toEqual([null, null]);
      expect(() => new ArtifactStore({ ...options, defaultTtl: bad })).toThrow(ValidationError);
    }
    const meta = await store.metadata(aliceFile);
    expect(meta.ttl).toBe(900);
    expect(await store.listBySession("shared")).toHaveLength(1);
  });

  test("a bad TTL at registration leaves the upload pending and registrable", async () => {
    const upload = await store.presignUpload({ sessionId: "shared", mimeType: "text/plain" });
    await refused(ValidationError, () =>
      store.registerUploadedArtifact(upload.artifactId, { ttl: untyped<number>(-5) }),
    );
    await refused(ValidationError, () =>
      store.registerUploadedArtifact(upload.artifactId, { meta: untyped({ n: 1n }) }),
    );
    expect(await store.exists(upload.artifactId)).toBe(false);
  });

  test("meta that is not JSON (BigInt, circular, function) or megabytes large is a ValidationError", async () => {
    for (const [what, meta] of BAD_META) {
      const bad = untyped<Record<string, unknown>>(meta);
      await refused(ValidationError, () => store.store("x", { meta: bad, sessionId: "shared" }), what);
      await refused(ValidationError, () => store.updateMetadata(aliceFile, { meta: bad }), what);
      await refused(
        ValidationError,
        () => store.updateMetadata(aliceFile, { meta: bad, merge: false }),
        what,
      );
      await refused(ValidationError, () => store.updateFile(aliceFile, { data: "new", meta: bad }), what);
      await refused(ValidationError, () => store.copyFile(aliceFile, { newMeta: bad }), what);
      await refused(ValidationError, () => store.moveFile(aliceFile, { newMeta: bad }), what);
      await refused(ValidationError, () => store.createSession({ sessionId: "project-x", meta: bad }), what);
      expect(await store.storeBatch([{ data: "x", meta: bad }], { sessionId: "shared" })).toEqual([null]);
    }
    expect((await store.metadata(aliceFile)).meta).toEqual({ k: 1 });
  });

  test("updateMetadata and updateFile refuse system fields and leave the record unchanged", async () => {
    const original = await store.metadata(aliceFile);
    const attempts: Record<string, unknown> = {
      key: `grid/${options.sandboxId}/shared/${sharedFile}`,
      sha256: "0".repeat(64),
      bytes: 1,
      sandboxId: "other-sandbox",
      artifactId: sharedFile,
      storedAt: new Date(0).toISOString(),
      updatedAt: new Date(0).toISOString(),
      expiresAt: null,
      storageProvider: "memory",
      userId: "mallory",
      status: "ready",
    };
    for (const [field, value] of Object.entries(attempts)) {
      // userId is also the caller's identity: as such, a stranger is denied rather than ignored.
      const type = field === "userId" ? AccessDeniedError : ValidationError;
      await refused(type, () => store.updateMetadata(aliceFile, untyped({ [field]: value })), field);
      await refused(
        type,
        () => store.updateMetadata(aliceFile, untyped({ summary: "s", [field]: value })),
        field,
      );
      await refused(
        type,
        () => store.updateFile(aliceFile, untyped({ data: "evil", [field]: value })),
        field,
      );
    }
    // sessionId names the caller's session in these calls: another session is denied, never moved to.
    for (const sessionId of ["shared", "user_bob"]) {
      for (const call of [
        () => store.updateMetadata(aliceFile, untyped({ sessionId })),
        () => store.updateMetadata(aliceFile, untyped({ summary: "s", sessionId })),
        () => store.updateFile(aliceFile, untyped({ data: "evil", sessionId })),
      ]) {
        const before = await snapshot();
        const err = await call().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, `sessionId ${sessionId}`).toSatisfy(
          (e: unknown) => e instanceof ValidationError || e instanceof AccessDeniedError,
        );
        expect(await snapshot()).toEqual(before);
      }
    }
    expect(await store.metadata(aliceFile)).toEqual(original);
    expect(await store.readFile(aliceFile)).toBe("alice's bytes");
    expect(await store.readFile(sharedFile)).toBe("shared bytes");
  });

  // ---- ids --------------------------------------------------------------------------------------

  test("ids that do not exist: ArtifactNotFoundError, delete false, exists false", async () => {
    for (const id of [randomId(), "missing-id"]) {
      await refused(ArtifactNotFoundError, () => store.metadata(id), `metadata ${id}`);
      await refused(
        ArtifactNotFoundError,
        () => store.metadata(id, { sessionId: "shared" }),
        "metadata in session",
      );
      await refused(ArtifactNotFoundError, () => store.retrieve(id), "retrieve");
      await refused(ArtifactNotFoundError, () => store.readFile(id), "readFile");
      await refused(ArtifactNotFoundError, () => store.updateFile(id, { data: "x" }), "updateFile");
      await refused(
        ArtifactNotFoundError,
        () => store.updateMetadata(id, { summary: "x" }),
        "updateMetadata",
      );
      await refused(ArtifactNotFoundError, () => store.copyFile(id), "copyFile");
      await refused(ArtifactNotFoundError, () => store.copyFile(id, { newFilename: "c" }), "copyFile named");
      await refused(ArtifactNotFoundError, () => store.moveFile(id, { newFilename: "m" }), "moveFile");
      await refused(ArtifactNotFoundError, () => store.presign(id), "presign");
      await refused(ArtifactNotFoundError, () => store.presignShort(id), "presignShort");
      await refused(ArtifactNotFoundError, () => store.registerUploadedArtifact(id), "register");
      await refused(ArtifactNotFoundError, () => store.openStream(id), "openStream");
      const before = await snapshot();
      expect(await store.delete(id)).toBe(false);
      expect(await store.exists(id)).toBe(false);
      expect(await snapshot()).toEqual(before);
    }
  });

  test("invalid ids ('../x', 'a/b') are a ValidationError", async () => {
    for (const id of [...BAD_IDS, "", ".", "..", "x".repeat(1000)]) {
      const label = `id ${JSON.stringify(id.slice(0, 20))}`;
      await refused(ValidationError, () => store.metadata(id), label);
      await refused(ValidationError, () => store.retrieve(id), label);
      await refused(ValidationError, () => store.readFile(id), label);
      await refused(ValidationError, () => store.updateFile(id, { data: "x" }), label);
      await refused(ValidationError, () => store.updateMetadata(id, { summary: "x" }), label);
      await refused(ValidationError, () => store.copyFile(id), label);
      await refused(ValidationError, () => store.moveFile(id, { newFilename: "m" }), label);
      await refused(ValidationError, () => store.presign(id), label);
      await refused(ValidationError, () => store.registerUploadedArtifact(id), label);
      await refused(ValidationError, () => store.delete(id), label);
      await refused(ValidationError, () => store.exists(id), label);
    }
  });

  // ---- sessions are security boundaries ------------------------------------------------------------

  test("copyFile to another session is an AccessDeniedError", async () => {
    for (const targetSessionId of ["user_bob", "shared", "brand-new-session"]) {
      let caught: unknown = null;
      await refused(
        AccessDeniedError,
        async () => {
          try {
            await store.copyFile(aliceFile, { targetSessionId, newFilename: "stolen.txt" });
          } catch (err) {
            caught = err;
            throw err;
          }
        },
        targetSessionId,
      );
      expect(caught).toBeInstanceOf(ArtifactStoreError);
      expect((caught as AccessDeniedError).code).toBe("ACCESS_DENIED");
      await refused(AccessDeniedError, () =>
        store.moveFile(aliceFile, { newFilename: "x", targetSessionId }),
      );
    }
    expect(await store.listBySession("brand-new-session")).toHaveLength(0);
    expect(await store.getSessionInfo("brand-new-session")).toBeNull();
  });

  test("storing into another user's session is an AccessDeniedError", async () => {
    // The implicit owner of user_alice is alice, whether or not the session exists yet.
    await refused(
      AccessDeniedError,
      () => store.store("x", { sessionId: "user_carol", userId: "bob" }),
      "new",
    );
    expect(await store.getSessionInfo("user_carol")).toBeNull();
    await refused(
      AccessDeniedError,
      () => store.store("x", { sessionId: "user_alice", userId: "bob" }),
      "existing",
    );
    await refused(AccessDeniedError, () =>
      store.storeBatch([{ data: "x" }], { sessionId: "user_alice", userId: "bob" }),
    );
    await refused(AccessDeniedError, () => store.presignUpload({ sessionId: "user_alice", userId: "bob" }));

    // An explicit session created by alice, then used by bob.
    await store.createSession({ sessionId: "project-x", userId: "alice" });
    const aliceDoc = await store.store("plan", { sessionId: "project-x", userId: "alice" });
    await refused(
      AccessDeniedError,
      () => store.store("x", { sessionId: "project-x", userId: "bob" }),
      "explicit",
    );
    await refused(AccessDeniedError, () => store.writeFile("x", { sessionId: "project-x", userId: "bob" }));
    await refused(AccessDeniedError, () => store.presignUpload({ sessionId: "project-x", userId: "bob" }));
    await refused(AccessDeniedError, () => store.getSessionInfo("project-x", { userId: "bob" }));
    await refused(AccessDeniedError, () => store.deleteSession("project-x", { userId: "bob" }));
    await refused(AccessDeniedError, () => store.extendSession("project-x", { userId: "bob" }));

    // A session alice made implicitly by storing into it is hers too.
    const implicit = await store.store("mine", { sessionId: "target", userId: "alice" });
    await refused(
      AccessDeniedError,
      () => store.store("x", { sessionId: "target", userId: "bob" }),
      "implicit",
    );
    expect(await store.readFile(implicit, { userId: "alice" })).toBe("mine");
    expect(await store.readFile(aliceDoc, { userId: "alice" })).toBe("plan");
  });

  test("reading, changing or deleting with the wrong userId is an AccessDeniedError", async () => {
    await store.createSession({ sessionId: "project-x", userId: "alice" });
    const projectFile = await store.store("project", { sessionId: "project-x", userId: "alice" });
    for (const id of [aliceFile, projectFile]) {
      const ctx = { userId: "bob" };
      await refused(AccessDeniedError, () => store.retrieve(id, ctx), "retrieve");
      await refused(AccessDeniedError, () => store.readFile(id, ctx), "readFile");
      await refused(AccessDeniedError, () => store.metadata(id, ctx), "metadata");
      await refused(AccessDeniedError, () => store.delete(id, ctx), "delete");
      await refused(AccessDeniedError, () => store.updateFile(id, { ...ctx, data: "evil" }), "updateFile");
      await refused(
        AccessDeniedError,
        () => store.updateMetadata(id, { ...ctx, summary: "evil" }),
        "updateMetadata",
      );
      await refused(AccessDeniedError, () => store.copyFile(id, ctx), "copyFile");
      await refused(AccessDeniedError, () => store.moveFile(id, { ...ctx, newFilename: "evil" }), "moveFile");
      await refused(AccessDeniedError, () => store.presign(id, ctx), "presign");
      await refused(AccessDeniedError, () => store.openStream(id, ctx), "openStream");
      // Naming the wrong session is denied as well.
      await refused(AccessDeniedError, () => store.retrieve(id, { sessionId: "shared" }), "wrong session");
      await refused(
        AccessDeniedError,
        () => store.delete(id, { sessionId: "user_bob" }),
        "delete wrong session",
      );
    }
    await refused(AccessDeniedError, () => store.listBySession("user_alice", { userId: "bob" }), "list");
    await refused(
      AccessDeniedError,
      () => store.listBySession("project-x", { userId: "bob" }),
      "list explicit",
    );
    await refused(
      AccessDeniedError,
      () => store.getDirectoryContents("project-x", "", { userId: "bob" }),
      "dir",
    );
    expect(await store.exists(aliceFile)).toBe(true);
    expect(await store.readFile(aliceFile, { userId: "alice" })).toBe("alice's bytes");
    expect(await store.readFile(projectFile, { userId: "alice" })).toBe("project");
  });

  // ---- corruption on disk -----------------------------------------------------------------------

  test.runIf(isFs)("a byte flipped in the body file on disk is an ArtifactCorruptedError", async () => {
    const root = options.fsRoot!;
    const key = (await store.metadata(aliceFile)).key;
    // A small artifact is one file at its key: the bytes first, then the record and a footer.
    const bodyPath = join(root, key);
    const content = await readFile(bodyPath);
    expect(content.subarray(0, 13).toString()).toBe("alice's bytes");
    content[3] = content[3]! ^ 0x01;
    await writeFile(bodyPath, content);

    await refused(ArtifactCorruptedError, () => store.retrieve(aliceFile), "retrieve");
    await refused(ArtifactCorruptedError, () => store.readFile(aliceFile), "readFile");
    const opened = await store.openStream(aliceFile);
    await expect(
      (async () => {
        for await (const _chunk of opened.body.stream) {
          // drain
        }
      })(),
    ).rejects.toBeInstanceOf(ArtifactCorruptedError);

    // Lost bytes are caught as well (the record and footer kept intact); the neighbour still reads.
    await writeFile(bodyPath, Buffer.concat([content.subarray(0, 5), content.subarray(13)]));
    await refused(ArtifactCorruptedError, () => store.retrieve(aliceFile), "truncated");
    expect(await store.readFile(sharedFile)).toBe("shared bytes");
    expect((await store.metadata(aliceFile)).sha256).toBe(sha256("alice's bytes"));
  });
});
