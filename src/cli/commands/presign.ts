import { parseArgs } from "node:util";
import {
  CONTEXT_FLAGS,
  contextFrom,
  helpRequested,
  parseVersion,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  wholeNumber,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts presign ARTIFACT_ID [options]

Prints a signed download URL. On memory and filesystem storage it points at "chuk-artifacts
serve" (ARTIFACT_PUBLIC_URL, default http://127.0.0.1:8080) and is signed with the secret kept
in the store's folder, so serve on the same folder accepts it.

  --expires SECONDS   how long the URL works (default 3600)
  --version N         a URL for an earlier version's bytes
  --json              print { url, expiresAt } as JSON

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...STORE_FLAGS, ...CONTEXT_FLAGS, expires: { type: "string" }, version: { type: "string" } },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError("presign takes one ARTIFACT_ID");
  const expires = values.expires === undefined ? 3600 : wholeNumber(values.expires, "--expires", 1);
  const version = parseVersion(values.version);
  return withStore(values, async (store) => {
    const url = await store.presign(id, {
      ...contextFrom(values),
      expires,
      ...(version !== undefined && { version }),
    });
    const expiresAt = new Date(Date.now() + expires * 1000).toISOString();
    console.log(values.json ? JSON.stringify({ url, expiresAt }, null, 2) : url);
    return 0;
  });
}
