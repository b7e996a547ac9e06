import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8");

describe("README quotas and search example", () => {
  it("is quoted verbatim from examples/quotas-and-search.ts", () => {
    expect(read("../README.md")).toContain(read("../examples/quotas-and-search.ts").trim());
  });

  it("runs as written and prints what its comments say", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/quotas-and-search.js");
    expect(log.mock.calls).toEqual([
      ["QUOTA_EXCEEDED", "user", { bytes: 4020, artifacts: 3 }],
      [{ bytes: 4020, artifacts: 3 }],
      [["reports/q2.csv", "reports/q1.csv"]],
      [["reports/q1.csv"], null],
    ]);
    log.mockRestore();
  });
});
