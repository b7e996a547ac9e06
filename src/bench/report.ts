import { type BenchReport, bytesLabel, fmt, type Row } from "./run.js";

/** The human-readable report: header with the machine and settings, one line per measurement. */
export function renderTable(report: BenchReport): string {
  const m = report.machine;
  const s = report.settings;
  const lines: string[] = [];
  lines.push(`chuk-artifacts bench — ${report.date}`);
  lines.push(
    `machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, load average at start ${m.loadAtStart}`,
  );
  const n = s.n as number | Record<string, number>;
  const nText =
    typeof n === "number"
      ? String(n)
      : Object.entries(n)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ");
  lines.push(
    `settings: n = ${nText}; size ${bytesLabel(s.sizeBytes as number)}; concurrency ${s.concurrency}; ` +
      `${s.reps} reps after one smaller warm-up; batches of ${s.batch}; list sessions of ` +
      `${(s.listSessions as number[]).join(" and ")}; large artifact ${bytesLabel(s.largeBytes as number)}`,
  );
  lines.push(
    "ratio = ours ÷ raw throughput, higher is better (1.00× = as fast as the bare backend doing the same work).",
  );
  lines.push(
    "Each cell: median [min–max] over the reps. MB rows: peak RSS above baseline, lower is better (1 MB = 10^6 bytes).",
  );
  lines.push("");
  const header = [
    "provider",
    "workload",
    "work/rep",
    "ours",
    "raw",
    "unit",
    "ratio",
    "target",
    "",
    "round trips/op, or p50/p99 ms and server CPU µs/req, ours | raw",
  ];
  const body = report.rows.map((r) => cells(r));
  const table = [header, ...body];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  const right = new Set([2, 3, 4, 6]);
  const render = (row: string[]) =>
    row
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  lines.push(render(header));
  lines.push(widths.map((w) => "-".repeat(w)).join("  "));
  let previous = "";
  for (const row of body) {
    if (previous && row[0] !== previous) lines.push("");
    previous = row[0]!;
    lines.push(render(row));
  }
  const notes = [
    ...report.rows.filter((r) => r.note).map((r) => `${r.provider} ${r.label}: ${r.note}`),
    ...report.notes,
  ];
  if (notes.length > 0) {
    lines.push("");
    lines.push("notes:");
    for (const note of notes) lines.push(`  - ${note}`);
  }
  const targets = report.rows.filter((r) => r.status !== null);
  const passed = targets.filter((r) => r.status === "PASS").length;
  lines.push("");
  lines.push(`targets: ${passed} of ${targets.length} met`);
  return lines.join("\n");
}

function cells(r: Row): string[] {
  const cell = (sp: Row["ours"]) =>
    Number.isFinite(sp.median) ? `${fmt(sp.median)} [${fmt(sp.min)}–${fmt(sp.max)}]` : "-";
  const trips = r.trips
    ? `${tripText(r.trips.ours)} | ${tripText(r.trips.raw)}`
    : r.latency
      ? `${latencyText(r.latency.ours)} | ${latencyText(r.latency.raw)}${r.cpu ? `; ${Math.round(r.cpu.ours)} | ${Math.round(r.cpu.raw)} µs` : ""}`
      : "";
  return [
    r.provider,
    r.label,
    workText(r),
    cell(r.ours),
    cell(r.raw),
    r.unit,
    r.ratio === null ? "" : ratioText(r),
    r.target ?? "",
    r.status ?? "",
    trips,
  ];
}

/** Two decimals, or three where two would round a missed target up to it (0.896 is not 0.90). */
function ratioText(r: Row): string {
  const ratio = r.ratio!;
  const two = ratio.toFixed(2);
  return `${r.status === "MISS" && Number(two) >= ratio ? ratio.toFixed(3) : two}×`;
}

function workText(r: Row): string {
  if (r.workload === "large" || r.workload === "http-large") return bytesLabel(r.work);
  if (r.workload.startsWith("http-")) return `${r.work.toLocaleString("en-US")} req`;
  return `${r.work.toLocaleString("en-US")} ${r.unit.replace("/s", "")}`;
}

function latencyText(l: { p50: number; p99: number }): string {
  return `${fmt(l.p50)}/${fmt(l.p99)}`;
}

function tripText(t: { http: number; redis: number }): string {
  return `${t.http} http + ${t.redis} redis`;
}
