import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { call, connectHttp, type McpClient, startTestFront, type TestFront } from "./mcp-helpers.js";

/**
 * search_files with `scope`, over Streamable HTTP with the real SDK client: a user's own files
 * only for that user, the sandbox's shared files for anyone.
 */
describe("MCP search_files over the user's own and the shared files", () => {
  let front: TestFront;
  let store: ArtifactStore;
  const clients: McpClient[] = [];
  const client = async (userId: string) => {
    const c = await connectHttp("v2", `${front.baseUrl}/mcp`, {
      authorization: `Bearer ${front.keyFor(userId)}`,
    });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    front = await startTestFront();
    store = new ArtifactStore({ sandboxId: uniqueSandbox("mcpfind"), publicUrl: front.baseUrl });
    front.attach(store);
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await store?.close();
    await front?.close();
  });

  it("finds own-scope files for their user only and shared files for everyone", async () => {
    const mine = await store.store("profile", { scope: "user", userId: "alice", filename: "me/profile.md" });
    const shared = await store.store("template", { scope: "sandbox", filename: "team/template.md" });
    await store.store("session file", { userId: "alice", filename: "me/notes.md" });
    const found = async (c: McpClient, args: Record<string, unknown>) => {
      const r = await call(c, "search_files", args);
      expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
      return (r.structuredContent as { files: { artifactId: string }[] }).files.map((f) => f.artifactId);
    };
    const alice = await client("alice");
    const bob = await client("bob");
    expect(await found(alice, { scope: "user", text: "profile" })).toEqual([mine]);
    expect(await found(alice, { scope: "sandbox" })).toEqual([shared]);
    expect(await found(bob, { scope: "sandbox", filename: "team/*" })).toEqual([shared]);
    expect(await found(bob, { scope: "user" })).toEqual([]);
    expect(await found(bob, { allSessions: true, text: "profile" })).toEqual([]);
    expect((await found(alice, { allSessions: true, text: "me" })).sort()).toContain(mine);
  });
});
