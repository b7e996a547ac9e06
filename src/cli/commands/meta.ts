import { parseArgs } from "node:util";
import type { UpdateMetadataOptions } from "../../store.js";
import {
  CONTEXT_FLAGS,
  contextFrom,
  helpRequested,
  parseMeta,
  parseTtl,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";

const HELP = `usage: chuk-artifacts meta ARTIFACT_ID [changes] [options]

Prints an artifact's metadata; with changes, updates it first (system fields such as key,
sha256 and bytes are never writable).

  --summary TEXT     --filename NAME     --mime TYPE     --ttl SECONDS|never
  --meta JSON        merged into meta (--replace-meta: replaces it)
  --json             print the metadata as JSON (default: one "field: value" per line)
  --user ID, --session ID   the artifact must belong to this user / session

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...STORE_FLAGS,
      ...CONTEXT_FLAGS,
      summary: { type: "string" },
      filename: { type: "string" },
      mime: { type: "string" },
      ttl: { type: "string" },
      meta: { type: "string" },
      "replace-meta": { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError("meta takes one ARTIFACT_ID");
  const changes: UpdateMetadataOptions = {
    ...(values.summary !== undefined && { summary: values.summary }),
    ...(values.filename !== undefined && { filename: values.filename }),
    ...(values.mime !== undefined && { mime: values.mime }),
    ...(values.ttl !== undefined && { ttl: parseTtl(values.ttl, "--ttl") }),
    ...(values.meta !== undefined && { meta: parseMeta(values.meta) }),
  };
  if (values["replace-meta"]) {
    if (changes.meta === undefined) throw new UsageError("--replace-meta needs --meta");
    changes.merge = false;
  }
  return withStore(values, async (store) => {
    const context = contextFrom(values);
    const metadata =
      Object.keys(changes).length > 0
        ? await store.updateMetadata(id, { ...changes, ...context })
        : await store.metadata(id, context);
    if (values.json) console.log(JSON.stringify(metadata, null, 2));
    else
      for (const [field, value] of Object.entries(metadata))
        console.log(
          `${field}: ${value !== null && typeof value === "object" ? JSON.stringify(value) : String(value)}`,
        );
    return 0;
  });
}
