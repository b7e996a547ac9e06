/**
 * Values parsed from text, remembered by a key together with the exact text they came from, so a
 * hot object read again unchanged skips parsing and checking. Bounded: the oldest entry goes first.
 * Callers hand out copies of what they keep here.
 */
export class ParsedMemo<T> {
  private readonly entries = new Map<string, { text: string; value: T }>();

  constructor(private readonly max: number) {}

  get(key: string, text: string): T | undefined {
    const hit = this.entries.get(key);
    return hit && hit.text === text ? hit.value : undefined;
  }

  set(key: string, text: string, value: T): void {
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { text, value });
  }
}
