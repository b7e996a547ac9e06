import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8");

describe("README scopes, versions, conditional writes and checkpoints", () => {
  it("is quoted verbatim from examples/versions-and-scopes.ts", () => {
    expect(read("../README.md")).toContain(read("../examples/versions-and-scopes.ts").trim());
  });

  it("runs as written and prints what its comments say", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    await import("../examples/versions-and-scopes.js");
    const lines = log.mock.calls;
    log.mockRestore();
    expect(lines[0]![0]).toMatch(/^grid\/chuk-artifacts\/_u-alice\/[0-9a-f]{32}$/);
    expect(lines[1]).toEqual([1, 1]);
    expect(lines[2]).toEqual(["# Template"]);
    expect(lines[3]).toEqual([2, [2, 1]]);
    expect(lines[4]).toEqual(["# Report v1"]);
    expect(lines[5]).toEqual([true]);
    expect(lines[6]).toEqual([1, true]);
    expect(lines[7]).toEqual(["# Report v3", 5]);
  });
});
