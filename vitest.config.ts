import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/setup/services.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Real servers (RGW, Redis) are shared; two cores do not gain from more workers.
    maxWorkers: 2,
  },
});
