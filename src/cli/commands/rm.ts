import { parseArgs } from "node:util";
import {
  CONTEXT_FLAGS,
  contextFrom,
  helpRequested,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts rm ARTIFACT_ID... [options]

Deletes artifacts; exits 1 if any did not exist (the others are still deleted).

  --json                    print [{ artifactId, deleted }] as JSON
  --user ID, --session ID   each artifact must belong to this user / session

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  if (positionals.length === 0) throw new UsageError("rm takes one or more ARTIFACT_IDs");
  return withStore(values, async (store) => {
    const results: { artifactId: string; deleted: boolean }[] = [];
    for (const artifactId of positionals) {
      const deleted = await store.delete(artifactId, contextFrom(values));
      results.push({ artifactId, deleted });
      if (!values.json) {
        if (deleted) console.log(`deleted ${artifactId}`);
        else console.error(`chuk-artifacts: ARTIFACT_NOT_FOUND: ${artifactId}`);
      }
    }
    if (values.json) console.log(JSON.stringify(results, null, 2));
    return results.every((r) => r.deleted) ? 0 : 1;
  });
}
