#!/usr/bin/env node
/**
 * `chuk-artifacts <command>`: each command lives in its own module under ./commands and is
 * imported only when run, so `put` never loads the HTTP or MCP stacks.
 */
const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> }
> = {
  serve: {
    summary: "run the HTTP server (signed URLs, REST API, MCP at /mcp, console)",
    load: () => import("./commands/serve.js"),
  },
  mcp: { summary: "run the MCP server on stdio", load: () => import("./commands/mcp.js") },
  put: { summary: "store files, folders or stdin", load: () => import("./commands/put.js") },
  get: { summary: "write an artifact's bytes to stdout or a file", load: () => import("./commands/get.js") },
  ls: { summary: "list a session's artifacts", load: () => import("./commands/ls.js") },
  find: {
    summary: "search artifacts by type, name, meta, date and text",
    load: () => import("./commands/find.js"),
  },
  usage: {
    summary: "print the bytes and artifacts a user or session holds",
    load: () => import("./commands/usage.js"),
  },
  rm: { summary: "delete artifacts", load: () => import("./commands/rm.js") },
  cp: { summary: "copy an artifact within its session", load: () => import("./commands/cp.js") },
  mv: { summary: "rename an artifact (a new filename)", load: () => import("./commands/mv.js") },
  meta: { summary: "show or change an artifact's metadata", load: () => import("./commands/meta.js") },
  versions: {
    summary: "list the versions kept of an artifact",
    load: () => import("./commands/versions.js"),
  },
  restore: {
    summary: "make an earlier version the current one (a new version)",
    load: () => import("./commands/restore.js"),
  },
  checkpoint: {
    summary: "create, list or restore a session's checkpoints",
    load: () => import("./commands/checkpoint.js"),
  },
  presign: { summary: "print a signed download URL", load: () => import("./commands/presign.js") },
  stats: { summary: "print configuration and provider health", load: () => import("./commands/stats.js") },
  cleanup: { summary: "delete expired artifacts and sessions", load: () => import("./commands/cleanup.js") },
  bench: {
    summary: "benchmark every provider against its raw backend",
    load: () => import("./commands/bench.js"),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: chuk-artifacts <command> [options]\n\ncommands:\n${lines.join("\n")}\n\nRun "chuk-artifacts <command> --help" for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`chuk-artifacts: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    // A bad flag (exit 2) or any other failure (exit 1), in one line.
    const { reportError } = await import("./args.js");
    process.exitCode = reportError(err);
  },
);
