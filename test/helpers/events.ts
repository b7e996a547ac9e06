import type { ArtifactChange } from "../../src/events.js";
import type { ArtifactStore } from "../../src/store.js";

/** Changes a store's listeners hear, in the order heard. */
export function heardBy(store: ArtifactStore): ArtifactChange[] {
  const heard: ArtifactChange[] = [];
  store.events.subscribe((change) => {
    heard.push(change);
  });
  return heard;
}

/**
 * A reader subscribes in the background: `probe` makes a change (by default `writer` stores one in
 * session "probe") until one reaches `seen`, the reader's heard changes.
 */
export async function untilListening(
  writer: ArtifactStore | null,
  seen: ArtifactChange[],
  probe: () => Promise<unknown> = () => writer!.store("probe", { sessionId: "probe" }),
): Promise<void> {
  for (let tries = 0; seen.length === 0; tries++) {
    if (tries === 50) throw new Error("the reader never received a change");
    await probe();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until `check` holds, polling every 10 ms; throws after `ms`. */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for changes");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
