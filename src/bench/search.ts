import { mapLimit } from "../concurrency.js";
import type { SearchQuery } from "../search/query.js";
import { ArtifactStore } from "../store.js";
import { throughputRow } from "./rows.js";
import type { BenchOptions, Row } from "./run.js";
import { type ProviderSettings, storeOptions } from "./setup.js";
import { spread, timed } from "./stats.js";

/** Artifacts in the searched user area when --search-n is not given (the target's scale). */
export const DEFAULT_SEARCH_N = 100_000;
/** A search must answer within this, at that scale, through the index. */
export const SEARCH_TARGET_SECONDS = 1;

const MIMES = ["image/png", "image/jpeg", "application/pdf", "text/plain", "text/csv"];
const TEAMS = ["red", "blue", "green", "amber"];
const FOLDERS = ["reports", "img", "notes", "data", "reports/2026"];

/**
 * Search in one user's area of `searchN` artifacts (several sessions), through the index
 * (`search`) against the same query answered by listing storage and filtering every record
 * (`searchByScan`, the raw baseline: what a search without an index costs). Three queries: a
 * selective one that fills its page early, one with a few matches (its text postings name a few
 * dozen candidates), and one that matches nothing (no indexed word contains its words).
 */
export async function measureSearch(settings: ProviderSettings, options: BenchOptions): Promise<Row[]> {
  const n = options.searchN ?? DEFAULT_SEARCH_N;
  const store = new ArtifactStore({ ...storeOptions(settings), defaultTtl: null });
  try {
    // With Redis the index is kept once the sandbox searches: turned on before the fill, as `serve`
    // does as it starts, so the writes below are indexed as they go.
    if (settings.provider === "s3") await store.warmSearchIndex();
    const filled = await timed(() => fill(store, n, options.concurrency));
    options.log(`${settings.provider} search: stored ${n} small artifacts in ${filled.seconds.toFixed(1)} s`);
    const built = await timed(() => store.search({ userId: "searcher", text: "warm-up" }, { limit: 1 }));
    options.log(
      `${settings.provider} search: first search (builds the index from storage) ${built.seconds.toFixed(2)} s`,
    );
    const queries: [string, string, SearchQuery][] = [
      [
        "selective",
        `search a ${n}-artifact user area: image/png, team red, reports/* (page of 50)`,
        { userId: "searcher", mime: "image/png", meta: { team: "red" }, filename: "reports/*" },
      ],
      [
        "few",
        `search a ${n}-artifact user area: text "file-4242" (a few matches)`,
        { userId: "searcher", text: "file-4242" },
      ],
      [
        "no-match",
        `search a ${n}-artifact user area: text matching nothing`,
        { userId: "searcher", text: "nothing-has-this-word" },
      ],
    ];
    const rows: Row[] = [];
    for (const [metric, label, query] of queries) {
      const indexed: number[] = [];
      const scanned: number[] = [];
      let matches = 0;
      for (let rep = 0; rep < options.reps; rep++) {
        const viaIndex = await timed(() => store.search(query, { limit: 50 }));
        indexed.push(1 / viaIndex.seconds);
        matches = viaIndex.value.items.length;
        // A full scan of a large area takes seconds to minutes: one rep of it is enough to compare.
        if (rep === 0) {
          const viaScan = await timed(() => store.searchByScan(query, { limit: 50 }));
          scanned.push(1 / viaScan.seconds);
          if (viaScan.value.items.length !== matches) throw new Error("index and scan disagree");
        }
      }
      const ours = spread(indexed);
      const raw = spread(scanned);
      const row = throughputRow(
        { provider: settings.provider, workload: "search", metric, label, work: 1 },
        "searches/s",
        ours,
        raw,
        null,
      );
      const seconds = 1 / ours.median;
      row.target = `index < ${SEARCH_TARGET_SECONDS} s`;
      row.status = seconds < SEARCH_TARGET_SECONDS ? "PASS" : "MISS";
      row.note = `index ${(seconds * 1000).toFixed(0)} ms, scan ${((1 / raw.median) * 1000).toFixed(0)} ms, ${matches} results`;
      options.log(`${settings.provider} ${label}: ${row.note}; index ÷ scan ${row.ratio!.toFixed(1)}×`);
      rows.push(row);
    }
    return rows;
  } finally {
    await store.close();
  }
}

async function fill(store: ArtifactStore, n: number, concurrency: number): Promise<void> {
  const sessions = ["user_searcher", "searcher-a", "searcher-b", "searcher-c"];
  const chunk = 500;
  const chunks = Array.from({ length: Math.ceil(n / chunk) }, (_, i) => i);
  await mapLimit(chunks, Math.max(1, Math.floor(concurrency / 16)), async (c) => {
    const items = [];
    for (let i = c * chunk; i < Math.min(n, (c + 1) * chunk); i++) {
      const mime = MIMES[i % MIMES.length]!;
      items.push({
        data: `artifact ${i}`,
        mime,
        filename: `${FOLDERS[(i >> 1) % FOLDERS.length]}/file-${i}.${mime.split("/")[1]}`,
        summary: `item ${i}`,
        meta: { team: TEAMS[(i >> 2) % TEAMS.length], n: i },
      });
    }
    const ids = await store.storeBatch(items, {
      userId: "searcher",
      sessionId: sessions[c % sessions.length]!,
      concurrency: 16,
    });
    if (ids.includes(null)) throw new Error("a store failed while filling the search area");
  });
}
