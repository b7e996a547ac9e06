import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts rm ARTIFACT_ID... [options]

Deletes artifacts; exits 4 if any did not exist.

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({ args: argv, options: { ...STORE_FLAGS }, allowPositionals: true });
  if (helpRequested(parsed.values, HELP)) return 0;
  if (parsed.positionals.length === 0) {
    console.error(HELP);
    return 2;
  }
  return withStore(parsed.values, async (store) => {
    let missing = 0;
    for (const id of parsed.positionals) {
      if (await store.delete(id)) console.log(`deleted ${id}`);
      else {
        console.error(`not found: ${id}`);
        missing++;
      }
    }
    return missing > 0 ? 4 : 0;
  });
}
