import { SharedRuns } from "./concurrency.js";
import { parseGridKey } from "./grid.js";
import { DELETED, type IdIndex } from "./sessions/provider.js";
import type { StorageDriver } from "./storage/driver.js";

/** Keys remembered in process; ids are never reused and keys never change, so they never go stale. */
const KNOWN_KEYS = 50_000;
/** A listing of a sandbox is reused this long to answer lookups while the index cannot. */
const SCAN_REUSE_MS = 2_000;
const LIST_PAGE = 1000;
/** Longer than any write can be in flight (requests time out after 30 s, three attempts). */
const DELETE_MARK_MS = 10 * 60_000;

/**
 * Finds an artifact's grid key from its id alone. The key ends in the id, but S3 cannot search by
 * suffix, so something must map id → key:
 *
 * - drivers with a cheap index of their own (memory, filesystem) answer themselves;
 * - otherwise the session provider keeps the index (Redis: one SET per new artifact, sent while
 *   the bytes go up). A marker set after a complete rebuild tells a flushed Redis (no marker:
 *   rebuild from a bucket listing, which names every id) from an id that does not exist;
 * - while the session provider is unreachable, or after this process failed to add an entry, a
 *   listing of the sandbox answers instead (at most one in flight, reused for 2 s), and the marker
 *   is dropped as soon as it is reachable again, so the next lookup rebuilds the entries it missed.
 */
export class IdLocator {
  private readonly known = new Map<string, Map<string, string>>();
  private readonly scans = new Map<string, { at: number; keys: Promise<Map<string, string>> }>();
  private readonly rebuilds = new SharedRuns<void>();
  /** Sandboxes whose index may lack an entry this process could not write. */
  private readonly stale = new Set<string>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly index: () => Promise<IdIndex>,
  ) {}

  async locate(sandboxId: string, artifactId: string): Promise<string | null> {
    const known = this.known.get(sandboxId)?.get(artifactId);
    if (known) return known;
    if (this.driver.locate) return this.driver.locate(sandboxId, artifactId);
    let found: string | null | undefined;
    try {
      found = await this.fromIndex(sandboxId, artifactId);
    } catch {
      found = (await this.scan(sandboxId)).get(artifactId) ?? null;
    }
    if (found) this.remember(sandboxId, artifactId, found);
    return found ?? null;
  }

  /** locate() from what is at hand in this turn (remembered keys, an in-process driver), else undefined. */
  locateNow(sandboxId: string, artifactId: string): string | null | undefined {
    // An in-process driver answers itself: nothing is remembered for it (see add()).
    if (this.driver.locateNow) return this.driver.locateNow(sandboxId, artifactId);
    return this.known.get(sandboxId)?.get(artifactId);
  }

  /** Records a new artifact's key; runs while its bytes are written. Never fails the write. */
  async add(sandboxId: string, artifactId: string, key: string): Promise<void> {
    // A driver that answers in the same turn (locateNow) needs no memo of ours.
    if (!this.driver.locateNow) this.remember(sandboxId, artifactId, key);
    if (this.driver.remember) return this.driver.remember(sandboxId, artifactId, key);
    try {
      await (await this.index()).indexSet(sandboxId, [[artifactId, key]]);
    } catch {
      this.stale.add(sandboxId);
    }
  }

  async remove(sandboxId: string, artifactId: string): Promise<void> {
    this.known.get(sandboxId)?.delete(artifactId);
    if (this.driver.forget) return this.driver.forget(sandboxId, artifactId);
    // A stale entry only points at a key with no record: harmless, so a failure is ignored.
    await (await this.index()).indexDelete(sandboxId, artifactId).catch(() => {});
  }

  /** Marks a delete in progress; best effort (see records.ts). */
  async markDeleted(sandboxId: string, artifactId: string): Promise<void> {
    await (await this.index()).markDeleted(sandboxId, artifactId, DELETE_MARK_MS).catch(() => {});
  }

  /** Whether a delete of the id began recently; false when that cannot be known. */
  async wasDeleted(sandboxId: string, artifactId: string): Promise<boolean> {
    const mark = await (await this.index()).deleteMark(sandboxId, artifactId).catch(() => null);
    return mark === DELETED;
  }

  /** Marks a conditional delete pending (see SessionProvider); throws when the mark cannot be set. */
  async markDeletePending(sandboxId: string, artifactId: string, token: string): Promise<boolean> {
    return (await this.index()).markDeletePending(sandboxId, artifactId, token, DELETE_MARK_MS);
  }

  /** Settles a pending mark; false when it is no longer that one (or cannot be reached). */
  async settleDeleteMark(
    sandboxId: string,
    artifactId: string,
    token: string,
    deleted: boolean,
  ): Promise<boolean> {
    return (await this.index())
      .settleDeleteMark(sandboxId, artifactId, token, deleted, DELETE_MARK_MS)
      .catch(() => false);
  }

  /** The id's deletion mark (null, DELETED or a pending token); null when that cannot be known. */
  async deleteMark(sandboxId: string, artifactId: string): Promise<string | null> {
    return (await this.index()).deleteMark(sandboxId, artifactId).catch(() => null);
  }

  private async fromIndex(sandboxId: string, artifactId: string): Promise<string | null | undefined> {
    const index = await this.index();
    if (this.stale.has(sandboxId)) {
      await index.indexInvalidate(sandboxId);
      this.stale.delete(sandboxId);
    }
    const found = await index.indexGet(sandboxId, artifactId);
    if (found !== undefined) return found;
    await this.rebuild(sandboxId, index);
    return (await index.indexGet(sandboxId, artifactId)) ?? null;
  }

  /** Refills the index from a listing; one rebuild per sandbox at a time in this process. */
  private rebuild(sandboxId: string, index: IdIndex): Promise<void> {
    return this.rebuilds.run(sandboxId, async () => {
      const token = await index.indexBeginRebuild(sandboxId);
      let after: string | null = null;
      for (;;) {
        const page = await this.driver.list(`grid/${sandboxId}/`, { limit: LIST_PAGE, after });
        const entries: [string, string][] = [];
        for (const key of page.keys) {
          const parsed = parseGridKey(key);
          if (parsed) entries.push([parsed.artifactId, key]);
        }
        if (entries.length > 0) await index.indexSet(sandboxId, entries);
        after = page.keys[page.keys.length - 1] ?? after;
        if (!page.more) break;
      }
      await index.indexFinishRebuild(sandboxId, token);
    });
  }

  /** Every id → key of a sandbox from a listing, shared by concurrent callers for a moment. */
  private scan(sandboxId: string): Promise<Map<string, string>> {
    const cached = this.scans.get(sandboxId);
    if (cached && Date.now() - cached.at < SCAN_REUSE_MS) return cached.keys;
    const keys = (async () => {
      const map = new Map<string, string>();
      let after: string | null = null;
      for (;;) {
        const page = await this.driver.list(`grid/${sandboxId}/`, { limit: LIST_PAGE, after });
        for (const key of page.keys) {
          const parsed = parseGridKey(key);
          if (parsed) map.set(parsed.artifactId, key);
        }
        after = page.keys[page.keys.length - 1] ?? after;
        if (!page.more) return map;
      }
    })();
    keys.catch(() => this.scans.delete(sandboxId));
    this.scans.set(sandboxId, { at: Date.now(), keys });
    return keys;
  }

  private remember(sandboxId: string, artifactId: string, key: string): void {
    let keys = this.known.get(sandboxId);
    if (!keys) {
      keys = new Map();
      this.known.set(sandboxId, keys);
    }
    if (keys.size >= KNOWN_KEYS) keys.clear();
    keys.set(artifactId, key);
  }
}
