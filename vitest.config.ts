import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Examples import the package by name, as users do; tests run them against the source.
    alias: [
      {
        find: /^chuk-artifacts\/mcp$/,
        replacement: fileURLToPath(new URL("./src/mcp/index.ts", import.meta.url)),
      },
      { find: /^chuk-artifacts$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/services.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Real servers (RGW, Redis) are shared; two cores do not gain from more workers.
    maxWorkers: 2,
  },
});
