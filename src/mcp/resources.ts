import {
  type ListResourcesResult,
  type McpServer,
  type ReadResourceResult,
  type Resource,
  ResourceTemplate,
} from "@modelcontextprotocol/server";
import { AccessDeniedError, ArtifactNotFoundError } from "../errors.js";
import type { ArtifactMetadata } from "../metadata.js";
import { decodeText, isTextMime } from "./content.js";
import { resourceError, TooLargeError } from "./errors.js";
import { listArtifacts } from "./listing.js";
import type { ConnectionContext } from "./server.js";
import {
  ARTIFACT_URI_TEMPLATE,
  ARTIFACT_VERSION_URI_TEMPLATE,
  artifactUri,
  parseArtifactUri,
  readableOwners,
} from "./uri.js";

/** The resource entry of an artifact in resources/list. */
function resourceEntry(ctx: ConnectionContext, m: ArtifactMetadata): Resource {
  return {
    uri: ctx.uri(m.artifactId, m.sessionId),
    name: m.filename ?? m.artifactId,
    ...(m.filename !== null && { title: m.filename }),
    ...(m.summary && { description: m.summary }),
    mimeType: m.mime,
    size: m.bytes,
    annotations: { lastModified: m.updatedAt },
  };
}

/** Most artifacts looked at to complete an artifact id (completion answers hold at most 100). */
const COMPLETION_SCAN = 1000;

/** Completion of `{artifactId}`: ids in the session whose id or filename starts with what was typed. */
async function completeArtifactId(ctx: ConnectionContext, typed: string): Promise<string[]> {
  const found: string[] = [];
  let cursor: string | null = null;
  let seen = 0;
  do {
    const page = await listArtifacts(ctx, { limit: 200, cursor });
    for (const m of page.items) {
      if (m.artifactId.startsWith(typed) || (m.filename ?? "").startsWith(typed)) found.push(m.artifactId);
    }
    seen += page.items.length;
    cursor = page.cursor;
  } while (cursor !== null && found.length < 100 && seen < COMPLETION_SCAN);
  return found.slice(0, 100);
}

/**
 * The session's artifacts as resources: the `artifact://{sessionId}/{artifactId}` template for
 * reads, and a paginated resources/list. A URI of another session is refused without asking the
 * store; a missing one is the protocol's resource-not-found error.
 */
export function registerResources(server: McpServer, ctx: ConnectionContext): void {
  server.registerResource(
    `${ctx.toolPrefix}artifact`,
    // Listing is paginated by the resources/list handler below, not by the template.
    new ResourceTemplate(ARTIFACT_URI_TEMPLATE, {
      list: undefined,
      complete: {
        // A connection works in one session: the only one it may name.
        sessionId: (typed) => (ctx.sessionId.startsWith(typed) ? [ctx.sessionId] : []),
        artifactId: async (typed) => {
          try {
            return await completeArtifactId(ctx, typed);
          } catch (err) {
            throw resourceError(err, `artifact://${encodeURIComponent(ctx.sessionId)}/`, ctx.log);
          }
        },
      },
    }),
    {
      title: "Artifact",
      description: `A file of artifact session ${ctx.sessionId}; read it for its content (text, or base64 blob)`,
      annotations: { audience: ["user", "assistant"] },
    },
    async (uri: URL) => {
      try {
        return await readArtifact(ctx, uri.href);
      } catch (err) {
        throw resourceError(err, uri.href, ctx.log);
      }
    },
  );
  server.registerResource(
    `${ctx.toolPrefix}artifact-version`,
    new ResourceTemplate(ARTIFACT_VERSION_URI_TEMPLATE, { list: undefined }),
    {
      title: "Artifact version",
      description: "A kept earlier version of a file (see the list_versions tool); read it for its content",
      annotations: { audience: ["user", "assistant"] },
    },
    async (uri: URL) => {
      try {
        return await readArtifact(ctx, uri.href);
      } catch (err) {
        throw resourceError(err, uri.href, ctx.log);
      }
    },
  );
  installPagedList(server, ctx);
}

async function readArtifact(ctx: ConnectionContext, uri: string): Promise<ReadResourceResult> {
  const parsed = parseArtifactUri(uri);
  if (!parsed) throw new ArtifactNotFoundError(`${uri} is not an artifact://session/id URI`);
  if (!readableOwners(ctx.sessionId, ctx.userId).includes(parsed.sessionId)) {
    throw new AccessDeniedError(
      `${uri} belongs to another session; this connection reads only artifact://${encodeURIComponent(ctx.sessionId)}/… and its user's and the shared files`,
    );
  }
  // A user's or the shared scope is read as the connection's user (the store checks the owner).
  const access = parsed.sessionId === ctx.sessionId ? ctx.access : { userId: ctx.userId };
  const at = parsed.version === null ? access : { ...access, version: parsed.version };
  const m = await ctx.store.metadata(parsed.artifactId, at);
  if (m.sessionId !== parsed.sessionId) throw new ArtifactNotFoundError(`${uri} does not exist`);
  if (m.bytes > ctx.maxReadBytes) {
    throw new TooLargeError(
      `${m.filename ?? m.artifactId} is ${m.bytes} bytes, over this server's read limit of ${ctx.maxReadBytes}; ` +
        `use the ${ctx.toolPrefix}read_file tool with offset and length, or ${ctx.toolPrefix}presign_download for a URL`,
    );
  }
  ctx.spend(m.bytes);
  const bytes = await ctx.store.retrieve(parsed.artifactId, at);
  const text = isTextMime(m.mime) ? decodeText(bytes, m.mime, true) : null;
  const href = artifactUri(m.sessionId, m.artifactId, parsed.version ?? undefined);
  return {
    contents: [
      text !== null
        ? { uri: href, mimeType: m.mime, text }
        : { uri: href, mimeType: m.mime, blob: bytes.toString("base64") },
    ],
  };
}

type RawHandler = (request: unknown, extra: unknown) => Promise<ListResourcesResult>;

/**
 * Replaces the server's resources/list with a paginated one. McpServer's own handler lists its
 * templates' resources in one unpaginated answer and drops cursors, so it cannot page a session
 * of any size. Its answer (the server's other resources) still leads the first page: the SDK has
 * no public way to reach a replaced handler, so it is taken from the protocol's handler table
 * when present; without it, only artifacts are listed.
 */
function installPagedList(server: McpServer, ctx: ConnectionContext): void {
  const table = (server.server as unknown as { _requestHandlers?: unknown })._requestHandlers;
  const previous = table instanceof Map ? (table.get("resources/list") as RawHandler | undefined) : undefined;
  server.server.setRequestHandler("resources/list", async (request, extra) => {
    const cursor = request.params?.cursor ?? null;
    const head = cursor === null && previous ? (await previous(request, extra)).resources : [];
    let page: Awaited<ReturnType<typeof listArtifacts>>;
    try {
      page = await listArtifacts(ctx, { limit: ctx.listPageSize, cursor });
    } catch (err) {
      throw resourceError(err, `artifact://${encodeURIComponent(ctx.sessionId)}/`, ctx.log);
    }
    return {
      resources: [...head, ...page.items.map((m) => resourceEntry(ctx, m))],
      ...(page.cursor !== null && { nextCursor: page.cursor }),
    };
  });
}
