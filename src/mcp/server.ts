import { McpServer } from "@modelcontextprotocol/server";
import { ValidationError } from "../errors.js";
import { validateSegment } from "../grid.js";
import type { ArtifactMetadata } from "../metadata.js";
import type { AccessContext, ArtifactStore } from "../store.js";
import { TooLargeError } from "./errors.js";
import { registerResources } from "./resources.js";
import { forwardChanges, type SubscriptionMode } from "./subscriptions.js";
import { registerTools } from "./tools.js";
import { artifactUri } from "./uri.js";

/** Options of `createMcpServer`: who the connection is, and the limits of one message. */
export interface ArtifactMcpOptions {
  /** The user this connection acts for; every store call carries it, so the store enforces isolation. */
  userId: string;
  /** The artifact session of this connection. Default `user_{userId}`, the user's own session. */
  sessionId?: string;
  /**
   * A trusted connection (an admin key): it may create and register shared files (scope
   * "sandbox"). Any other connection asking for that scope is refused (access denied) and nothing
   * is stored or reserved. Default false.
   */
  admin?: boolean;
  /** Largest content returned by one read_file call or resource read. Default 1 MiB. */
  maxReadBytes?: number;
  /** Largest upload_file / write_file content in one call (bigger files: presign_upload). Default 10 MiB. */
  maxUploadBytes?: number;
  /** Artifacts per resources/list page and the list_files default. Default 50. */
  listPageSize?: number;
  /** Register onto this server (an app's own) instead of creating one. */
  server?: McpServer;
  /** Prepended to every tool name (e.g. "artifacts_") when an app's server has tools of the same names. */
  toolPrefix?: string;
  /** Name and version announced when a server is created here. */
  serverInfo?: { name: string; version: string };
  /** Where unexpected failures are logged. Default: standard error (never stdout, which stdio uses). */
  log?: (line: string) => void;
  /**
   * Most content bytes (file reads) this server instance returns in total; over it a read fails
   * with "too large" and says to read in another request. Meant for a server that answers one HTTP
   * request (a JSON-RPC batch of reads then cannot pile up gigabytes). Default: no limit.
   */
  responseBudgetBytes?: number;
  /**
   * How resource change notifications reach the client. "connection" (default): this server sends
   * them on its own connection (stdio, an app's own server), for `resources/subscribe` (2025
   * revisions) and `subscriptions/listen` (2026-07-28, routed by the SDK's serving entry).
   * "stream": advertised, but delivered by the HTTP entry's listen streams. "none": not offered.
   */
  subscriptions?: SubscriptionMode;
  /**
   * The protocol era this instance serves, as the SDK's serving entries tell a server factory
   * (`McpRequestContext.era`). Default "legacy" (a server connected by hand speaks 2025 revisions).
   */
  era?: "legacy" | "modern";
}

export const DEFAULT_MAX_READ_BYTES = 1024 * 1024;
export const DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LIST_PAGE_SIZE = 50;
export const MAX_LIST_PAGE_SIZE = 200;

/** What the tools and resources of one connection share. */
export interface ConnectionContext {
  store: ArtifactStore;
  userId: string;
  sessionId: string;
  /** Passed to every store call. */
  access: Required<AccessContext>;
  /** A trusted connection (ArtifactMcpOptions.admin): it writes shared (sandbox-scope) files. */
  admin: boolean;
  maxReadBytes: number;
  maxUploadBytes: number;
  listPageSize: number;
  toolPrefix: string;
  log(line: string): void;
  /** The artifact's resource URI; `owner` is its session or scope segment (default: this session). */
  uri(artifactId: string, owner?: string): string;
  /** Takes `bytes` from the response budget, or throws TooLargeError when they are not left. */
  spend(bytes: number): void;
}

/**
 * An MCP server whose tools and resources work inside ONE artifact session tied to a user:
 * upload, write, read, list, metadata, copy, move, delete, signed download and upload URLs, and
 * every artifact of the session as an `artifact://{sessionId}/{artifactId}` resource.
 *
 * With `options.server` the tools and the resource template are added to that server (an app's
 * own) and it is returned; note that resources/list of that server is then answered here: the
 * server's other listed resources on the first page, the session's artifacts paginated after them.
 */
export function createMcpServer(store: ArtifactStore, options: ArtifactMcpOptions): McpServer {
  const userId = validateSegment(options.userId, "userId");
  const sessionId = validateSegment(options.sessionId ?? `user_${userId}`, "sessionId");
  const context: ConnectionContext = {
    store,
    userId,
    sessionId,
    access: { sessionId, userId },
    admin: options.admin === true,
    maxReadBytes: positiveInt(options.maxReadBytes, DEFAULT_MAX_READ_BYTES, "maxReadBytes"),
    maxUploadBytes: positiveInt(options.maxUploadBytes, DEFAULT_MAX_UPLOAD_BYTES, "maxUploadBytes"),
    listPageSize: Math.min(
      positiveInt(options.listPageSize, DEFAULT_LIST_PAGE_SIZE, "listPageSize"),
      MAX_LIST_PAGE_SIZE,
    ),
    toolPrefix: options.toolPrefix ?? "",
    log: options.log ?? ((line) => process.stderr.write(`chuk-artifacts mcp: ${line}\n`)),
    uri: (artifactId, owner = sessionId) => artifactUri(owner, artifactId),
    spend: budget(options.responseBudgetBytes),
  };
  const t = (name: string) => context.toolPrefix + name;
  const server =
    options.server ??
    new McpServer(options.serverInfo ?? { name: "chuk-artifacts", version: "0.1.0" }, {
      // Artifacts change at any time (subscriptions say when): lists and reads are never cached;
      // the tool and template lists only change with the server's version.
      cacheHints: {
        "tools/list": { ttlMs: 300_000, cacheScope: "private" },
        "resources/templates/list": { ttlMs: 300_000, cacheScope: "private" },
        "resources/list": { ttlMs: 0, cacheScope: "private" },
        "resources/read": { ttlMs: 0, cacheScope: "private" },
      },
      instructions:
        `Artifact storage for user ${userId}, session ${sessionId}. Files are artifacts with an id ` +
        `and an artifact://session/id URI. Use ${t("write_file")} for text and ${t("upload_file")} ` +
        `for base64 bytes, ${t("list_files")} to find files, ${t("read_file")} to read them (large ` +
        `files in parts with offset/length), and ${t("presign_download")} / ${t("presign_upload")} ` +
        "for URLs that move big files directly.",
    });
  const subscriptions = options.subscriptions ?? "connection";
  // Before any resource is registered: the SDK would otherwise advertise listChanged itself.
  server.server.registerCapabilities({
    resources: { subscribe: subscriptions !== "none", listChanged: subscriptions !== "none" },
  });
  registerTools(server, context);
  registerResources(server, context);
  if (subscriptions === "connection") forwardChanges(server, context, options.era ?? "legacy");
  return server;
}

function budget(limit: number | undefined): (bytes: number) => void {
  if (limit === undefined) return () => {};
  const max = positiveInt(limit, limit, "responseBudgetBytes");
  let spent = 0;
  return (bytes) => {
    if (spent + bytes > max) {
      throw new TooLargeError(
        `this request has returned ${spent} bytes of file content and may return at most ${max}; ` +
          "send this read in a request of its own (one read per request, not a batch)",
      );
    }
    spent += bytes;
  };
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ValidationError(`${name} must be a positive whole number`);
  return value;
}

/** The compact view of an artifact that tools return. */
export function artifactView(context: ConnectionContext, m: ArtifactMetadata) {
  return {
    artifactId: m.artifactId,
    uri: context.uri(m.artifactId, m.sessionId),
    filename: m.filename,
    mime: m.mime,
    bytes: m.bytes,
    summary: m.summary,
    meta: m.meta,
    sha256: m.sha256,
    storedAt: m.storedAt,
    updatedAt: m.updatedAt,
    expiresAt: m.expiresAt,
    version: m.version,
    etag: m.etag,
  };
}

/** A `resource_link` content item to an artifact. */
export function resourceLink(context: ConnectionContext, m: ArtifactMetadata) {
  return {
    type: "resource_link" as const,
    uri: context.uri(m.artifactId, m.sessionId),
    name: m.filename ?? m.artifactId,
    mimeType: m.mime,
    size: m.bytes,
    ...(m.summary && { description: m.summary }),
    annotations: { lastModified: m.updatedAt },
  };
}
