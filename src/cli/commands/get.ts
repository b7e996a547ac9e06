import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts get ARTIFACT_ID [options]

Writes the artifact's bytes to standard output (or --out FILE), checked against its sha256.

  --out FILE     write to FILE instead of standard output
  --meta         print the metadata as JSON instead of the bytes

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, out: { type: "string" }, meta: { type: "boolean" } },
    allowPositionals: true,
  });
  if (helpRequested(parsed.values, HELP)) return 0;
  const id = parsed.positionals[0];
  if (!id) {
    console.error(HELP);
    return 2;
  }
  return withStore(parsed.values, async (store) => {
    if (parsed.values.meta) {
      console.log(JSON.stringify(await store.metadata(id), null, 2));
      return 0;
    }
    const bytes = await store.retrieve(id);
    await pipeline(
      Readable.from([bytes]),
      parsed.values.out ? createWriteStream(parsed.values.out) : process.stdout,
    );
    return 0;
  });
}
