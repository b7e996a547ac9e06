import { parseArgs } from "node:util";
import { userSessionId } from "../../grid.js";
import {
  CONTEXT_FLAGS,
  DEFAULT_USER,
  helpRequested,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts checkpoint create|list|restore [CHECKPOINT_ID] [options]

Checkpoints of a session: the version every artifact of it is at. No bytes are copied.

  create [--name TEXT]     record one; prints its id
  list                     the session's checkpoints, newest first: id, created at, artifacts, name
  restore CHECKPOINT_ID    bring every recorded artifact back to its version (as a new version)
                           and delete the session's artifacts created since; prints what changed

  --session ID   the session (default: the session of --user, "${DEFAULT_USER}": user_${DEFAULT_USER})
  --user ID      the session must belong to this user
  --json         print the checkpoint(s) or the restore result as JSON

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS, name: { type: "string" } },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [action, ...rest] = positionals;
  const takes = action === "restore" ? 1 : 0;
  if (action !== "create" && action !== "list" && action !== "restore")
    throw new UsageError("checkpoint takes create, list or restore");
  if (rest.length !== takes)
    throw new UsageError(
      takes ? "checkpoint restore takes one CHECKPOINT_ID" : `checkpoint ${action} takes no arguments`,
    );
  if (values.name !== undefined && action !== "create") throw new UsageError("--name goes with create");
  const sessionId = values.session ?? userSessionId(values.user ?? DEFAULT_USER);
  const owner = values.user === undefined ? {} : { userId: values.user };
  const print = (value: unknown, text: string) => {
    if (values.json) console.log(JSON.stringify(value, null, 2));
    else if (text !== "") console.log(text);
  };
  return withStore(values, async (store) => {
    if (action === "create") {
      const checkpoint = await store.createCheckpoint(sessionId, {
        ...owner,
        ...(values.name !== undefined && { name: values.name }),
      });
      print(checkpoint, checkpoint.checkpointId);
    } else if (action === "list") {
      const checkpoints = await store.listCheckpoints(sessionId, owner);
      print(
        checkpoints,
        checkpoints
          .map((c) => `${c.checkpointId}\t${c.createdAt}\t${c.artifacts.length}\t${c.name ?? ""}`)
          .join("\n"),
      );
    } else {
      const result = await store.restoreCheckpoint(sessionId, rest[0]!, owner);
      const lines = (["restored", "unchanged", "deleted", "missing"] as const).flatMap((kind) =>
        result[kind].map((id) => `${kind}\t${id}`),
      );
      print(result, lines.join("\n"));
      // An artifact that could not be brought back is a partial restore: say so in the status.
      return result.missing.length > 0 ? 1 : 0;
    }
    return 0;
  });
}
