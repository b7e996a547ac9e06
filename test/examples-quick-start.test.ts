import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8");

describe("README quick start", () => {
  it("is quoted verbatim from examples/quick-start.ts", () => {
    expect(read("../README.md")).toContain(read("../examples/quick-start.ts").trim());
  });

  it("runs as written", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const assert = vi.spyOn(console, "assert");
    await import("../examples/quick-start.js");
    expect(assert).toHaveBeenCalledWith(true);
    const [key, bytes, sha256, url] = log.mock.calls[0] as [string, number, string, string];
    expect(key).toMatch(/^grid\/chuk-artifacts\/user_alice\/[0-9a-f]{32}$/);
    expect(bytes).toBe("Hello, updated world!".length);
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:8080\/signed\/grid\//);
    log.mockRestore();
  });
});
