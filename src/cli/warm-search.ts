import type { ResolvedConfig } from "../config.js";
import type { ArtifactStore } from "../store.js";

/**
 * Fills a search index held in this process from storage in the background
 * (ArtifactStore.warmSearchIndex), so the first search after a start does not wait for it, and
 * logs when that is done. Only on filesystem storage: there the fill reads local files, while on
 * S3 it would read every object's head, a billed request each, at every start whether anyone
 * searches or not (that first search still builds it). A failure leaves the fill to the first
 * search; it is logged unless `stopping()` says the command is shutting down, when a closed store
 * is expected to refuse.
 */
export function warmSearchInBackground(
  store: ArtifactStore,
  config: Pick<ResolvedConfig, "storageProvider">,
  command: string,
  stopping: () => boolean,
): void {
  if (config.storageProvider !== "filesystem") return;
  const started = performance.now();
  store.warmSearchIndex().then(
    (filled) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (filled) console.log(`chuk-artifacts ${command}: search index built from storage in ${seconds} s`);
    },
    (err: unknown) => {
      if (stopping()) return;
      const reason = err instanceof Error ? err.message : String(err);
      console.log(`chuk-artifacts ${command}: search index left to the first search (${reason})`);
    },
  );
}
