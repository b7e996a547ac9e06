import { ArtifactStore, type AuditEvent, jsonLinesFile } from "chuk-artifacts";

// Every audit event to a JSON-lines file (rotated at 10 MiB, 5 old files kept) and to your code
const log = jsonLinesFile(process.env.AUDIT_FILE ?? "audit.jsonl", { maxBytes: 10 * 1024 * 1024, keep: 5 });
const seen: AuditEvent[] = [];
const store = new ArtifactStore({
  onEvent: (event) => {
    log.write(event);
    seen.push(event);
  },
});

const id = await store.writeFile("quarterly numbers", { filename: "q3.txt", userId: "alice" });
await store.updateMetadata(id, { summary: "Q3", userId: "alice" });
await store.presignShort(id, { userId: "alice" });
await store.delete(id, { userId: "alice" });

console.log(seen.map((e) => `${e.type} by ${e.actor.userId}: ${e.artifactId} (${e.bytes} bytes)`).join("\n"));
// artifact.stored by alice: 3f2a… (17 bytes)
// artifact.updated by alice: 3f2a… (17 bytes)
// artifact.presigned by alice: 3f2a… (17 bytes)
// artifact.deleted by alice: 3f2a… (17 bytes)

await store.close();
await log.close();
