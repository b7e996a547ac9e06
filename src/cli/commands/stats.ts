import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts stats [options]

Prints the configuration, provider facts and a live health check of both providers as JSON.
Exits 1 when a provider is unhealthy.

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({ args: argv, options: { ...STORE_FLAGS }, allowPositionals: false });
  if (helpRequested(parsed.values, HELP)) return 0;
  return withStore(parsed.values, async (store) => {
    const health = await store.validateConfiguration();
    const healthy = health.storage.status === "ok" && health.session.status === "ok";
    const stats = healthy ? await store.getStats() : {};
    console.log(JSON.stringify({ health, stats }, null, 2));
    return healthy ? 0 : 1;
  });
}
