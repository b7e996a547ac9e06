import { parseArgs } from "node:util";
import type { SearchQuery } from "../../search/query.js";
import {
  CONTEXT_FLAGS,
  DEFAULT_USER,
  helpRequested,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts find [options]

Searches a user's artifacts (every session they own and their own scope), one session's with
--session, only the user's own-scope ones with --scope user, or the sandbox's shared ones with
--scope sandbox; newest first: id, bytes, mime, stored at, filename.

  --mime TYPE        a type or family, e.g. image/*
  --name GLOB        filename glob: * within a folder, ** across, ? one character (e.g. "reports/*.pdf")
  --meta KEY=VALUE   a meta value that must match (repeatable; VALUE is JSON if it parses, else text)
  --after TIME       stored at or after (ISO 8601)
  --before TIME      stored before (ISO 8601)
  --text WORDS       words in the filename, summary or meta values
  --limit N          at most N results (default 100)
  --json             print the metadata as a JSON array
  --user ID          whose artifacts (default "${DEFAULT_USER}")
  --session ID       one session (it must belong to --user when that is given)
  --scope SCOPE      user (the user's own-scope artifacts) or sandbox (the shared ones)

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...STORE_FLAGS,
      ...CONTEXT_FLAGS,
      mime: { type: "string" },
      name: { type: "string" },
      meta: { type: "string", multiple: true },
      after: { type: "string" },
      before: { type: "string" },
      text: { type: "string" },
      limit: { type: "string" },
      scope: { type: "string" },
    },
    allowPositionals: false,
  });
  if (helpRequested(values, HELP)) return 0;
  if (positionals.length > 0) throw new UsageError("find takes no positional arguments");
  const meta: Record<string, unknown> = {};
  for (const pair of values.meta ?? []) {
    const eq = pair.indexOf("=");
    if (eq < 1) throw new UsageError(`--meta needs KEY=VALUE (got ${JSON.stringify(pair)})`);
    meta[pair.slice(0, eq)] = jsonOrText(pair.slice(eq + 1));
  }
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  const scope = values.scope;
  if (scope !== undefined && scope !== "user" && scope !== "sandbox")
    throw new UsageError("--scope takes user or sandbox");
  if (scope !== undefined && values.session !== undefined)
    throw new UsageError("--scope and --session name different areas: give one");
  const query: SearchQuery = {
    ...(scope === "sandbox"
      ? { scope, ...(values.user !== undefined && { userId: values.user }) }
      : scope === "user"
        ? { scope, userId: values.user ?? DEFAULT_USER }
        : values.session !== undefined
          ? { sessionId: values.session, ...(values.user !== undefined && { userId: values.user }) }
          : { userId: values.user ?? DEFAULT_USER }),
    ...(values.mime !== undefined && { mime: values.mime }),
    ...(values.name !== undefined && { filename: values.name }),
    ...(Object.keys(meta).length > 0 && { meta }),
    ...(values.after !== undefined && { storedAfter: values.after }),
    ...(values.before !== undefined && { storedBefore: values.before }),
    ...(values.text !== undefined && { text: values.text }),
  };
  return withStore(values, async (store) => {
    const { items } = await store.search(query, { limit });
    if (values.json) console.log(JSON.stringify(items, null, 2));
    else
      for (const m of items)
        console.log(`${m.artifactId}\t${m.bytes}\t${m.mime}\t${m.storedAt}\t${m.filename ?? ""}`);
    return 0;
  });
}

function jsonOrText(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
