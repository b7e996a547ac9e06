import type { ArtifactMetadata } from "../metadata.js";
import type { ConnectionContext } from "./server.js";

/** Store pages read at most for one listing page when a prefix filters most files out. */
const MAX_STORE_PAGES = 20;

/**
 * One page of the connection's session, at most `limit` artifacts, optionally only filenames
 * starting with `prefix`. Store pages are consumed whole (their cursor is page-granular), so each
 * asks for just what is still missing. A page may come back short with a cursor when expired or
 * filtered-out entries were skipped; the caller keeps paging until the cursor is null.
 */
export async function listArtifacts(
  ctx: ConnectionContext,
  options: { limit: number; cursor: string | null; prefix?: string },
): Promise<{ items: ArtifactMetadata[]; cursor: string | null }> {
  const items: ArtifactMetadata[] = [];
  let cursor = options.cursor;
  let pages = 0;
  do {
    const page = await ctx.store.listBySession(ctx.sessionId, {
      limit: options.limit - items.length,
      cursor,
      userId: ctx.userId,
    });
    for (const m of page) {
      if (options.prefix === undefined || (m.filename ?? "").startsWith(options.prefix)) items.push(m);
    }
    cursor = page.cursor;
    pages++;
  } while (cursor !== null && items.length < options.limit && pages < MAX_STORE_PAGES);
  return { items, cursor };
}
