import type { Row } from "./run.js";
import type { ProviderName } from "./setup.js";
import type { Spread } from "./stats.js";

/** What every row of one measurement shares. */
export interface RowBase {
  provider: ProviderName;
  workload: Row["workload"];
  metric: string;
  label: string;
  work: number;
  note?: string;
}

/** Throughput, higher is better; PASS/MISS when `minRatio` is given. */
export function throughputRow(
  base: RowBase,
  unit: string,
  ours: Spread,
  raw: Spread,
  minRatio: number | null,
): Row {
  const ratio = ours.median / raw.median;
  return {
    ...base,
    unit,
    higherIsBetter: true,
    ours,
    raw,
    ratio,
    target: minRatio === null ? null : `≥${minRatio.toFixed(2)}×`,
    status: minRatio === null ? null : ratio >= minRatio ? "PASS" : "MISS",
  };
}

/** Peak resident memory in MB, lower is better: every rep of ours must stay under `limitMb`. */
export function peakRow(base: RowBase, ours: Spread, raw: Spread, limitMb: number): Row {
  return {
    ...base,
    unit: "MB",
    higherIsBetter: false,
    ours,
    raw,
    ratio: null,
    target: `<${limitMb} MB`,
    status: ours.max < limitMb ? "PASS" : "MISS",
  };
}
