import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import { bearer, CLI, json, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";
import { connectHttp, connectStdio, fails, type McpClient, ok } from "./mcp-helpers.js";

/**
 * `scope` on the MCP tools that create files (upload_file, write_file, presign_upload), with the
 * real SDK clients: over Streamable HTTP against a real `serve` (an admin key makes a trusted
 * connection) and over stdio against the built CLI (`mcp --admin`). A non-admin asking for the
 * shared scope is refused and nothing is stored or reserved; a signed upload URL keeps its scope.
 */

interface View {
  artifact: { artifactId: string; uri: string; sha256: string };
}

describe("MCP tools take a scope for new files", () => {
  let server: RunningServer;
  let root: string;
  const sandbox = uniqueSandbox("mcp-scope");
  const clients: McpClient[] = [];
  const client = async (key: string) => {
    const c = await connectHttp("v2", `${server.url}/mcp`, bearer(key));
    clients.push(c);
    return c;
  };
  const api = (path: string) => `${server.url}/v1${path}`;
  const shared = async () => {
    try {
      return await readdir(join(root, "grid", sandbox, "_shared"));
    } catch {
      return [];
    }
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "chuk-mcp-scope-"));
    server = await startServer({
      args: ["--provider", "filesystem", "--fs-root", root],
      env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: sandbox },
    });
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it("stores into the user's own scope and, for an admin connection only, the shared scope", async () => {
    const alice = await client(KEYS.alice);
    const bob = await client(KEYS.bob);
    const admin = await client(KEYS.admin);

    const mine = await ok<View>(alice, "upload_file", {
      contentBase64: Buffer.from("alice's profile").toString("base64"),
      filename: "profile.txt",
      scope: "user",
    });
    expect(mine.artifact.uri).toBe(`artifact://_u-alice/${mine.artifact.artifactId}`);
    const meta = await json(api(`/artifacts/${mine.artifact.artifactId}/metadata`), "GET", KEYS.alice);
    expect(meta.body).toMatchObject({ scope: "user", userId: "alice" });
    const read = await alice.readResource({ uri: mine.artifact.uri });
    expect((read.contents[0] as { text: string }).text).toBe("alice's profile");
    expect((await fails(bob, "read_file", { artifactId: mine.artifact.artifactId })).kind).toBe(
      "access_denied",
    );

    const before = await shared();
    const refused = await fails(alice, "write_file", { content: "not allowed", scope: "sandbox" });
    expect(refused.kind).toBe("access_denied");
    const refusedBase64 = await fails(bob, "upload_file", {
      contentBase64: Buffer.from("no").toString("base64"),
      scope: "sandbox",
    });
    expect(refusedBase64.kind).toBe("access_denied");
    expect(await shared()).toEqual(before);

    const template = await ok<View>(admin, "write_file", {
      content: "# team template",
      filename: "template.md",
      scope: "sandbox",
    });
    expect(template.artifact.uri).toBe(`artifact://_shared/${template.artifact.artifactId}`);
    const fromBob = await ok<{ artifact: View["artifact"] }>(bob, "read_file", {
      artifactId: template.artifact.uri,
    });
    expect(JSON.stringify(fromBob._result.content)).toContain("# team template");
    expect(await shared()).toHaveLength(before.length + 1);

    // A session-scope write is the default and stays in the connection's session.
    const plain = await ok<View>(alice, "write_file", { content: "notes", scope: "session" });
    expect(plain.artifact.uri).toBe(`artifact://user_alice/${plain.artifact.artifactId}`);
    // An existing file keeps its scope: scope goes with new files only.
    const both = await fails(alice, "write_file", {
      content: "x",
      artifactId: mine.artifact.artifactId,
      scope: "sandbox",
    });
    expect(both.kind).toBe("invalid_input");
    expect((await fails(alice, "write_file", { content: "x", scope: "world" })).text).toMatch(/scope/);
  });

  it("signs the scope into presign_upload's URL; register_upload keeps it", async () => {
    const alice = await client(KEYS.alice);
    const bob = await client(KEYS.bob);
    const admin = await client(KEYS.admin);
    type Upload = { url: string; headers: Record<string, string>; artifactId: string; uri: string };
    const put = async (u: Upload, body: string, url = u.url) => {
      // A refused PUT is answered before its body is read: keep its connection out of the pool.
      const res = await fetch(url, { method: "PUT", headers: { ...u.headers, connection: "close" }, body });
      await res.arrayBuffer();
      return res.status;
    };

    const upload = await ok<Upload>(alice, "presign_upload", { mime: "text/plain", scope: "user" });
    expect(upload.uri).toBe(`artifact://_u-alice/${upload.artifactId}`);
    const before = await shared();
    expect(await put(upload, "bent", upload.url.replace("/_u-alice/", "/_shared/"))).toBe(403);
    expect(await shared()).toEqual(before);
    expect(await put(upload, "alice's upload")).toBe(200);
    const registered = await ok<View>(alice, "register_upload", { artifactId: upload.artifactId });
    expect(registered.artifact.uri).toBe(upload.uri);
    const meta = await json(api(`/artifacts/${upload.artifactId}/metadata`), "GET", KEYS.alice);
    expect(meta.body).toMatchObject({ scope: "user", bytes: "alice's upload".length });

    expect((await fails(bob, "presign_upload", { scope: "sandbox" })).kind).toBe("access_denied");
    expect(await shared()).toEqual(before);

    const org = await ok<Upload>(admin, "presign_upload", { mime: "text/plain", scope: "sandbox" });
    expect(org.uri).toBe(`artifact://_shared/${org.artifactId}`);
    expect(await put(org, "org file")).toBe(200);
    expect((await fails(bob, "register_upload", { artifactId: org.artifactId })).kind).toBe("access_denied");
    const done = await ok<View>(admin, "register_upload", { artifactId: org.artifactId });
    expect(done.artifact.uri).toBe(org.uri);
    const read = await bob.readResource({ uri: org.uri });
    expect((read.contents[0] as { text: string }).text).toBe("org file");
  });

  it("mcp on stdio writes the shared scope only with --admin", async () => {
    const dir = await mkdtemp(join(tmpdir(), "chuk-mcp-scope-stdio-"));
    const params = (extra: string[]) => ({
      command: process.execPath,
      args: [CLI, "mcp", "--user", "ops", "--provider", "filesystem", "--fs-root", dir, ...extra],
      env: { PATH: process.env.PATH ?? "" },
      cwd: dir,
    });
    try {
      const plain = await connectStdio("v1", params([]));
      try {
        expect((await fails(plain.client, "write_file", { content: "x", scope: "sandbox" })).kind).toBe(
          "access_denied",
        );
        const own = await ok<View>(plain.client, "write_file", { content: "mine", scope: "user" });
        expect(own.artifact.uri).toBe(`artifact://_u-ops/${own.artifact.artifactId}`);
      } finally {
        await plain.client.close();
      }
      const trusted = await connectStdio("v1", params(["--admin"]));
      try {
        const made = await ok<View>(trusted.client, "write_file", { content: "shared", scope: "sandbox" });
        expect(made.artifact.uri).toBe(`artifact://_shared/${made.artifact.artifactId}`);
        expect(trusted.stderr.join("")).toContain("user ops (admin)");
      } finally {
        await trusted.client.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
