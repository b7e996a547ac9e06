import { parseArgs } from "node:util";
import { helpRequested, STORE_FLAGS, STORE_FLAGS_HELP, withStore } from "../args.js";

const HELP = `usage: chuk-artifacts presign ARTIFACT_ID [options]

Prints a signed download URL. For memory and filesystem storage the URL points at
"chuk-artifacts serve" (ARTIFACT_PUBLIC_URL) and needs the same ARTIFACT_SIGNING_SECRET.

  --expires SECONDS   how long the URL works (default 3600)

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, expires: { type: "string" } },
    allowPositionals: true,
  });
  if (helpRequested(parsed.values, HELP)) return 0;
  const id = parsed.positionals[0];
  if (!id) {
    console.error(HELP);
    return 2;
  }
  return withStore(parsed.values, async (store) => {
    const expires = parsed.values.expires === undefined ? 3600 : Number(parsed.values.expires);
    console.log(await store.presign(id, { expires }));
    return 0;
  });
}
