import type { ArtifactStore } from "../store.js";

/**
 * Fills a search index held in this process from storage in the background
 * (ArtifactStore.warmSearchIndex), so the first search after a start does not wait for it, and
 * logs when that is done. A failure leaves the fill to the first search; it is logged unless
 * `stopping()` says the command is shutting down, when a closed store is expected to refuse.
 */
export function warmSearchInBackground(store: ArtifactStore, command: string, stopping: () => boolean): void {
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
