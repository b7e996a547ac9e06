import { ArtifactStore } from "chuk-artifacts";

await using store = new ArtifactStore(); // zero config: memory storage, memory sessions

// Store a file in alice's own session (user_alice, created on first use)
const fileId = await store.store("Hello, world!", {
  mime: "text/plain",
  summary: "greeting",
  filename: "hello.txt",
  userId: "alice",
});

// A signed download URL, valid 15 minutes
const url = await store.presignShort(fileId);

// Read it back
const text = await store.readFile(fileId, { asText: true });
console.assert(text === "Hello, world!");

// Replace the content; size and sha256 are recomputed
await store.updateFile(fileId, { data: "Hello, updated world!", summary: "Updated greeting" });

const meta = await store.metadata(fileId);
console.log(meta.key, meta.bytes, meta.sha256, url);
