import { parseArgs } from "node:util";
import {
  CONTEXT_FLAGS,
  contextFrom,
  helpRequested,
  parseMeta,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts cp ARTIFACT_ID [NEW_FILENAME] [options]

Copies an artifact within its session (copies never cross sessions) and prints the new id.

  --summary TEXT   summary of the copy     --meta JSON   merged into the copy's meta
  --json           print the copy's metadata as JSON
  --user ID, --session ID   the artifact must belong to this user / session

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS, summary: { type: "string" }, meta: { type: "string" } },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [id, newFilename, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError("cp takes ARTIFACT_ID and an optional NEW_FILENAME");
  const newMeta = values.meta === undefined ? undefined : parseMeta(values.meta);
  return withStore(values, async (store) => {
    const context = contextFrom(values);
    const copyId = await store.copyFile(id, {
      ...context,
      ...(newFilename !== undefined && { newFilename }),
      ...(values.summary !== undefined && { summary: values.summary }),
      ...(newMeta !== undefined && { newMeta }),
    });
    console.log(values.json ? JSON.stringify(await store.metadata(copyId), null, 2) : copyId);
    return 0;
  });
}
