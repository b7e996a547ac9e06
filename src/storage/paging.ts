/**
 * Cursor paging over a sorted list of keys. The cursor is the last key returned (base64url), so
 * a page stays correct when entries are added or removed between calls.
 */
export function pageAfter(
  sortedKeys: string[],
  limit: number,
  cursor: string | null,
): { items: string[]; cursor: string | null } {
  const after = cursor === null ? null : decodeCursor(cursor);
  const start = after === null ? 0 : firstAbove(sortedKeys, after, false);
  const items = sortedKeys.slice(start, start + limit);
  const more = start + limit < sortedKeys.length;
  return { items, cursor: more && items.length > 0 ? encodeCursor(items[items.length - 1]!) : null };
}

/** The index of the first of `sorted` after `bound` (or at it, with `inclusive`): a binary search. */
export function firstAbove(sorted: readonly string[], bound: string, inclusive: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (inclusive ? sorted[mid]! < bound : sorted[mid]! <= bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, "base64url").toString("utf8");
}
