import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
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

  it("runs from a shell the way the README says: npx tsx examples/quick-start.ts, after the build", () => {
    expect(read("../README.md")).toContain("npx tsx examples/quick-start.ts");
    const root = fileURLToPath(new URL("..", import.meta.url));
    const run = spawnSync(process.execPath, ["node_modules/tsx/dist/cli.mjs", "examples/quick-start.ts"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^grid\/chuk-artifacts\/user_alice\/[0-9a-f]{32} 21 [0-9a-f]{64} http:\/\//);
  });
});
