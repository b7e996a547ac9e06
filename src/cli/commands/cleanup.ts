import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts cleanup [options]

Deletes expired artifacts, abandoned upload slots and the artifacts of expired sessions,
then prints how many artifacts were removed.

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({ args: argv, options: { ...STORE_FLAGS }, allowPositionals: false });
  if (helpRequested(parsed.values, HELP)) return 0;
  return withStore(parsed.values, async (store) => {
    console.log(`removed ${await store.cleanupExpiredSessions()} expired artifacts`);
    return 0;
  });
}
