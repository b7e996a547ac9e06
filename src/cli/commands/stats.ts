import { parseArgs } from "node:util";
import { ArtifactStore } from "../../store.js";
import { helpRequested, reportError, STORE_FLAGS, STORE_FLAGS_HELP, storeOptionsFrom } from "../args.js";

const HELP = `usage: chuk-artifacts stats [options]

Prints the configuration, provider facts and a live health check of both providers as JSON.
Exits 1 when a provider is unhealthy.

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({ args: argv, options: { ...STORE_FLAGS }, allowPositionals: false });
  if (helpRequested(parsed.values, HELP)) return 0;
  const store = new ArtifactStore(storeOptionsFrom(parsed.values));
  try {
    const health = await store.validateConfiguration();
    const healthy = health.storage.status === "ok" && health.session.status === "ok";
    const stats = healthy ? await store.getStats() : {};
    console.log(JSON.stringify({ health, stats }, null, 2));
    return healthy ? 0 : 1;
  } catch (err) {
    return reportError(err);
  } finally {
    await store.close();
  }
}
