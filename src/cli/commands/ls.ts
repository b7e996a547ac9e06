import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts ls SESSION_ID [options]

Lists a session's artifacts: id, bytes, mime, filename.

  --prefix DIR   only filenames starting with DIR (e.g. docs/)
  --json         print metadata as JSON

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, prefix: { type: "string" }, json: { type: "boolean" } },
    allowPositionals: true,
  });
  if (helpRequested(parsed.values, HELP)) return 0;
  const sessionId = parsed.positionals[0];
  if (!sessionId) {
    console.error(HELP);
    return 2;
  }
  return withStore(parsed.values, async (store) => {
    const items = await store.getDirectoryContents(sessionId, parsed.values.prefix ?? "");
    if (parsed.values.json) console.log(JSON.stringify(items, null, 2));
    else for (const m of items) console.log(`${m.artifactId}\t${m.bytes}\t${m.mime}\t${m.filename ?? ""}`);
    return 0;
  });
}
