import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts put [FILE|-] [options]

Stores FILE (or standard input with "-" or no FILE) and prints the new artifact id.

  --session ID     session to store into      --user ID        owning user (session user_ID)
  --mime TYPE      content type               --summary TEXT   description
  --filename NAME  name kept as metadata      --ttl SECONDS    expiry ("never" for none)
  --json           print the whole metadata as JSON

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({
    args: argv,
    options: {
      ...STORE_FLAGS,
      session: { type: "string" },
      user: { type: "string" },
      mime: { type: "string" },
      summary: { type: "string" },
      filename: { type: "string" },
      ttl: { type: "string" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (helpRequested(parsed.values, HELP)) return 0;
  const { values, positionals } = parsed;
  const file = positionals[0] ?? "-";
  const ttl = values.ttl === undefined ? undefined : values.ttl === "never" ? null : Number(values.ttl);
  return withStore(values, async (store) => {
    const id = await store.store(file === "-" ? process.stdin : createReadStream(file), {
      ...(values.session !== undefined && { sessionId: values.session }),
      ...(values.user !== undefined && { userId: values.user }),
      mime: values.mime ?? "application/octet-stream",
      summary: values.summary ?? "",
      filename: values.filename ?? (file === "-" ? null : basename(file)),
      ...(ttl !== undefined && { ttl }),
    });
    console.log(values.json ? JSON.stringify(await store.metadata(id), null, 2) : id);
    return 0;
  });
}
