import type { IndexEntry } from "../sessions/search-index.js";

/**
 * Posting terms: what the search index keeps, per area, a list of entries for, so a search reads
 * only the entries that can match one of its conditions. A term names one fact of an entry:
 *
 *   m:{type/subtype}     its mime without parameters, lowercased      (query `mime: "image/png"`)
 *   t:{type/}            its mime's major type, lowercased            (query `mime: "image/*"`)
 *   k:{key JSON}={value JSON}   a scalar meta value                    (query `meta: { key: value }`)
 *   w:{word}             a word of its lowercased filename, summary or meta values (`text`, `filename`)
 *
 * A word is a maximal run of letters and digits. `text` matches substrings, so a query word finds
 * its candidates through every indexed word that contains each of its own letter-and-digit runs:
 * a substring of the searched text never crosses a run of letters and digits without being inside
 * one word. Terms only pick candidates; every candidate is checked by the full matcher.
 */

const WORD_RUN = /[\p{L}\p{N}]+/gu;
// The same runs for ASCII text, which most metadata is: a plain class is several times faster.
const NOT_ASCII = /[\u0080-\uffff]/;
const ASCII_WORD_RUN = /[a-z0-9]+/gi;
/** Meta terms longer than this are not kept (and a query for such a value scans instead). */
const META_TERM_MAX = 256;

/** The lowercased text a `text` search looks in; kept per metadata object (index entries repeat). */
const haystacks = new WeakMap<IndexEntry, string>();
export function haystackOf(m: IndexEntry): string {
  let hay = haystacks.get(m);
  if (hay === undefined) {
    hay = textOf(m);
    haystacks.set(m, hay);
  }
  return hay;
}

function textOf(m: IndexEntry): string {
  return `${m.filename ?? ""}\n${m.summary}\n${metaText(m.meta)}`.toLowerCase();
}

function metaText(meta: Record<string, unknown>): string {
  const out: string[] = [];
  for (const v of Object.values(meta)) out.push(typeof v === "string" ? v : JSON.stringify(v));
  return out.join("\n");
}

/** The runs of letters and digits of an already lowercased text. */
export function wordRuns(lowered: string): string[] {
  return lowered.match(NOT_ASCII.test(lowered) ? WORD_RUN : ASCII_WORD_RUN) ?? [];
}

/** The mime as an exact `mime` query compares it. */
export function mimeTerm(lowered: string): string {
  return `m:${lowered.split(";")[0]!.trim()}`;
}

/** The major-type term of a lowercased mime, or of a family `type/` (null when it has no one slash). */
export function typeTerm(loweredPrefix: string): string | null {
  const slash = loweredPrefix.indexOf("/");
  return slash < 1 ? null : `t:${loweredPrefix.slice(0, slash + 1)}`;
}

/** The term of a meta key and value, or null when the value is not kept in a posting. */
export function metaTerm(key: string, value: unknown): string | null {
  if (value !== null && !["string", "number", "boolean"].includes(typeof value)) return null;
  const term = `k:${JSON.stringify(key)}=${JSON.stringify(value)}`;
  return term.length <= META_TERM_MAX ? term : null;
}

export const WORD = "w:";

/** A store writes few distinct mimes: their terms are kept (up to this many mimes). */
const MIME_TERMS_KEPT = 256;
const mimeTermsKept = new Map<string, readonly string[]>();

function mimeTermsOf(mime: string): readonly string[] {
  let terms = mimeTermsKept.get(mime);
  if (terms === undefined) {
    const lowered = mime.toLowerCase();
    const major = typeTerm(lowered);
    terms = major === null ? [mimeTerm(lowered)] : [mimeTerm(lowered), major];
    if (mimeTermsKept.size >= MIME_TERMS_KEPT) mimeTermsKept.clear();
    mimeTermsKept.set(mime, terms);
  }
  return terms;
}

/**
 * Every term of an entry, each once. Its text is not kept for the matcher (haystackOf): indexing
 * happens once per write, and a weak map entry per artifact would slow every garbage collection.
 */
export function termsOf(m: IndexEntry): string[] {
  const byMime = mimeTermsOf(m.mime);
  const metaKeys = Object.keys(m.meta);
  if (metaKeys.length === 0 && !m.filename && m.summary === "") return [...byMime];
  const terms = new Set<string>(byMime);
  for (const key of metaKeys) {
    const term = metaTerm(key, m.meta[key]);
    if (term !== null) terms.add(term);
  }
  for (const word of wordRuns(textOf(m))) terms.add(WORD + word);
  return [...terms];
}
