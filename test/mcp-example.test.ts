import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/client";
import { InMemoryTransport } from "@modelcontextprotocol/server";
import { ArtifactStore } from "chuk-artifacts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAppServer } from "../examples/mcp-server.js";
import { uniqueSandbox } from "./fixtures.js";
import { call, ok } from "./mcp-helpers.js";
import { TOOL_NAMES } from "./mcp-suite.js";

/** examples/mcp-server.ts, driven by the SDK's Client over an in-memory transport. */

let store: ArtifactStore;
const clients: Client[] = [];

async function connect(userId: string): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await createAppServer(store, userId).connect(serverSide);
  const client = new Client({ name: "example-test", version: "1.0.0" });
  await client.connect(clientSide);
  clients.push(client);
  return client;
}

beforeAll(() => {
  // The package itself, as the example imports it: what an app gets from "chuk-artifacts".
  store = new ArtifactStore({ sandboxId: uniqueSandbox("example") });
});

afterAll(async () => {
  for (const c of clients) await c.close();
  await store.close();
});

describe("examples/mcp-server.ts (the seed's MCP Server Integration recipe)", () => {
  it("has the recipe's two tools next to the prefixed artifact tools", async () => {
    const client = await connect("alice");
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      ["list_files", "upload_file", ...TOOL_NAMES.map((n) => `artifacts_${n}`)].sort(),
    );
    // Descriptions name the other tools as this server registers them.
    const upload = tools.find((t) => t.name === "artifacts_upload_file")!;
    expect(upload.description).toContain("artifacts_presign_upload");
    expect(upload.description).toContain("artifacts_write_file");
  });

  it("upload_file stores the bytes and returns id, size and a download URL; list_files shows it", async () => {
    const client = await connect("alice");
    const data = randomBytes(321);
    const uploaded = await ok<{ fileId: string; filename: string; size: number; downloadUrl: string }>(
      client,
      "upload_file",
      { dataB64: data.toString("base64"), filename: "report.bin" },
    );
    expect(uploaded).toMatchObject({ filename: "report.bin", size: 321 });
    expect(uploaded.downloadUrl).toMatch(new RegExp(`/signed/grid/[^/]+/user_alice/${uploaded.fileId}\\?`));
    expect((await store.retrieve(uploaded.fileId, { userId: "alice" })).equals(data)).toBe(true);
    expect((await store.metadata(uploaded.fileId)).summary).toBe("Uploaded: report.bin");

    const listed = await ok<{ files: { id: string; name: string; size: number; type: string }[] }>(
      client,
      "list_files",
    );
    expect(listed.files).toContainEqual({
      id: uploaded.fileId,
      name: "report.bin",
      size: 321,
      type: "application/octet-stream",
    });

    // The artifact tools and resources see the same session.
    const read = (await call(client, "artifacts_read_file", { artifactId: uploaded.fileId })).content[0]!;
    expect(
      read.type === "resource" && "blob" in read.resource && Buffer.from(read.resource.blob, "base64"),
    ).toEqual(data);
    const { resources } = await client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(
      expect.arrayContaining(["app://about", `artifact://user_alice/${uploaded.fileId}`]),
    );
    expect((await client.readResource({ uri: "app://about" })).contents[0]).toMatchObject({
      text: "Stores your files as artifacts.",
    });
  });

  it("keeps each user's files to themselves", async () => {
    const alice = await connect("alice");
    const bob = await connect("bob");
    const { fileId } = await ok<{ fileId: string }>(alice, "upload_file", {
      dataB64: Buffer.from("private").toString("base64"),
      filename: "private.txt",
    });
    const bobFiles = await ok<{ files: { id: string }[] }>(bob, "list_files");
    expect(bobFiles.files.map((f) => f.id)).not.toContain(fileId);
    expect((await call(bob, "artifacts_read_file", { artifactId: fileId })).isError).toBe(true);
    await expect(bob.readResource({ uri: `artifact://user_alice/${fileId}` })).rejects.toMatchObject({
      code: -32602,
    });
  });
});
