/**
 * Which body revision (and its sha256) a key pointed to when this process last read or wrote its
 * record, kept for a moment so that reading a record and then its bytes costs one record GET, not
 * two. Safe because revisions are immutable: a stale entry yields a whole older version with its
 * own checksum, or a 404 after which the caller re-reads the record.
 */
export class RecentRevisions {
  private readonly entries = new Map<string, { rev: string; sha256: string; at: number }>();

  constructor(
    private readonly freshMs = 2_000,
    private readonly max = 10_000,
  ) {}

  get(key: string): { rev: string; sha256: string } | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (Date.now() - entry.at > this.freshMs) {
      this.entries.delete(key);
      return null;
    }
    return entry;
  }

  set(key: string, rev: string | null, sha256: string): void {
    if (rev === null) {
      this.entries.delete(key);
      return;
    }
    // A bounded map: forgetting only costs a record GET.
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, { rev, sha256, at: Date.now() });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
