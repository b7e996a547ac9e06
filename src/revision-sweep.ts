import { mapLimit } from "./concurrency.js";
import { revKey } from "./record-codec.js";
import type { StorageDriver } from "./storage/driver.js";
import type { VersionLog } from "./versions.js";

/**
 * Finds revisions nothing names and deletes them (cleanup's last step).
 *
 * A large body is written to a revision `{key}~{rev}` before the head that names it (src/records.ts).
 * A process that dies between the two, or a head write that loses its race and whose own delete of
 * the revision fails, leaves a revision no head and no kept version names: bytes nobody can read.
 *
 * A revision is taken only when all of these hold:
 * - it is older than the grace period (by the backend's own write time), so the fresh revision of
 *   a write still in flight — bytes up, head not yet written — is never taken;
 * - the head of its artifact does not name it, read before and after the version log, with the
 *   same etag both times (a head that moved meanwhile leaves the artifact for the next cleanup);
 * - no entry of the version log names it. The log is read after the head: a version is kept
 *   (its entry names the head's revision) before the head moves away from that revision.
 * Nothing makes an old unnamed revision named again: new writes make new revisions, and a restore
 * names only revisions that a version entry names.
 *
 * Version objects (`{key}~v{n}`) are the version log's own; its retention removes them.
 */

/** A bare revision's name: 16 hex digits (src/records.ts newRev); `v{n}` names a version object. */
const BARE_REV = /^[0-9a-f]{16}$/;
const LIST_PAGE = 1000;
const ARTIFACTS_AT_ONCE = 8;

export interface RevisionSweepParts {
  driver: StorageDriver;
  versions: VersionLog;
  /** The head's etag and the revision it names; null when there is no artifact at `key`. */
  headOf(key: string): Promise<{ etag: string; rev: string | null } | null>;
}

/** Deletes the orphaned revisions under `prefix` older than `graceMs`; returns how many went. */
export async function sweepOrphanRevisions(
  parts: RevisionSweepParts,
  prefix: string,
  graceMs: number,
  nowMs = Date.now(),
): Promise<number> {
  let removed = 0;
  let after: string | null = null;
  for (;;) {
    const page = await parts.driver.list(prefix, { limit: LIST_PAGE, after });
    const byArtifact = new Map<string, string[]>();
    for (const key of page.keys) {
      const mark = key.indexOf("~");
      if (mark < 0 || !BARE_REV.test(key.slice(mark + 1))) continue;
      const artifactKey = key.slice(0, mark);
      const revs = byArtifact.get(artifactKey) ?? [];
      revs.push(key.slice(mark + 1));
      byArtifact.set(artifactKey, revs);
    }
    const counts = await mapLimit([...byArtifact], ARTIFACTS_AT_ONCE, ([key, revs]) =>
      sweepArtifact(parts, key, revs, nowMs - graceMs),
    );
    removed += counts.reduce((a, b) => a + b, 0);
    if (!page.more || page.keys.length === 0) return removed;
    after = page.keys[page.keys.length - 1]!;
  }
}

async function sweepArtifact(
  parts: RevisionSweepParts,
  key: string,
  revs: string[],
  writtenBefore: number,
): Promise<number> {
  // The common case costs one read: a live large artifact's only revision is the one its head names.
  const before = await parts.headOf(key);
  const unnamed = revs.filter((rev) => rev !== before?.rev);
  if (unnamed.length === 0) return 0;
  const aged = await mapLimit(unnamed, 4, async (rev) => {
    const head = await parts.driver.head(revKey(key, rev));
    // No write time known: keep it (never guess an age).
    return head?.modifiedAt !== undefined && head.modifiedAt < writtenBefore ? rev : null;
  });
  const candidates = aged.filter((rev): rev is string => rev !== null);
  if (candidates.length === 0) return 0;

  const named = new Set<string>();
  for (const entry of await parts.versions.entries(key)) if (entry.rev) named.add(entry.rev);
  const after = await parts.headOf(key);
  if ((before?.etag ?? null) !== (after?.etag ?? null)) return 0;

  let removed = 0;
  for (const rev of candidates) {
    if (named.has(rev)) continue;
    if (await parts.driver.delete(revKey(key, rev))) removed++;
  }
  return removed;
}
