import { ArtifactStore, ConflictError } from "chuk-artifacts";

await using store = new ArtifactStore({ keepVersions: 10 }); // 10 earlier versions kept (the default)

// Scopes: a session's file (the default), a user's own file, a file shared by the whole sandbox
const draft = await store.store("# Report v1", {
  filename: "report.md",
  sessionId: "chat-1",
  userId: "alice",
});
const profile = await store.store("{}", { scope: "user", userId: "alice", filename: "profile.json" });
const template = await store.store("# Template", { scope: "sandbox", filename: "template.md" }); // trusted call: no userId
console.log((await store.metadata(profile)).key); // grid/chuk-artifacts/_u-alice/…
console.log((await store.listByUser("alice")).length, (await store.listShared()).length); // 1 1
console.log(await store.readFile(template, { userId: "bob", asText: true })); // any user reads shared files

// Versions: every write of bytes is a new version; the etag changes on every write
await store.updateFile(draft, { data: "# Report v2" });
const m = await store.metadata(draft);
console.log(
  m.version,
  (await store.listVersions(draft)).map((v) => v.version),
); // 2 [ 2, 1 ]
console.log(await store.readFile(draft, { version: 1, asText: true })); // # Report v1

// Conditional writes: only if nobody changed it since we read it
await store.updateFile(draft, { data: "# Report v3", ifMatch: m.etag });
try {
  await store.updateFile(draft, { data: "# stale edit", ifMatch: m.etag });
} catch (err) {
  console.log(err instanceof ConflictError); // true: the etag moved, nothing was written
}

// Checkpoints: the version of every artifact of a session, restorable as new versions
const cp = await store.createCheckpoint("chat-1", { name: "before the rewrite" });
await store.updateFile(draft, { data: "# Rewritten" });
const scratch = await store.store("tmp", { sessionId: "chat-1", userId: "alice" });
const restored = await store.restoreCheckpoint("chat-1", cp.checkpointId);
console.log(restored.restored.length, restored.deleted.includes(scratch)); // 1 true
console.log(await store.readFile(draft, { asText: true }), (await store.metadata(draft)).version); // # Report v3 5

await store.restoreVersion(draft, 1); // a new version (6) with version 1's content
