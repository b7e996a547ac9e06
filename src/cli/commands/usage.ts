import { parseArgs } from "node:util";
import {
  CONTEXT_FLAGS,
  DEFAULT_USER,
  helpRequested,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts usage [options]

Prints the bytes and artifacts a user holds (every session they own), or one session with
--session, and the quota when one is set (ARTIFACT_QUOTA_*).

  --recount      count again from storage and replace the shared counter
  --json         print { scope, id, usage, limit } as JSON
  --user ID      whose usage (default "${DEFAULT_USER}")
  --session ID   one session's usage

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS, recount: { type: "boolean" } },
  });
  if (helpRequested(values, HELP)) return 0;
  const who =
    values.session !== undefined
      ? { sessionId: values.session, ...(values.user !== undefined && { userId: values.user }) }
      : { userId: values.user ?? DEFAULT_USER };
  const scope = values.session !== undefined ? "session" : "user";
  return withStore(values, async (store) => {
    const usage = values.recount ? await store.recountUsage(who) : await store.getUsage(who);
    const limit = store.quotaLimits?.[scope] ?? null;
    const id = values.session ?? values.user ?? DEFAULT_USER;
    if (values.json) console.log(JSON.stringify({ scope, id, usage, limit }));
    else {
      const of = (n: number, max: number | undefined) => (max === undefined ? `${n}` : `${n} of ${max}`);
      console.log(
        `${scope} ${id}: ${of(usage.bytes, limit?.bytes)} bytes, ${of(usage.artifacts, limit?.artifacts)} artifacts`,
      );
    }
    return 0;
  });
}
