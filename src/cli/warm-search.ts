import type { ResolvedConfig } from "../config.js";
import type { ArtifactStore } from "../store.js";

/**
 * Warms the search index in the background (ArtifactStore.warmSearchIndex), so the first search
 * after a start does not wait for it, and logs when a fill is done. With Redis sessions that turns
 * the sandbox's index on: the commands serve search to anyone, so their writes are indexed as they
 * go rather than built from a storage listing at a first search. With memory sessions it fills the
 * in-process index, on filesystem storage only: there the fill reads local files, while on S3 it
 * would read every object's head, a billed request each, at every start whether anyone searches or
 * not (that first search still builds it). A failure leaves the work to the first search; it is
 * logged unless `stopping()` says the command is shutting down, when a closed store is expected
 * to refuse.
 */
export function warmSearchInBackground(
  store: ArtifactStore,
  config: Pick<ResolvedConfig, "storageProvider" | "sessionProvider">,
  command: string,
  stopping: () => boolean,
): void {
  if (config.storageProvider !== "filesystem" && config.sessionProvider !== "redis") return;
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
