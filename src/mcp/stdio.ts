import { StdioServerTransport, serveStdio } from "@modelcontextprotocol/server/stdio";
import { validateSegment } from "../grid.js";
import type { ArtifactStore } from "../store.js";
import { type ArtifactMcpOptions, createMcpServer, DEFAULT_MAX_UPLOAD_BYTES } from "./server.js";

export type McpStdioOptions = Omit<ArtifactMcpOptions, "server" | "era" | "subscriptions">;

/**
 * Serves one MCP client over this process's stdin/stdout, in whichever protocol era the client
 * opens with (2025 `initialize` or 2026-07-28 `server/discover`). Change notifications go out on
 * the connection: for `resources/subscribe` (2025) or `subscriptions/listen` (2026-07-28).
 * Resolves when the client goes away (stdin ends) or the process is asked to stop.
 */
export async function serveMcpStdio(store: ArtifactStore, options: McpStdioOptions): Promise<void> {
  // Refused before serving, not on the client's first message.
  const userId = validateSegment(options.userId, "userId");
  if (options.sessionId !== undefined) validateSegment(options.sessionId, "sessionId");
  createMcpServer(store, { ...options, userId, subscriptions: "none" });
  const maxUpload = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const transport = new StdioServerTransport(process.stdin, process.stdout, {
    // One message may carry a base64 upload of maxUploadBytes.
    maxBufferSize: Math.max(10 * 1024 * 1024, Math.ceil((maxUpload * 4) / 3) + 1024 * 1024),
  });
  const closed = new Promise<void>((resolve) => {
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const log = options.log ?? ((line: string) => process.stderr.write(`chuk-artifacts mcp: ${line}\n`));
  const handle = serveStdio(({ era }) => createMcpServer(store, { ...options, era }), {
    transport,
    onerror: (err) => log(`stdio: ${err.message}`),
  });
  await closed;
  await handle.close();
}
