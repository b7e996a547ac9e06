import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts stats [options]

Prints the configuration, provider facts and a live health check of both providers.
Exits 1 when a provider is unhealthy.

  --json   print { health, stats } as JSON

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, json: { type: "boolean" } },
    allowPositionals: false,
  });
  if (helpRequested(values, HELP)) return 0;
  return withStore(values, async (store) => {
    const health = await store.validateConfiguration();
    const healthy = health.storage.status === "ok" && health.session.status === "ok";
    const stats = healthy ? await store.getStats() : {};
    if (values.json) console.log(JSON.stringify({ health, stats }, null, 2));
    else {
      for (const [name, h] of Object.entries(health))
        console.log(`${name}: ${h.status} (${h.provider})${h.detail ? ` ${h.detail}` : ""}`);
      for (const [name, value] of Object.entries(stats))
        console.log(`${name}: ${typeof value === "object" ? JSON.stringify(value) : String(value)}`);
    }
    return healthy ? 0 : 1;
  });
}
