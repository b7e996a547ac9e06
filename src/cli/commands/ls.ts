import { parseArgs } from "node:util";
import { userSessionId } from "../../grid.js";
import {
  CONTEXT_FLAGS,
  DEFAULT_USER,
  helpRequested,
  parseScope,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts ls [SESSION_ID] [options]

Lists a session's artifacts, newest first: id, bytes, mime, stored at, filename. Without
SESSION_ID: the session of --user (default "${DEFAULT_USER}": user_${DEFAULT_USER}).

  --scope SCOPE  session (the default); user: the user's own artifacts (of --user); sandbox: the
                 artifacts shared with every user
  --prefix DIR   only filenames starting with DIR (e.g. docs/)
  --json         print the metadata as a JSON array
  --user ID      whose session (the session must belong to this user)

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS, prefix: { type: "string" }, scope: { type: "string" } },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  if (positionals.length > 1) throw new UsageError("ls takes at most one SESSION_ID");
  const scope = parseScope(values.scope);
  if (scope !== "session" && (positionals.length > 0 || values.session !== undefined))
    throw new UsageError(`--scope ${scope} lists no session: drop the SESSION_ID`);
  const sessionId = positionals[0] ?? values.session ?? userSessionId(values.user ?? DEFAULT_USER);
  const prefix = values.prefix ?? "";
  return withStore(values, async (store) => {
    const all =
      scope === "user"
        ? await store.listByUser(values.user ?? DEFAULT_USER)
        : scope === "sandbox"
          ? await store.listShared()
          : await store.getDirectoryContents(
              sessionId,
              prefix,
              values.user === undefined ? {} : { userId: values.user },
            );
    const items = all
      .filter((m) => (m.filename ?? "").startsWith(prefix))
      .sort((a, b) => b.storedAt.localeCompare(a.storedAt));
    if (values.json) console.log(JSON.stringify(items, null, 2));
    else
      for (const m of items)
        console.log(`${m.artifactId}\t${m.bytes}\t${m.mime}\t${m.storedAt}\t${m.filename ?? ""}`);
    return 0;
  });
}
