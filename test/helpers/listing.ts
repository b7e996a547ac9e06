import type { ArtifactRecord } from "../../src/metadata.js";
import type { StorageProvider } from "../../src/storage/provider.js";

/** Follows `list` cursors to the end; returns every page so callers can check page sizes too. */
export async function listPages(
  provider: StorageProvider,
  prefix: string,
  limit: number,
  maxPages = 10_000,
): Promise<ArtifactRecord[][]> {
  const pages: ArtifactRecord[][] = [];
  let cursor: string | null = null;
  do {
    const page = await provider.list(prefix, { limit, cursor });
    pages.push(page.records);
    cursor = page.cursor;
    if (pages.length > maxPages) throw new Error(`listing ${prefix} did not end after ${maxPages} pages`);
  } while (cursor !== null);
  return pages;
}

/** Every key under `prefix`, in the order the pages returned them. */
export async function listKeys(provider: StorageProvider, prefix: string, limit = 100): Promise<string[]> {
  return (await listPages(provider, prefix, limit)).flat().map((r) => r.key);
}
