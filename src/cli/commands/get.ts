import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import {
  CONTEXT_FLAGS,
  contextFrom,
  helpRequested,
  parseVersion,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";
import { progressFor } from "../progress.js";

const HELP = `usage: chuk-artifacts get ARTIFACT_ID [-o FILE|-] [options]

Writes the artifact's bytes to standard output, or to FILE (written aside and renamed into
place once complete), streamed and checked against its sha256.

  -o, --out FILE   write to FILE ("-": standard output, the default)
  --version N      an earlier version's bytes (see "versions ARTIFACT_ID"), checked against its sha256
  --meta, --json   print the metadata as JSON instead of the bytes (with -o FILE: after writing it)
  --user ID, --session ID   the artifact must belong to this user / session

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...STORE_FLAGS,
      ...CONTEXT_FLAGS,
      out: { type: "string", short: "o" },
      meta: { type: "boolean" },
      version: { type: "string" },
    },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const [id, ...extra] = positionals;
  if (!id || extra.length > 0) throw new UsageError("get takes one ARTIFACT_ID");
  const version = parseVersion(values.version);
  if (version !== undefined && (values.meta || values.json) && (values.out ?? "-") === "-")
    throw new UsageError('--version reads bytes; "versions ARTIFACT_ID --json" describes each version');
  const out = values.out ?? "-";
  const metadataOnly = (values.meta || values.json) && out === "-";
  return withStore(values, async (store) => {
    const context = contextFrom(values);
    if (metadataOnly) {
      console.log(JSON.stringify(await store.metadata(id, context), null, 2));
      return 0;
    }
    const { metadata, body } = await store.openStream(id, {
      ...context,
      ...(version !== undefined && { version }),
    });
    // No bar while the bytes themselves go to the terminal; redirected, they get one.
    const toTerminal = out === "-" && process.stdout.isTTY === true;
    const progress = await progressFor(metadata.filename ?? id, toTerminal ? 0 : metadata.bytes);
    try {
      if (out === "-") {
        await pipeline(Readable.from(progress.track(body.stream)), process.stdout);
      } else {
        // Aside, then renamed: a failed or corrupt read never leaves a partial FILE behind.
        const temp = `${out}.${process.pid}.part`;
        try {
          await pipeline(
            Readable.from(progress.track(body.stream)),
            createWriteStream(temp, { flags: "wx" }),
          );
          await rename(temp, out);
        } catch (err) {
          await rm(temp, { force: true });
          // Report the file the user named, not the temporary one beside it.
          const failure = err as NodeJS.ErrnoException;
          if (failure.path === temp) failure.path = out;
          throw err;
        }
      }
    } finally {
      progress.stop();
    }
    if (values.meta || values.json) console.log(JSON.stringify(metadata, null, 2));
    return 0;
  });
}
