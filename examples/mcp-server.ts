// The seed's "MCP Server Integration" recipe: an app's own MCP server with upload_file and
// list_files tools built on ArtifactStore, plus every artifact tool and the artifact://
// resources of createMcpServer added to the same server.
//
// One change from the recipe: the session is not a tool argument. A session is a security
// boundary, so a connection works in its user's own session (user_{userId}) and a caller cannot
// name someone else's.
import { fileURLToPath } from "node:url";
import { McpServer } from "@modelcontextprotocol/server";
import { StdioServerTransport } from "@modelcontextprotocol/server/stdio";
import { ArtifactStore } from "chuk-artifacts";
import { createMcpServer } from "chuk-artifacts/mcp";
import { z } from "zod";

export function createAppServer(store: ArtifactStore, userId: string): McpServer {
  const server = new McpServer({ name: "artifacts-mcp", version: "1.0.0" });

  server.registerTool(
    "upload_file",
    {
      description: "Upload a file (base64) and get a download URL for it",
      inputSchema: z.object({ dataB64: z.string(), filename: z.string() }),
    },
    async ({ dataB64, filename }) => {
      const data = Buffer.from(dataB64, "base64");
      const fileId = await store.store(data, {
        mime: "application/octet-stream",
        summary: `Uploaded: ${filename}`,
        filename,
        userId,
      });
      const url = await store.presignMedium(fileId, { userId });
      const result = { fileId, filename, size: data.length, downloadUrl: url };
      return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
    },
  );

  server.registerTool("list_files", { description: "List the files in your session" }, async () => {
    const files = await store.listBySession(`user_${userId}`, { userId });
    const result = {
      files: files.map((f) => ({ id: f.artifactId, name: f.filename, size: f.bytes, type: f.mime })),
    };
    return { content: [{ type: "text", text: JSON.stringify(result) }], structuredContent: result };
  });

  // The app's own resources stay listed next to the artifacts.
  server.registerResource(
    "about",
    "app://about",
    { mimeType: "text/plain", description: "What this server does" },
    async (uri) => ({ contents: [{ uri: uri.href, text: "Stores your files as artifacts." }] }),
  );

  // Everything else (read, write, metadata, copy, move, delete, signed URLs, artifact:// resources),
  // prefixed so the names do not clash with the two tools above.
  createMcpServer(store, { userId, server, toolPrefix: "artifacts_" });
  return server;
}

// Run directly, it serves one user on stdio.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const store = new ArtifactStore();
  await createAppServer(store, process.env.CHUK_MCP_USER ?? "demo").connect(new StdioServerTransport());
}
