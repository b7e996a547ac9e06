import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { parseArgs } from "node:util";
import mime from "mime";
import type { ArtifactMetadata } from "../../metadata.js";
import type { ArtifactStore, UpdateFileOptions } from "../../store.js";
import {
  CONTEXT_FLAGS,
  contextFrom,
  DEFAULT_USER,
  helpRequested,
  parseMeta,
  parseScope,
  parseTtl,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  UsageError,
  withStore,
} from "../args.js";
import { humanBytes, progressFor } from "../progress.js";

const HELP = `usage: chuk-artifacts put [FILE|DIR|-]... [options]

Stores files (a folder: every file under it, named by its path from the folder's parent) or
standard input ("-", or no argument), and prints each new artifact id. Several files end with a
summary line on standard error.

  --user ID        owning user (default "${DEFAULT_USER}": session user_${DEFAULT_USER})
  --session ID     session to store into instead
  --scope SCOPE    session (the default); user: the user's own, kept across sessions; sandbox:
                   shared with every user (a trusted call: not with --user)
  --mime TYPE      content type (default: from the file extension)
  --summary TEXT   description          --filename NAME  name kept as metadata (one input only)
  --meta JSON      a JSON object kept with each file
  --ttl SECONDS    expiry ("never", the default unless ARTIFACT_TTL is set)
  --json           print the metadata as JSON (an array for several inputs)
  --update ID      write one input as a new version of artifact ID (its name and type kept unless
                   --filename / --mime are given); --if-match ETAG: only if its etag is still ETAG

${STORE_FLAGS_HELP}`;

interface Input {
  path: string | null; // null: standard input
  filename: string | null;
  bytes: number | null;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...STORE_FLAGS,
      ...CONTEXT_FLAGS,
      mime: { type: "string" },
      summary: { type: "string" },
      filename: { type: "string" },
      meta: { type: "string" },
      ttl: { type: "string" },
      scope: { type: "string" },
      update: { type: "string" },
      "if-match": { type: "string" },
    },
    allowPositionals: true,
  });
  if (helpRequested(values, HELP)) return 0;
  const scope = parseScope(values.scope);
  if (values["if-match"] !== undefined && values.update === undefined)
    throw new UsageError("--if-match goes with --update");
  if (values.update !== undefined && values.scope !== undefined)
    throw new UsageError("--update keeps the artifact's scope: drop --scope");
  return withStore(values, async (store) => {
    const ttl = values.ttl === undefined ? undefined : parseTtl(values.ttl, "--ttl");
    const meta = values.meta === undefined ? undefined : parseMeta(values.meta);
    const inputs = await expand(positionals.length === 0 ? ["-"] : positionals);
    if (values.filename !== undefined && inputs.length !== 1)
      throw new UsageError("--filename names one input; several were given");
    const context = contextFrom(values);
    if (values.update !== undefined) {
      if (inputs.length !== 1) throw new UsageError("--update writes one input; several were given");
      const input = inputs[0]!;
      const metadata = await updateOne(store, values.update, input, {
        ...context,
        ...(values.mime !== undefined && { mime: values.mime }),
        ...(values.summary !== undefined && { summary: values.summary }),
        ...(values.filename !== undefined && { filename: values.filename }),
        ...(meta !== undefined && { meta }),
        ...(ttl !== undefined && { ttl }),
        ...(values["if-match"] !== undefined && { ifMatch: values["if-match"] }),
      });
      console.log(
        values.json
          ? JSON.stringify(metadata, null, 2)
          : `${metadata.artifactId}\tversion ${metadata.version}`,
      );
      return 0;
    }
    // Session and user scope act for the default user unless told otherwise; the sandbox for nobody.
    const owner =
      scope !== "sandbox" &&
      context.userId === undefined &&
      (context.sessionId === undefined || scope === "user")
        ? { userId: DEFAULT_USER }
        : {};
    const stored: ArtifactMetadata[] = [];
    for (const input of inputs) {
      const filename = values.filename ?? input.filename;
      const id = await storeOne(store, input, {
        ...context,
        ...owner,
        scope,
        mime: values.mime ?? (filename ? mime.getType(filename) : null) ?? "application/octet-stream",
        ...(values.summary !== undefined && { summary: values.summary }),
        filename,
        ...(meta !== undefined && { meta }),
        ...(ttl !== undefined && { ttl }),
      });
      const metadata = await store.metadata(id);
      stored.push(metadata);
      if (!values.json) console.log(inputs.length === 1 ? id : `${id}\t${metadata.filename ?? ""}`);
    }
    if (values.json) console.log(JSON.stringify(inputs.length === 1 ? stored[0] : stored, null, 2));
    if (inputs.length > 1) {
      const total = stored.reduce((n, m) => n + m.bytes, 0);
      console.error(`stored ${stored.length} files, ${humanBytes(total)}, in ${placeOf(stored[0]!)}`);
    }
    return 0;
  });
}

/** "session user_local", "the user scope of alice" or "the shared sandbox scope". */
function placeOf(m: ArtifactMetadata): string {
  if (m.scope === "user") return `the user scope of ${m.userId}`;
  if (m.scope === "sandbox") return "the shared sandbox scope";
  return `session ${m.sessionId}`;
}

async function storeOne(
  store: ArtifactStore,
  input: Input,
  options: Parameters<ArtifactStore["store"]>[1],
): Promise<string> {
  if (input.path === null) return store.store(process.stdin, options);
  const progress = await progressFor(input.filename ?? basename(input.path), input.bytes ?? 0);
  try {
    return await store.store(progress.track(createReadStream(input.path)), options);
  } finally {
    progress.stop();
  }
}

async function updateOne(
  store: ArtifactStore,
  id: string,
  input: Input,
  options: Omit<UpdateFileOptions, "data">,
): Promise<ArtifactMetadata> {
  if (input.path === null) return store.updateFile(id, { ...options, data: process.stdin });
  const progress = await progressFor(input.filename ?? basename(input.path), input.bytes ?? 0);
  try {
    return await store.updateFile(id, { ...options, data: progress.track(createReadStream(input.path)) });
  } finally {
    progress.stop();
  }
}

/** Arguments to files: "-" is standard input, a folder is every regular file under it. */
async function expand(args: string[]): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const arg of args) {
    if (arg === "-") {
      inputs.push({ path: null, filename: null, bytes: null });
      continue;
    }
    const info = await stat(arg); // a missing file fails here, in one line
    if (info.isFile()) {
      inputs.push({ path: arg, filename: basename(arg), bytes: info.size });
      continue;
    }
    if (!info.isDirectory()) throw new UsageError(`${arg} is neither a file nor a folder`);
    const parent = dirname(join(arg, "."));
    const entries = await readdir(arg, { recursive: true, withFileTypes: true });
    const files = entries
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath ?? e.path, e.name))
      .sort();
    if (files.length === 0) throw new UsageError(`${arg} holds no files`);
    for (const file of files) {
      inputs.push({
        path: file,
        filename: relative(parent, file).split(sep).join("/"),
        bytes: (await stat(file)).size,
      });
    }
  }
  if (inputs.filter((i) => i.path === null).length > 1)
    throw new UsageError('"-" (standard input) can be given once');
  return inputs;
}
