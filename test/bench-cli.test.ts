import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const repo = join(import.meta.dirname, "..");
const cli = join(repo, "dist/cli/main.js");

/**
 * `chuk-artifacts bench` as a user runs it, on tiny settings: every workload (the HTTP ones with
 * both servers and the load generator in child processes), both sides, a ratio.
 */
describe("chuk-artifacts bench", () => {
  it("measures every workload against the raw backend on memory and filesystem, as JSON", async () => {
    if (!existsSync(cli)) throw new Error("dist/cli/main.js is missing: run `npm run build` first");
    const { stdout } = await run(
      process.execPath,
      [
        cli,
        "bench",
        "--providers",
        "memory,filesystem",
        "--n",
        "40",
        "--reps",
        "1",
        "--list-small",
        "5",
        "--list-large",
        "30",
        "--search-n",
        "200",
        "--large-mib",
        "2",
        "--http-seconds",
        "1",
        "--json",
      ],
      { cwd: repo, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const report = JSON.parse(stdout) as {
      machine: { cpus: number; node: string };
      rows: {
        provider: string;
        workload: string;
        metric: string;
        work: number;
        ratio: number | null;
        status: string | null;
        ours: { median: number };
        raw: { median: number };
      }[];
    };
    expect(report.machine.cpus).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    for (const provider of ["memory", "filesystem"]) {
      const rows = report.rows.filter((r) => r.provider === provider);
      expect(rows.map((r) => r.workload)).toEqual(
        expect.arrayContaining([
          "store-seq",
          "store-conc",
          "batch",
          "retrieve-seq",
          "retrieve-conc",
          "update",
          "metadata",
          "presign",
          "list-small",
          "list-large",
          "search",
          "large",
          "http-signed-get",
          "http-rest-get",
          "http-rest-upload",
          "http-presigned-put",
          "http-head-inm",
          "http-range-get",
          "http-large",
        ]),
      );
      for (const row of rows) {
        expect(row.status, `${provider} ${row.workload} ${row.metric}`).not.toBe("ERROR");
        expect(row.ours.median).toBeGreaterThanOrEqual(0);
        expect(row.raw.median).toBeGreaterThanOrEqual(0);
        if (row.metric === "throughput") expect(row.ratio).toBeGreaterThan(0);
      }
    }
    // A read-only pass this short is repeated until a rep can be timed; writes run once.
    const memory = (id: string) => report.rows.find((r) => r.provider === "memory" && r.workload === id)!;
    expect(memory("store-seq").work).toBe(40);
    for (const id of ["metadata", "presign"]) {
      expect(memory(id).work % 40, id).toBe(0);
      expect(memory(id).work, id).toBeGreaterThan(40);
    }
  }, 320_000);

  it("skips s3 with a note when it may not start servers and none are given", async () => {
    const env = { ...process.env };
    for (const name of ["S3_ENDPOINT_URL", "REDIS_URL", "SESSION_REDIS_URL"]) delete env[name];
    const { stdout } = await run(
      process.execPath,
      [cli, "bench", "--providers", "s3", "--no-start-services", "--json"],
      { cwd: repo, env, timeout: 60_000 },
    );
    const report = JSON.parse(stdout) as { rows: unknown[]; notes: string[] };
    expect(report.rows).toEqual([]);
    expect(report.notes.join("\n")).toMatch(/s3 \+ redis skipped/);
  });
});
