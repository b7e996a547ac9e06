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

const HELP = `usage: chuk-artifacts mv ARTIFACT_ID NEW_FILENAME [options]

Renames an artifact (its filename; the id stays) within its session.

  --meta JSON   merged into the artifact's meta
  --json        print the metadata as JSON
  --user ID, --session ID   the artifact must belong to this user / session

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS, meta: { type: "string" } },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [id, newFilename, ...extra] = positionals;
  if (!id || newFilename === undefined || extra.length > 0)
    throw new UsageError("mv takes ARTIFACT_ID and NEW_FILENAME");
  const newMeta = values.meta === undefined ? undefined : parseMeta(values.meta);
  return withStore(values, async (store) => {
    const metadata = await store.moveFile(id, {
      ...contextFrom(values),
      newFilename,
      ...(newMeta !== undefined && { newMeta }),
    });
    console.log(
      values.json ? JSON.stringify(metadata, null, 2) : `${metadata.artifactId}\t${metadata.filename}`,
    );
    return 0;
  });
}
