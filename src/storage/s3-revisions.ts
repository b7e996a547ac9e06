/**
 * Which body revision (and its sha256) each key pointed to when this process last read or wrote
 * its record, so reading bytes need not re-read the record. Revisions are immutable, which makes
 * this safe:
 * - when the caller names the sha256 it expects and the remembered revision has it, those bytes
 *   are exactly the caller's version however old the entry is (at worst they were deleted since:
 *   a 404, after which the caller re-reads the record);
 * - without an expectation an entry is trusted only briefly (reading a record, then its bytes).
 */
export class RecentRevisions {
  private readonly entries = new Map<string, { rev: string; sha256: string; at: number }>();

  constructor(
    private readonly freshMs = 2_000,
    private readonly max = 10_000,
  ) {}

  get(key: string, expectedSha256?: string): { rev: string; sha256: string } | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (expectedSha256 !== undefined) return entry.sha256 === expectedSha256 ? entry : null;
    return Date.now() - entry.at <= this.freshMs ? entry : null;
  }

  set(key: string, rev: string | null, sha256: string): void {
    if (rev === null) {
      this.entries.delete(key);
      return;
    }
    this.entries.delete(key); // re-insert: the map's order is the eviction order
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { rev, sha256, at: Date.now() });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }
}
