import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArtifactStore } from "../src/store.js";
import { call, connectHttp, type McpClient, startTestFront, type TestFront } from "./mcp-helpers.js";

/**
 * Resource URIs beyond the connection's session: a kept version
 * (`artifact://{session}/{id}/versions/{n}`), the user's own files (`artifact://_u-{user}/{id}`)
 * and the sandbox's shared ones (`artifact://_shared/{id}`), read with the real SDK client over
 * Streamable HTTP, with the store's access rules.
 */
describe("MCP resource URIs for versions, user files and shared files", () => {
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
  const text = (read: { contents: unknown[] }) => (read.contents[0] as { text?: string }).text;

  beforeAll(async () => {
    front = await startTestFront();
    store = new ArtifactStore({ publicUrl: front.baseUrl });
    front.attach(store);
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await store?.close();
    await front?.close();
  });

  it("reads a kept version by its URI, and refuses a version URI as a tool's artifact", async () => {
    const alice = await client("alice");
    const id = await store.store("first draft", { userId: "alice", mime: "text/plain" });
    await store.updateFile(id, { data: "second draft", userId: "alice" });
    const v1 = await alice.readResource({ uri: `artifact://user_alice/${id}/versions/1` });
    expect(text(v1)).toBe("first draft");
    expect((v1.contents[0] as { uri: string }).uri).toBe(`artifact://user_alice/${id}/versions/1`);
    expect(text(await alice.readResource({ uri: `artifact://user_alice/${id}` }))).toBe("second draft");
    await expect(alice.readResource({ uri: `artifact://user_alice/${id}/versions/7` })).rejects.toThrow();
    const refused = await call(alice, "read_file", { artifactId: `artifact://user_alice/${id}/versions/1` });
    expect(refused.isError).toBe(true);
    const bob = await client("bob");
    await expect(bob.readResource({ uri: `artifact://user_alice/${id}/versions/1` })).rejects.toThrow();
  });

  it("reads the user's own files and the shared files; another user reads only the shared ones", async () => {
    const mine = await store.store("alice's profile", { scope: "user", userId: "alice", mime: "text/plain" });
    const shared = await store.store("team template", { scope: "sandbox", mime: "text/plain" });
    const alice = await client("alice");
    const bob = await client("bob");

    expect(text(await alice.readResource({ uri: `artifact://_u-alice/${mine}` }))).toBe("alice's profile");
    expect(text(await bob.readResource({ uri: `artifact://_shared/${shared}` }))).toBe("team template");
    await expect(bob.readResource({ uri: `artifact://_u-alice/${mine}` })).rejects.toThrow();
    await expect(bob.readResource({ uri: `artifact://_u-bob/${mine}` })).rejects.toThrow();
    // A file named under the wrong owner segment is not found, even by its owner.
    await expect(alice.readResource({ uri: `artifact://_shared/${mine}` })).rejects.toThrow();

    // Tools take these URIs too, and their results link to them.
    const meta = await call(alice, "get_metadata", { artifactId: `artifact://_u-alice/${mine}` });
    expect(meta.isError).toBeFalsy();
    expect(JSON.stringify(meta.structuredContent)).toContain(`artifact://_u-alice/${mine}`);
    const denied = await call(bob, "read_file", { artifactId: `artifact://_u-alice/${mine}` });
    expect(denied.isError).toBe(true);
    expect(JSON.stringify(denied.content)).not.toContain("alice's profile");
  });
});
