import { parseArgs } from "node:util";
import {
  CONTEXT_FLAGS,
  contextFrom,
  helpRequested,
  parseVersion,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts restore ARTIFACT_ID --version N [options]

Makes a new version of the artifact with the content of version N (history is kept), and prints
the new version number.

  --version N               the version to bring back (see "versions ARTIFACT_ID")
  --json                    print the artifact's new metadata as JSON
  --user ID, --session ID   the artifact must belong to this user / session

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS, version: { type: "string" } },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError("restore takes one ARTIFACT_ID");
  const version = parseVersion(values.version);
  if (version === undefined) throw new UsageError("restore needs --version N");
  return withStore(values, async (store) => {
    const metadata = await store.restoreVersion(id, version, contextFrom(values));
    console.log(
      values.json
        ? JSON.stringify(metadata, null, 2)
        : `restored ${id} version ${version} as version ${metadata.version}`,
    );
    return 0;
  });
}
