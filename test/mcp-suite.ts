import { createHash, randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import { type ArtifactView, type ClientLine, call, fails, type McpClient, ok } from "./mcp-helpers.js";

/**
 * What every transport of the MCP server must do, driven through the SDK's own Client. Each
 * transport's test file supplies connected clients; the server behind them is configured with
 * the limits below.
 */
export interface McpHarness {
  /** A connected client acting for `userId` (cached per user by the harness). */
  client(userId: string): Promise<McpClient>;
  /** A client for `userId` that asks to work in `sessionId`; null when the transport cannot choose. */
  clientInSession: ((userId: string, sessionId: string) => Promise<McpClient>) | null;
  maxReadBytes: number;
  maxUploadBytes: number;
  pageSize: number;
  /** The SDK line of the clients (v2's listResources walks every page when given no cursor). */
  line: ClientLine;
}

/** What a JSON-RPC error raised by either SDK client line looks like. */
const PROTOCOL_ERROR = { code: expect.any(Number), message: expect.any(String) };

export const LIMITS = { maxReadBytes: 4096, maxUploadBytes: 65536, pageSize: 2 };

export const TOOL_NAMES = [
  "copy_file",
  "delete_file",
  "get_metadata",
  "list_files",
  "list_versions",
  "move_file",
  "presign_download",
  "presign_upload",
  "read_file",
  "register_upload",
  "search_files",
  "update_metadata",
  "upload_file",
  "write_file",
];

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");
const unique = (prefix: string) => `${prefix}${randomBytes(4).toString("hex")}`;

type Content = Awaited<ReturnType<typeof call>>["content"][number];

function links(content: Content[]) {
  return content.filter((c): c is Extract<Content, { type: "resource_link" }> => c.type === "resource_link");
}

/** The server's first resources/list page, as sent (no client-side aggregation). */
async function rawFirstPage(client: McpClient) {
  const v2 = client as McpClient & {
    request(r: { method: "resources/list"; params: Record<string, never> }): Promise<{
      resources: { uri: string; size?: number; mimeType?: string; annotations?: { lastModified?: string } }[];
      nextCursor?: string;
    }>;
  };
  return v2.request({ method: "resources/list", params: {} });
}

export function mcpServerSuite(h: () => McpHarness): void {
  it("lists every tool, each with a description and an object input schema", async () => {
    const alice = await h().client("alice");
    const { tools } = await alice.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(20);
      expect(tool.inputSchema.type).toBe("object");
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
      expect(tool.outputSchema?.type, tool.name).toBe("object");
    }
    const update = tools.find((t) => t.name === "update_metadata")!;
    const fields = Object.keys(update.inputSchema.properties ?? {});
    expect(fields).toEqual(
      expect.arrayContaining(["artifactId", "summary", "meta", "filename", "mime", "ttl"]),
    );
    for (const system of ["sha256", "key", "sessionId", "bytes", "artifactIdNew", "storedAt", "userId"]) {
      expect(fields).not.toContain(system);
    }
    const read = tools.find((t) => t.name === "read_file")!;
    expect(read.annotations?.readOnlyHint).toBe(true);
    expect(tools.find((t) => t.name === "delete_file")!.annotations?.destructiveHint).toBe(true);
  });

  it("upload_file stores base64 bytes that read_file returns unchanged, with a resource_link", async () => {
    const alice = await h().client("alice");
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(1800)]);
    const up = await ok<{ artifact: ArtifactView }>(alice, "upload_file", {
      contentBase64: bytes.toString("base64"),
      filename: "data/blob.bin",
      summary: "random bytes",
      meta: { source: "test" },
    });
    expect(up.artifact).toMatchObject({
      filename: "data/blob.bin",
      mime: "application/octet-stream",
      bytes: bytes.length,
      sha256: sha256(bytes),
      summary: "random bytes",
      meta: { source: "test" },
    });
    expect(up.artifact.uri).toBe(`artifact://user_alice/${up.artifact.artifactId}`);
    expect(links(up._result.content)).toEqual([
      expect.objectContaining({
        uri: up.artifact.uri,
        name: "data/blob.bin",
        mimeType: "application/octet-stream",
        size: bytes.length,
      }),
    ]);

    const read = await ok<{ encoding: string; nextOffset: number | null; totalBytes: number }>(
      alice,
      "read_file",
      { artifactId: up.artifact.artifactId },
    );
    expect(read).toMatchObject({ encoding: "base64", nextOffset: null, totalBytes: bytes.length });
    const data = read._result.content[0]!;
    if (data.type !== "resource" || !("blob" in data.resource)) throw new Error(`not a blob: ${data.type}`);
    expect(data.resource.uri).toBe(up.artifact.uri);
    expect(data.resource.mimeType).toBe("application/octet-stream");
    expect(Buffer.from(data.resource.blob, "base64").equals(bytes)).toBe(true);

    // An image comes back as image content a model can look at; the mime is guessed from the name.
    const png = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), randomBytes(64)]);
    const img = await ok<{ artifact: ArtifactView }>(alice, "upload_file", {
      contentBase64: png.toString("base64"),
      filename: "chart.png",
    });
    expect(img.artifact.mime).toBe("image/png");
    const shown = (await call(alice, "read_file", { artifactId: img.artifact.uri })).content[0]!;
    if (shown.type !== "image") throw new Error(`not an image: ${shown.type}`);
    expect(Buffer.from(shown.data, "base64").equals(png)).toBe(true);
    expect(shown.mimeType).toBe("image/png");
  });

  it("write_file stores text that read_file returns as text; giving an id rewrites it in place", async () => {
    const alice = await h().client("alice");
    const text = "héllo ☃ wörld\nsecond line\n";
    const written = await ok<{ artifact: ArtifactView }>(alice, "write_file", {
      content: text,
      filename: "notes/today.md",
    });
    expect(written.artifact).toMatchObject({
      mime: "text/markdown; charset=utf-8",
      bytes: Buffer.byteLength(text),
      sha256: sha256(text),
    });
    const read = await ok<{ encoding: string }>(alice, "read_file", {
      artifactId: written.artifact.artifactId,
    });
    expect(read.encoding).toBe("text");
    expect(read._result.content[0]).toEqual({ type: "text", text });

    const again = await ok<{ artifact: ArtifactView }>(alice, "write_file", {
      artifactId: written.artifact.artifactId,
      content: "replaced",
    });
    expect(again.artifact.artifactId).toBe(written.artifact.artifactId);
    expect(again.artifact.bytes).toBe(8);
    const reread = await call(alice, "read_file", { artifactId: written.artifact.artifactId });
    expect(reread.content[0]).toEqual({ type: "text", text: "replaced" });
  });

  it("list_versions lists every write of content; read_file, get_metadata and presign_download take a version", async () => {
    const alice = await h().client("alice");
    const first = await ok<{ artifact: ArtifactView & { version: number; etag: string } }>(
      alice,
      "write_file",
      {
        content: "draft one",
        filename: "versions.md",
      },
    );
    const id = first.artifact.artifactId;
    expect(first.artifact.version).toBe(1);
    const second = await ok<{ artifact: ArtifactView & { version: number; etag: string } }>(
      alice,
      "write_file",
      {
        artifactId: id,
        content: "draft two",
      },
    );
    expect(second.artifact.version).toBe(2);
    expect(second.artifact.etag).not.toBe(first.artifact.etag);
    const listed = await ok<{ versions: { version: number; bytes: number }[] }>(alice, "list_versions", {
      artifactId: id,
    });
    expect(listed.versions.map((v) => v.version)).toEqual([2, 1]);
    const old = await call(alice, "read_file", { artifactId: id, version: 1 });
    expect(old.content[0]).toEqual({ type: "text", text: "draft one" });
    const meta = await ok<{ artifact: { version: number } }>(alice, "get_metadata", {
      artifactId: id,
      version: 1,
    });
    expect(meta.artifact.version).toBe(1);
    const url = await ok<{ url: string }>(alice, "presign_download", { artifactId: id, version: 1 });
    expect(await (await fetch(url.url)).text()).toBe("draft one");
    const bob = await h().client("bob");
    expect((await fails(bob, "list_versions", { artifactId: id })).text).toBeTruthy();
    expect((await fails(alice, "read_file", { artifactId: id, version: 9 })).text).toContain("version 9");
  });

  it("list_files pages with a cursor and filters by a directory prefix", async () => {
    const pager = await h().client(unique("pager"));
    const ids: string[] = [];
    for (const name of ["docs/a.md", "docs/b.md", "docs/c.md", "img/x.txt", "readme.txt"]) {
      ids.push(
        (await ok<{ artifact: ArtifactView }>(pager, "write_file", { content: name, filename: name }))
          .artifact.artifactId,
      );
    }
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    for (let round = 0; round < 10; round++) {
      const page: { files: ArtifactView[]; nextCursor: string | null; _result: { content: Content[] } } =
        await ok(pager, "list_files", { limit: 2, ...(cursor !== null && { cursor }) });
      expect(page.files.length).toBeLessThanOrEqual(2);
      expect(links(page._result.content).map((l) => l.uri)).toEqual(page.files.map((f) => f.uri));
      sizes.push(page.files.length);
      seen.push(...page.files.map((f) => f.artifactId));
      cursor = page.nextCursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(seen.sort()).toEqual([...ids].sort());

    const docs = await ok<{ files: ArtifactView[]; nextCursor: string | null }>(pager, "list_files", {
      prefix: "docs/",
      limit: 50,
    });
    expect(docs.files.map((f) => f.filename).sort()).toEqual(["docs/a.md", "docs/b.md", "docs/c.md"]);
    expect(docs.nextCursor).toBeNull();

    // A prefix and a small page together: every page within the limit, all docs found once.
    const found: string[] = [];
    cursor = null;
    for (let round = 0; round < 10; round++) {
      const page: { files: ArtifactView[]; nextCursor: string | null } = await ok(pager, "list_files", {
        prefix: "docs/",
        limit: 2,
        ...(cursor !== null && { cursor }),
      });
      expect(page.files.length).toBeLessThanOrEqual(2);
      found.push(...page.files.map((f) => f.filename ?? ""));
      cursor = page.nextCursor;
      if (cursor === null) break;
    }
    expect(found.sort()).toEqual(["docs/a.md", "docs/b.md", "docs/c.md"]);
  });

  it("search_files finds by mime family, filename glob, meta and text, newest first, within the user's own", async () => {
    const finder = await h().client(unique("finder"));
    const write = async (filename: string, mime: string, meta: Record<string, unknown> = {}) =>
      (
        await ok<{ artifact: ArtifactView }>(finder, "write_file", {
          content: filename,
          filename,
          mime,
          meta,
        })
      ).artifact.artifactId;
    const q1 = await write("reports/q1.md", "text/markdown", { team: "red" });
    await write("notes/todo.txt", "text/plain");
    const q2 = await write("reports/q2.md", "text/markdown", { team: "blue" });
    const search = (args: Record<string, unknown>) =>
      ok<{ files: ArtifactView[]; nextCursor: string | null; _result: { content: Content[] } }>(
        finder,
        "search_files",
        args,
      );
    const reports = await search({ filename: "reports/*.md" });
    expect(reports.files.map((f) => f.artifactId)).toEqual([q2, q1]);
    expect(links(reports._result.content).map((l) => l.uri)).toEqual(reports.files.map((f) => f.uri));
    expect((await search({ mime: "text/*", meta: { team: "red" } })).files.map((f) => f.artifactId)).toEqual([
      q1,
    ]);
    expect((await search({ text: "todo" })).files.map((f) => f.filename)).toEqual(["notes/todo.txt"]);
    const first = await search({ limit: 2 });
    expect(first.files).toHaveLength(2);
    const second = await search({ limit: 2, cursor: first.nextCursor, allSessions: true });
    expect(second.files).toHaveLength(1);
    // Another user's search never sees these.
    const other = await h().client(unique("other"));
    expect((await ok<{ files: ArtifactView[] }>(other, "search_files", { allSessions: true })).files).toEqual(
      [],
    );
    expect((await fails(finder, "search_files", { cursor: "bogus" })).kind).toBe("invalid_input");
  });

  it("get_metadata and update_metadata; system fields cannot be written", async () => {
    const alice = await h().client("alice");
    const { artifact } = await ok<{ artifact: ArtifactView }>(alice, "write_file", {
      content: "metadata test",
      filename: "meta.txt",
      meta: { owner: "alice", stage: "draft" },
    });
    const got = await ok<{ artifact: ArtifactView & { ttl: number | null } }>(alice, "get_metadata", {
      artifactId: artifact.artifactId,
    });
    expect(got.artifact).toMatchObject({
      filename: "meta.txt",
      bytes: 13,
      meta: { owner: "alice", stage: "draft" },
    });
    expect(typeof got.artifact.ttl).toBe("number");

    const merged = await ok<{ artifact: ArtifactView }>(alice, "update_metadata", {
      artifactId: artifact.artifactId,
      summary: "reviewed",
      meta: { stage: "final" },
      filename: "meta-final.txt",
      ttl: null,
    });
    expect(merged.artifact).toMatchObject({
      summary: "reviewed",
      meta: { owner: "alice", stage: "final" },
      filename: "meta-final.txt",
      expiresAt: null,
    });
    const replaced = await ok<{ artifact: ArtifactView }>(alice, "update_metadata", {
      artifactId: artifact.artifactId,
      meta: { only: true },
      replaceMeta: true,
    });
    expect(replaced.artifact.meta).toEqual({ only: true });

    for (const field of ["sha256", "key", "sessionId", "bytes"]) {
      const refused = await fails(alice, "update_metadata", {
        artifactId: artifact.artifactId,
        [field]: "x",
      });
      expect(refused.text).toContain(field);
    }
    const after = await ok<{ artifact: ArtifactView }>(alice, "get_metadata", {
      artifactId: artifact.artifactId,
    });
    expect(after.artifact.sha256).toBe(artifact.sha256);
    expect(after.artifact.bytes).toBe(13);
    expect((await fails(alice, "update_metadata", { artifactId: artifact.artifactId })).kind).toBe(
      "invalid_input",
    );
  });

  it("copy_file, move_file and delete_file", async () => {
    const alice = await h().client("alice");
    const { artifact } = await ok<{ artifact: ArtifactView }>(alice, "write_file", {
      content: "copy me",
      filename: "drafts/a.md",
    });
    const copy = await ok<{ artifact: ArtifactView; copiedFrom: string }>(alice, "copy_file", {
      artifactId: artifact.artifactId,
      newFilename: "drafts/b.md",
      meta: { note: "copied" },
    });
    expect(copy.copiedFrom).toBe(artifact.artifactId);
    expect(copy.artifact.artifactId).not.toBe(artifact.artifactId);
    expect(copy.artifact).toMatchObject({ filename: "drafts/b.md", sha256: artifact.sha256 });
    expect(copy.artifact.meta).toMatchObject({ note: "copied", copiedFrom: artifact.artifactId });
    expect(links(copy._result.content).map((l) => l.uri)).toEqual([copy.artifact.uri, artifact.uri]);
    expect((await call(alice, "read_file", { artifactId: copy.artifact.artifactId })).content[0]).toEqual({
      type: "text",
      text: "copy me",
    });

    const moved = await ok<{ artifact: ArtifactView }>(alice, "move_file", {
      artifactId: artifact.artifactId,
      newFilename: "final/a.md",
    });
    expect(moved.artifact).toMatchObject({ artifactId: artifact.artifactId, filename: "final/a.md" });
    const listed = await ok<{ files: ArtifactView[] }>(alice, "list_files", { prefix: "final/" });
    expect(listed.files.map((f) => f.artifactId)).toContain(artifact.artifactId);

    const deleted = await ok<{ deleted: boolean }>(alice, "delete_file", { artifactId: copy.artifact.uri });
    expect(deleted.deleted).toBe(true);
    expect((await fails(alice, "read_file", { artifactId: copy.artifact.artifactId })).kind).toBe(
      "not_found",
    );
    expect((await fails(alice, "delete_file", { artifactId: copy.artifact.artifactId })).kind).toBe(
      "not_found",
    );
    // The original is untouched.
    expect((await ok(alice, "get_metadata", { artifactId: artifact.artifactId })).artifact).toBeDefined();
  });

  it("presign_download gives a URL that serves the bytes", async () => {
    const alice = await h().client("alice");
    const bytes = randomBytes(1500);
    const { artifact } = await ok<{ artifact: ArtifactView }>(alice, "upload_file", {
      contentBase64: bytes.toString("base64"),
      filename: "download.bin",
    });
    const signed = await ok<{ url: string; method: string; expiresAt: string }>(alice, "presign_download", {
      artifactId: artifact.artifactId,
      expiresIn: 120,
    });
    expect(signed.method).toBe("GET");
    expect(Date.parse(signed.expiresAt)).toBeGreaterThan(Date.now() + 60_000);
    const response = await fetch(signed.url);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
    // A tampered URL is refused.
    const tampered = signed.url.replace(artifact.artifactId, "0".repeat(32));
    expect((await fetch(tampered)).ok).toBe(false);
  });

  it("presign_upload, a PUT to the URL, then register_upload makes the file visible", async () => {
    const alice = await h().client("alice");
    const csv = "a,b\n1,2\n3,4\n";
    const slot = await ok<{
      url: string;
      method: string;
      headers: Record<string, string>;
      artifactId: string;
    }>(alice, "presign_upload", { filename: "data.csv", mime: "text/csv", maxBytes: 1000, expiresIn: 300 });
    expect(slot.method).toBe("PUT");
    expect(slot.headers["content-type"]).toBe("text/csv");
    // Not visible before it is registered.
    expect((await fails(alice, "read_file", { artifactId: slot.artifactId })).kind).toBe("not_found");
    const put = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: csv });
    expect(put.ok, await put.clone().text()).toBe(true);
    const registered = await ok<{ artifact: ArtifactView }>(alice, "register_upload", {
      artifactId: slot.artifactId,
      summary: "uploaded table",
    });
    expect(registered.artifact).toMatchObject({
      artifactId: slot.artifactId,
      filename: "data.csv",
      mime: "text/csv",
      bytes: csv.length,
      sha256: sha256(csv),
      summary: "uploaded table",
    });
    expect((await call(alice, "read_file", { artifactId: slot.artifactId })).content[0]).toEqual({
      type: "text",
      text: csv,
    });
    expect((await fails(alice, "register_upload", { artifactId: slot.artifactId })).kind).toBe("conflict");

    // Past its maxBytes the upload is refused, at the PUT or at registration.
    const small = await ok<{ url: string; headers: Record<string, string>; artifactId: string }>(
      alice,
      "presign_upload",
      { filename: "big.bin", maxBytes: 10 },
    );
    const bigPut = await fetch(small.url, { method: "PUT", headers: small.headers, body: randomBytes(100) });
    if (bigPut.ok) {
      expect((await fails(alice, "register_upload", { artifactId: small.artifactId })).kind).toBe(
        "too_large",
      );
    } else {
      expect(bigPut.status).toBeGreaterThanOrEqual(400);
      expect((await call(alice, "register_upload", { artifactId: small.artifactId })).isError).toBe(true);
    }
  });

  it("resources: paginated list of the session, reads give text or a base64 blob", async () => {
    const reader = await h().client(unique("reader"));
    const text = "resource text ✓";
    const bytes = randomBytes(700);
    const t = await ok<{ artifact: ArtifactView }>(reader, "write_file", {
      content: text,
      filename: "r.txt",
    });
    const b = await ok<{ artifact: ArtifactView }>(reader, "upload_file", {
      contentBase64: bytes.toString("base64"),
      filename: "r.bin",
    });
    await ok(reader, "write_file", { content: "third", filename: "third.txt" });

    if (h().line === "v2") {
      const all = await reader.listResources();
      expect(all.nextCursor).toBeUndefined();
      expect(all.resources.map((r) => r.uri).sort()).toHaveLength(3);
    }
    const uris: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      // v1: each call is one page. v2: the first call (no cursor) is the whole list, so the
      // server's pages are walked from its raw first page, fetched below by hand.
      const page =
        h().line === "v2" && cursor === undefined
          ? await rawFirstPage(reader)
          : await reader.listResources(cursor === undefined ? {} : { cursor });
      expect(page.resources.length).toBeLessThanOrEqual(h().pageSize);
      for (const r of page.resources) {
        expect(r.uri).toMatch(/^artifact:\/\/user_reader[0-9a-f]+\/[0-9a-f]{32}$/);
        expect(r).toMatchObject({ size: expect.any(Number), mimeType: expect.any(String) });
        expect(Date.parse(r.annotations?.lastModified ?? "")).not.toBeNaN();
        uris.push(r.uri);
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(cursor).toBeUndefined();
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(uris).toHaveLength(3);
    expect(uris).toEqual(expect.arrayContaining([t.artifact.uri, b.artifact.uri]));

    const first = await reader.listResources();
    const entry = [
      ...first.resources,
      ...(await reader.listResources({ cursor: first.nextCursor! })).resources,
    ].find((r) => r.uri === b.artifact.uri);
    expect(entry).toMatchObject({ name: "r.bin", mimeType: "application/octet-stream", size: 700 });

    const { resourceTemplates } = await reader.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate)).toContain("artifact://{sessionId}/{artifactId}");

    const textRead = await reader.readResource({ uri: t.artifact.uri });
    expect(textRead.contents).toEqual([{ uri: t.artifact.uri, mimeType: "text/plain; charset=utf-8", text }]);
    const blobRead = await reader.readResource({ uri: b.artifact.uri });
    const blob = blobRead.contents[0]!;
    expect(blob.mimeType).toBe("application/octet-stream");
    expect("blob" in blob && Buffer.from(blob.blob as string, "base64").equals(bytes)).toBe(true);
  });

  it("a resource_link from a tool result reads back with resources/read", async () => {
    const alice = await h().client("alice");
    const result = await call(alice, "write_file", { content: "linked content", filename: "linked.txt" });
    const [link] = links(result.content);
    expect(link).toBeDefined();
    const read = await alice.readResource({ uri: link!.uri });
    expect(read.contents[0]).toMatchObject({ uri: link!.uri, text: "linked content" });
  });

  it("isolation: bob cannot reach alice's artifact through any tool or resource URI", async () => {
    const alice = await h().client("alice");
    const bob = await h().client("bob");
    const secret = await ok<{ artifact: ArtifactView }>(alice, "write_file", {
      content: "alice's secret",
      filename: "secret.txt",
    });
    const { artifactId, uri } = secret.artifact;
    expect(uri).toBe(`artifact://user_alice/${artifactId}`);

    for (const ref of [artifactId, uri]) {
      for (const [tool, args] of [
        ["read_file", {}],
        ["get_metadata", {}],
        ["update_metadata", { summary: "mine now" }],
        ["copy_file", {}],
        ["move_file", { newFilename: "stolen.txt" }],
        ["presign_download", {}],
        ["register_upload", {}],
        ["write_file", { content: "overwritten" }],
        ["delete_file", {}],
      ] as const) {
        const refused = await fails(bob, tool, { artifactId: ref, ...args });
        expect(["not_found", "access_denied"], `${tool} ${ref}`).toContain(refused.kind);
        expect(refused.text).not.toContain("alice's secret");
      }
    }
    await expect(bob.readResource({ uri })).rejects.toMatchObject(PROTOCOL_ERROR);
    const bobList = await ok<{ files: ArtifactView[] }>(bob, "list_files", { limit: 200 });
    expect(bobList.files.map((f) => f.artifactId)).not.toContain(artifactId);
    const bobResources = await bob.listResources();
    expect(bobResources.resources.map((r) => r.uri)).not.toContain(uri);

    // Alice's file is unchanged by all of it.
    const after = await ok<{ artifact: ArtifactView }>(alice, "get_metadata", { artifactId });
    expect(after.artifact).toMatchObject({
      filename: "secret.txt",
      summary: "",
      sha256: secret.artifact.sha256,
    });
    expect((await call(alice, "read_file", { artifactId })).content[0]).toEqual({
      type: "text",
      text: "alice's secret",
    });

    const inSession = h().clientInSession;
    if (inSession) {
      const intruder = await inSession("bob", "user_alice");
      expect((await fails(intruder, "write_file", { content: "x" })).kind).toBe("access_denied");
      expect((await fails(intruder, "list_files")).kind).toBe("access_denied");
      expect((await fails(intruder, "read_file", { artifactId })).kind).toBe("access_denied");
      await expect(intruder.readResource({ uri })).rejects.toMatchObject(PROTOCOL_ERROR);
    }
  });

  it("errors come back as tool errors (or not-found protocol errors) and the server keeps serving", async () => {
    const alice = await h().client("alice");
    const { maxReadBytes, maxUploadBytes } = h();

    const missing = await fails(alice, "read_file", { artifactId: "0".repeat(32) });
    expect(missing).toMatchObject({ kind: "not_found", code: "ARTIFACT_NOT_FOUND" });
    expect(missing.text).toMatch(/^Not found: /);
    expect((await fails(alice, "read_file", { artifactId: "../../etc/passwd" })).kind).toBe("invalid_input");
    expect((await fails(alice, "read_file", { artifactId: "artifact://nonsense" })).kind).toBe(
      "invalid_input",
    );
    expect((await fails(alice, "upload_file", { contentBase64: "@@not base64@@" })).kind).toBe(
      "invalid_input",
    );
    expect((await fails(alice, "write_file", { content: "x", mime: "not a mime" })).kind).toBe(
      "invalid_input",
    );
    expect((await fails(alice, "write_file", { content: 42 })).text).toMatch(/content/);
    expect((await fails(alice, "list_files", { limit: 0 })).text).toMatch(/limit/);
    expect((await fails(alice, "list_files", { unknownArgument: true })).text).toMatch(/unknownArgument/);

    const tooBig = await fails(alice, "upload_file", {
      contentBase64: randomBytes(maxUploadBytes + 10).toString("base64"),
    });
    expect(tooBig.kind).toBe("too_large");
    expect(tooBig.text).toContain("presign_upload");

    // A read over the limit returns the first part, a signed URL for the whole file (in the
    // structured result and as a resource_link) and says how to get the rest; reading in parts
    // gets all of it, without splitting a character between parts.
    const text = "€uro ".repeat(Math.ceil((maxReadBytes * 2.5) / 7));
    const big = await ok<{ artifact: ArtifactView }>(alice, "write_file", {
      content: text,
      filename: "big.txt",
    });
    expect(big.artifact.bytes).toBeGreaterThan(maxReadBytes * 2);
    const cut = await ok<{
      length: number;
      nextOffset: number | null;
      more: string;
      download: { url: string; expiresAt: string };
    }>(alice, "read_file", { artifactId: big.artifact.artifactId });
    expect(cut.length).toBeLessThanOrEqual(maxReadBytes);
    expect(cut.nextOffset).toBe(cut.length);
    expect(cut.more).toContain(`offset ${cut.length}`);
    expect(Date.parse(cut.download.expiresAt)).toBeGreaterThan(Date.now() + 3000_000);
    expect(links(cut._result.content as Content[]).map((l) => l.uri)).toContain(cut.download.url);
    const whole = await fetch(cut.download.url);
    expect(whole.status).toBe(200);
    expect(await whole.text()).toBe(text);
    let offset: number | null = 0;
    let assembled = "";
    let parts = 0;
    while (offset !== null && parts < 20) {
      const part: {
        nextOffset: number | null;
        length: number;
        offset: number;
        _result: { content: Content[] };
      } = await ok(alice, "read_file", { artifactId: big.artifact.artifactId, offset, length: maxReadBytes });
      expect(part.offset).toBe(offset);
      expect(part.length).toBeLessThanOrEqual(maxReadBytes);
      const piece = part._result.content[0]!;
      if (piece.type !== "text") throw new Error("expected text");
      expect(piece.text).not.toContain("\uFFFD");
      assembled += piece.text;
      offset = part.nextOffset;
      parts++;
    }
    expect(parts).toBeGreaterThanOrEqual(3);
    expect(assembled).toBe(text);
    expect(
      (await fails(alice, "read_file", { artifactId: big.artifact.artifactId, length: maxReadBytes + 1 }))
        .kind,
    ).toBe("too_large");
    expect(
      (await fails(alice, "read_file", { artifactId: big.artifact.artifactId, offset: big.artifact.bytes }))
        .kind,
    ).toBe("invalid_input");
    const raw = await ok<{ encoding: string }>(alice, "read_file", {
      artifactId: big.artifact.artifactId,
      offset: 0,
      length: 10,
      encoding: "base64",
    });
    expect(raw.encoding).toBe("base64");

    // Expired artifacts say so.
    const brief = await ok<{ artifact: ArtifactView }>(alice, "write_file", { content: "soon gone", ttl: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    expect((await fails(alice, "read_file", { artifactId: brief.artifact.artifactId })).kind).toBe("expired");

    // Resource reads of a missing artifact or a malformed URI are protocol errors, not crashes.
    const notFound = await alice
      .readResource({ uri: `artifact://user_alice/${"0".repeat(32)}` })
      .catch((e) => e);
    // Resource not found as both revisions expect it: -32602 whose data is exactly { uri }.
    expect(notFound).toMatchObject({ code: -32602 });
    expect(notFound.data).toEqual({ uri: `artifact://user_alice/${"0".repeat(32)}` });
    const tooLarge = await alice.readResource({ uri: big.artifact.uri }).catch((e) => e);
    expect(tooLarge.data).toMatchObject({ kind: "too_large" });
    await expect(alice.readResource({ uri: "artifact://user_alice/../x" })).rejects.toMatchObject(
      PROTOCOL_ERROR,
    );
    await expect(alice.readResource({ uri: "file:///etc/passwd" })).rejects.toMatchObject(PROTOCOL_ERROR);
    // An unknown tool is a protocol error (-32602) since the 2025-11-25 revision.
    await expect(call(alice, "no_such_tool")).rejects.toMatchObject({ code: -32602 });

    // Still serving.
    const fine = await ok<{ artifact: ArtifactView }>(alice, "write_file", { content: "still here" });
    expect(fine.artifact.bytes).toBe(10);
  });
}
