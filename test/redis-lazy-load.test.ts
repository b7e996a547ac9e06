import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * ioredis loads only when the redis session provider is chosen: no module reachable through
 * static (value) imports from the package entry imports it; src/providers.ts reaches
 * sessions/redis.ts only through a dynamic import().
 */

const src = resolve(import.meta.dirname, "../src");

/** Static value imports of a module: `import x from`, `import {…} from`, `export … from`, `import "…"`. */
function staticImports(file: string): string[] {
  const code = readFileSync(file, "utf8");
  const found: string[] = [];
  const pattern = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?["']([^"']+)["']/gm;
  for (const match of code.matchAll(pattern)) found.push(match[1]!);
  return found;
}

function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const imports = staticImports(file);
    seen.set(file, imports);
    for (const spec of imports) {
      if (spec.startsWith(".")) visit(join(dirname(file), spec).replace(/\.js$/, ".ts"));
    }
  };
  visit(entry);
  return seen;
}

describe("lazy loading of ioredis", () => {
  it("is not statically imported by anything the package entry loads", () => {
    const graph = reachable(join(src, "index.ts"));
    expect(graph.size).toBeGreaterThan(5);
    const offenders = [...graph].filter(([, imports]) => imports.includes("ioredis")).map(([file]) => file);
    expect(offenders).toEqual([]);
    expect(graph.has(join(src, "sessions/redis.ts"))).toBe(false);
  });

  it("is imported by the redis provider itself, which providers.ts loads dynamically", () => {
    expect(staticImports(join(src, "sessions/redis.ts"))).toContain("ioredis");
    expect(readFileSync(join(src, "providers.ts"), "utf8")).toMatch(
      /await import\("\.\/sessions\/redis\.js"\)/,
    );
  });
});
