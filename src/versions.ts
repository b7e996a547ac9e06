import { z } from "zod";
import { chunksOf } from "./body.js";
import { mapLimit } from "./concurrency.js";
import { ConflictError } from "./errors.js";
import { asciiJson, decodeHeadMeta, revKey } from "./record-codec.js";
import type { ObjectBody, StorageDriver } from "./storage/driver.js";

/**
 * The version log: earlier versions of an artifact's bytes, kept beside its head object.
 *
 * Layout. Version `n` of the artifact at `key` is the immutable object `{key}~v{n}` (n zero-padded
 * to 10 digits, so a listing is in version order). Its meta is the version's entry (size, sha256,
 * when written, etag, mime). Its body is the version's bytes, or — for a large body already kept in
 * a revision object `{key}~{rev}` — empty, with the entry naming that revision. `~` is in no valid
 * id, so no artifact key can spell either. The head object stays what src/records.ts describes
 * (the current version, inline or naming a revision), so reading the current version costs what
 * it did before versions existed.
 *
 * Numbering. A writer claims number n+1 by *creating* `{key}~v{n+1}` with If-None-Match (create
 * only): the backend lets exactly one writer create it, and a writer that loses takes the next
 * number. Only then does it move the head, conditional on the head it read. So two writers never
 * get the same number and every acknowledged write is a version that can be read back — even on
 * Ceph RGW, whose If-Match on a PUT is not atomic against a concurrent write, so two heads written
 * on one precondition could both land. A writer whose head write loses to a newer version keeps its
 * version in the log (it is acknowledged, not current); the head only moves to a newer number.
 * Version 1 costs no extra write: the first update keeps it by a server-side copy of the head.
 *
 * With `keepVersions: 0` there is no log to claim numbers in: a write takes the head's number + 1
 * and its head write is conditional on the head it read, so of two writers on one head exactly one
 * lands and the other retries on the newer head with the next number (measured on RGW 16.2 too:
 * concurrent If-Match PUTs on one ETag let exactly one through; test/versions-off-race.test.ts).
 * No claim object is written, so updates keep the cost of history off.
 *
 * Retention. `keepVersions` earlier versions are kept besides the current one (0: no log at all,
 * updates cost what they did before), and none older than `keepVersionsDays` when set. After each
 * write, off its path, the one version that fell out of the count is dropped; cleanup prunes by
 * count and age from a listing.
 *
 * Restores share bodies. Restoring a version whose body is in a revision copies no bytes: the new
 * version's entry, and the head, name that same revision (its bytes are immutable, so they still
 * match the sha256 both record). A small version is written again inline (one small PUT, the size
 * of an inline body — not a copy of a stored body). A revision may now be named by several
 * entries, so it goes only when nothing names it any more, under this rule:
 * - Before a restore names revision R in a second entry it creates the marker `{key}~{R}.shared`
 *   (kept until R itself goes). So R without a marker is named by one entry at most (and maybe by
 *   the head of that same version).
 * - A new name for R is only ever made from an existing one: the restore claims its entry, *then*
 *   checks that the entry it restores from is still there, and gives up (ArtifactNotFoundError,
 *   its claim removed) if not.
 * - Dropping an entry deletes the entry first, then looks: no marker → R goes (unless the head
 *   names it); a marker → R goes only if neither the head nor any remaining entry names it.
 * A restore racing the pruning of the version it restores therefore either sees its source gone
 * (and fails) or was claimed before the pruner looked (and is seen). A crash at any step leaves the
 * old state, or an extra entry naming a revision that exists, or an unreferenced revision (space,
 * never a dangling name).
 */

const MARK = "~v";
const DIGITS = 10;
/** Claims that lose to other writers before one wins: more than any realistic number of racers. */
const CLAIM_ATTEMPTS = 64;

export interface RetentionPolicy {
  /** Earlier versions kept besides the current one; 0 keeps none. */
  keepVersions: number;
  /** Earlier versions older than this many days are dropped; null keeps them regardless of age. */
  keepVersionsDays: number | null;
}

/** One version as listVersions reports it. */
export interface VersionInfo {
  version: number;
  bytes: number;
  sha256: string;
  storedAt: string;
  etag: string;
}

export interface VersionEntry extends VersionInfo {
  mime: string;
  /** The revision holding a large body; null when the version object holds the bytes. */
  rev: string | null;
}

const entrySchema = z.object({
  v: z.literal(1),
  e: z.object({
    version: z.number().int().positive(),
    bytes: z.number().int().nonnegative(),
    sha256: z.string(),
    storedAt: z.string(),
    etag: z.string(),
    mime: z.string(),
    rev: z.string().nullable(),
  }),
});

/** The revision name of version `n`: `{key}~{versionRev(n)}` is its object. */
export function versionRev(n: number): string {
  return `v${String(n).padStart(DIGITS, "0")}`;
}

/** The marker saying revision `rev` may be named by more than one entry. */
function sharedKey(key: string, rev: string): string {
  return `${revKey(key, rev)}.shared`;
}

export function versionKey(key: string, n: number): string {
  return `${key}${MARK}${String(n).padStart(DIGITS, "0")}`;
}

function versionOf(key: string, objectKey: string): number | null {
  const tail = objectKey.slice(key.length + MARK.length);
  return /^\d{10}$/.test(tail) ? Number(tail) : null;
}

export function encodeEntry(entry: VersionEntry): string {
  return asciiJson({ v: 1, e: entry });
}

function decodeEntry(meta: string): VersionEntry | null {
  try {
    const parsed = entrySchema.safeParse(JSON.parse(meta));
    return parsed.success ? parsed.data.e : null;
  } catch {
    return null;
  }
}

/** Whose artifact a version belongs to (for usage counters): its session and that session's owner. */
export interface VersionOwner {
  sessionId: string;
  userId: string | null;
}

export class VersionLog {
  /** Told of every earlier version retention drops (the store gives its bytes back to the quotas). */
  onDropped: ((owner: VersionOwner, entry: VersionEntry) => Promise<void>) | null = null;

  constructor(
    private readonly driver: StorageDriver,
    readonly policy: RetentionPolicy,
  ) {}

  get enabled(): boolean {
    return this.policy.keepVersions > 0;
  }

  /**
   * Creates version `entry.version` (create-only); false when another writer holds that number.
   * `body` is the version's bytes, or null when `entry.rev` names a revision holding them.
   */
  async claim(key: string, entry: VersionEntry, body: Uint8Array[] | null): Promise<boolean> {
    try {
      await this.driver.put(versionKey(key, entry.version), chunksOf(body ?? []), {
        meta: encodeEntry(entry),
        contentType: entry.mime,
        ifNoneMatch: true,
      });
      return true;
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
  }

  /** Claims the first free number from `entry.version` on; returns the entry as claimed. */
  async claimNext(key: string, entry: VersionEntry, body: Uint8Array[] | null): Promise<VersionEntry> {
    for (let i = 0; i < CLAIM_ATTEMPTS; i++) {
      const candidate = { ...entry, version: entry.version + i };
      if (await this.claim(key, candidate, body)) return candidate;
    }
    throw new ConflictError(`too many concurrent writers of ${key}; retry`);
  }

  /**
   * Keeps the head's current bytes as version `entry.version` by a server-side copy checked to be
   * of the head at `headEtag` (or, for a body in a revision, a pointer to it). True when the
   * version is in the log afterwards (kept by this call or an earlier one); false when the head
   * changed meanwhile.
   */
  async keepHead(
    key: string,
    entry: VersionEntry,
    headEtag: string,
    copyExact: (from: string, to: string, expect: string, meta: string) => Promise<string | null>,
  ): Promise<boolean> {
    if (entry.rev) {
      await this.claim(key, entry, null);
      return true;
    }
    const copied = await copyExact(key, versionKey(key, entry.version), headEtag, encodeEntry(entry));
    if (copied !== null) return true;
    return (await this.driver.head(versionKey(key, entry.version))) !== null;
  }

  async entry(key: string, n: number): Promise<VersionEntry | null> {
    const head = await this.driver.head(versionKey(key, n));
    return head ? decodeEntry(head.meta) : null;
  }

  /** Every kept version, oldest first. */
  async entries(key: string): Promise<VersionEntry[]> {
    const keys = await this.keys(key);
    const found = await mapLimit(keys, 16, async ({ objectKey }) => {
      const head = await this.driver.head(objectKey);
      return head ? decodeEntry(head.meta) : null;
    });
    return found.filter((e): e is VersionEntry => e !== null);
  }

  /** The object holding a version's bytes: its own, or the revision it names. */
  bytesKey(key: string, entry: VersionEntry): string {
    return entry.rev ? `${key}~${entry.rev}` : versionKey(key, entry.version);
  }

  async open(
    key: string,
    entry: VersionEntry,
    range?: { start: number; end: number },
  ): Promise<ObjectBody | null> {
    return this.driver.get(this.bytesKey(key, entry), range);
  }

  /**
   * Drops versions retention no longer keeps: older than `current - keepVersions`, or (with
   * keepVersionsDays) written before the cut-off. Never the current version, nor the revision the
   * head names (`headRev`).
   */
  async prune(
    key: string,
    current: number,
    headRev: string | null,
    owner: VersionOwner,
    nowMs = Date.now(),
  ): Promise<number> {
    const keys = await this.keys(key);
    const { keepVersions, keepVersionsDays } = this.policy;
    const cutoff = keepVersionsDays === null ? null : nowMs - keepVersionsDays * 86_400_000;
    let removed = 0;
    await mapLimit(keys, 8, async ({ objectKey, version }) => {
      if (version >= current) return;
      const byCount = version < current - keepVersions;
      const head = byCount || cutoff !== null ? await this.driver.head(objectKey) : null;
      const entry = head ? decodeEntry(head.meta) : null;
      const byAge = cutoff !== null && entry !== null && Date.parse(entry.storedAt) < cutoff;
      if (!byCount && !byAge) return;
      await this.driver.delete(objectKey);
      if (entry?.rev && entry.rev !== headRev) await this.release(key, entry.rev);
      if (entry) await this.onDropped?.(owner, entry);
      removed++;
    });
    return removed;
  }

  /**
   * After version `current` is written: drops the one version that fell out of `keepVersions`, if
   * any (one HEAD and a DELETE, no listing). The age limit and anything missed (a writer that
   * died before this ran) are left to prune(), which cleanup runs.
   */
  async dropOutgrown(
    key: string,
    current: number,
    headRev: string | null,
    owner: VersionOwner,
  ): Promise<void> {
    const outgrown = current - this.policy.keepVersions - 1;
    if (outgrown < 1) return;
    const entry = await this.entry(key, outgrown);
    if (!entry) return;
    await this.driver.delete(versionKey(key, outgrown));
    if (entry.rev && entry.rev !== headRev) await this.release(key, entry.rev);
    await this.onDropped?.(owner, entry);
  }

  /** Marks revision `rev` as (about to be) named by more than one entry; before the second is claimed. */
  async share(key: string, rev: string): Promise<void> {
    await this.driver.put(sharedKey(key, rev), chunksOf([]), { meta: "" });
  }

  /**
   * After an entry naming `rev` was deleted (or a claim naming it given up): deletes the revision
   * unless something still names it. Without a marker nothing else can (see the header); with one,
   * the head and every remaining entry are looked at.
   */
  async release(key: string, rev: string): Promise<void> {
    if ((await this.driver.head(sharedKey(key, rev))) && (await this.names(key, rev))) return;
    await this.driver.delete(revKey(key, rev)).catch(() => {});
    await this.driver.delete(sharedKey(key, rev)).catch(() => {});
  }

  /** Whether the head or any kept entry names revision `rev`. */
  private async names(key: string, rev: string): Promise<boolean> {
    const head = await this.driver.head(key);
    if (head && decodeHeadMeta(head, key)?.rev === rev) return true;
    return (await this.entries(key)).some((e) => e.rev === rev);
  }

  /** Removes every version and revision object of a deleted artifact. */
  async removeAll(key: string): Promise<void> {
    let after: string | null = null;
    for (;;) {
      const page = await this.driver.list(`${key}~`, { limit: 1000, after });
      await mapLimit(page.keys, 16, (k) => this.driver.delete(k).catch(() => false));
      if (!page.more || page.keys.length === 0) return;
      after = page.keys[page.keys.length - 1]!;
    }
  }

  private async keys(key: string): Promise<{ objectKey: string; version: number }[]> {
    const out: { objectKey: string; version: number }[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await this.driver.list(`${key}${MARK}`, { limit: 1000, after });
      for (const objectKey of page.keys) {
        const version = versionOf(key, objectKey);
        if (version !== null) out.push({ objectKey, version });
      }
      if (!page.more || page.keys.length === 0) return out;
      after = page.keys[page.keys.length - 1]!;
    }
  }
}
