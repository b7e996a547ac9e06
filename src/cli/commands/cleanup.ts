import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts cleanup [options]

Deletes expired artifacts, abandoned upload slots and the artifacts of expired sessions,
then prints how many artifacts were removed. Also drops versions past retention and body
revisions nothing names that are older than ARTIFACT_ORPHAN_GRACE_SECONDS (default 3600).

  --json   print { removed } as JSON

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, json: { type: "boolean" } },
    allowPositionals: false,
  });
  if (helpRequested(values, HELP)) return 0;
  return withStore(values, async (store) => {
    const removed = await store.cleanupExpiredSessions();
    console.log(values.json ? JSON.stringify({ removed }) : `removed ${removed} expired artifacts`);
    return 0;
  });
}
