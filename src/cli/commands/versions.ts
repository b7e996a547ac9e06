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

const HELP = `usage: chuk-artifacts versions ARTIFACT_ID [options]

Lists the versions kept of an artifact, newest first (the current one included): version, bytes,
stored at, sha256, etag. "get ARTIFACT_ID --version N" reads one; "restore" brings one back.

  --json                    print [{ version, bytes, sha256, storedAt, etag }] as JSON
  --user ID, --session ID   the artifact must belong to this user / session

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError("versions takes one ARTIFACT_ID");
  return withStore(values, async (store) => {
    const versions = await store.listVersions(id, contextFrom(values));
    if (values.json) console.log(JSON.stringify(versions, null, 2));
    else
      for (const v of versions)
        console.log(`${v.version}\t${v.bytes}\t${v.storedAt}\t${v.sha256}\t${v.etag}`);
    return 0;
  });
}
