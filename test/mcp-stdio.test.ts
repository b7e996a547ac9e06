import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { KEY_ENV, type RunningServer, startServer } from "./http-harness.js";
import {
  type ArtifactView,
  CLIENT_LINES,
  type ClientLine,
  connectStdio,
  type McpClient,
  ok,
} from "./mcp-helpers.js";
import { LIMITS, type McpHarness, mcpServerSuite } from "./mcp-suite.js";

/**
 * `chuk-artifacts mcp` exactly as an MCP client runs it: the built CLI spawned with stdio pipes,
 * driven by the SDK's StdioClientTransport. Its signed URLs are answered by a real
 * `chuk-artifacts serve` on the same folder; neither is given a signing secret, so this also
 * proves they agree on the one kept in the folder.
 */

const repo = resolve(import.meta.dirname, "..");
const cli = join(repo, "dist/cli/main.js");

/** The spawned CLI runs dist/: refuse to test a build older than the sources it comes from. */
function assertBuilt(): void {
  if (!existsSync(cli)) throw new Error("dist/cli/main.js is missing: run `npm run build` first");
  const pairs: [string, string][] = [["src/cli/commands/mcp.ts", "dist/cli/commands/mcp.js"]];
  for (const name of [
    "server",
    "tools",
    "resources",
    "content",
    "errors",
    "listing",
    "uri",
    "stdio",
    "subscriptions",
  ]) {
    pairs.push([`src/mcp/${name}.ts`, `dist/mcp/${name}.js`]);
  }
  for (const [src, out] of pairs) {
    const built = join(repo, out);
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(repo, src)).mtimeMs) {
      throw new Error(`${out} is older than ${src}: run \`npm run build\` first`);
    }
  }
}

let dir: string;
let serve: RunningServer;
const sandbox = `mcp-${randomBytes(4).toString("hex")}`;
const clients: McpClient[] = [];
const stderrOf = new Map<McpClient, string[]>();

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    ARTIFACT_PUBLIC_URL: serve.url,
    ARTIFACT_SANDBOX_ID: sandbox,
    ...extra,
  };
}

async function spawnClient(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; line?: ClientLine } = {},
) {
  const { client, stderr } = await connectStdio(options.line ?? "v2", {
    command: process.execPath,
    args: [cli, "mcp", ...args],
    env: options.env ?? env(),
    cwd: options.cwd ?? dir,
  });
  clients.push(client);
  stderrOf.set(client, stderr);
  return client;
}

const limitFlags = [
  "--max-read-bytes",
  String(LIMITS.maxReadBytes),
  "--max-upload-bytes",
  String(LIMITS.maxUploadBytes),
  "--page-size",
  String(LIMITS.pageSize),
  // The suite expects a default expiry, as the library has; `mcp` alone keeps files forever.
  "--ttl",
  "900",
];

function harnessFor(line: ClientLine): McpHarness {
  const cache = new Map<string, Promise<McpClient>>();
  return {
    client(userId) {
      let client = cache.get(userId);
      if (!client) {
        client = spawnClient(["--fs-root", join(dir, "root"), "--user", userId, ...limitFlags], { line });
        cache.set(userId, client);
      }
      return client;
    },
    clientInSession: (userId, sessionId) =>
      spawnClient(["--fs-root", join(dir, "root"), "--user", userId, "--session", sessionId, ...limitFlags], {
        line,
      }),
    ...LIMITS,
    line,
  };
}

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), "chuk-mcp-stdio-"));
  serve = await startServer({
    args: ["--provider", "filesystem", "--fs-root", join(dir, "root"), "--no-console"],
    env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: sandbox },
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await serve?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

for (const line of CLIENT_LINES) {
  describe(`MCP over stdio (chuk-artifacts mcp), ${line} client`, () => {
    const harness = harnessFor(line);
    mcpServerSuite(() => harness);
  });
}

describe("MCP over stdio (chuk-artifacts mcp)", () => {
  it("keeps files on the filesystem under ./artifacts by default, so they outlive the process", async () => {
    const cwd = await mkdtemp(join(dir, "cwd-"));
    const plainEnv = { PATH: process.env.PATH ?? "", ARTIFACT_SANDBOX_ID: sandbox };
    const first = await spawnClient(["--user", "dora"], { env: plainEnv, cwd });
    const written = await ok<{ artifact: ArtifactView }>(first, "write_file", {
      content: "kept",
      filename: "kept.txt",
      ttl: null,
    });
    await first.close();
    expect(await readdir(join(cwd, "artifacts"))).toContain("grid");

    const second = await spawnClient([], { env: { ...plainEnv, CHUK_MCP_USER: "dora" }, cwd });
    const read = await ok(second, "read_file", { artifactId: written.artifact.artifactId });
    expect(read._result.content[0]).toEqual({ type: "text", text: "kept" });
    // The startup line on stderr names the user, session and storage.
    expect(stderrOf.get(second)!.join("")).toMatch(
      /user dora, session user_dora; storage: filesystem \(.*\); sessions: memory; expiry: artifacts never expire/,
    );
    // What the folder held before the start is indexed for search in the background.
    await vi.waitFor(() =>
      expect(stderrOf.get(second)!.join("")).toMatch(
        /chuk-artifacts mcp: search index built from storage in/,
      ),
    );
    const found = await ok<{ files: ArtifactView[] }>(second, "search_files", { text: "kept" });
    expect(found.files.map((f) => f.filename)).toEqual(["kept.txt"]);

    // --provider memory keeps nothing on disk.
    const memCwd = await mkdtemp(join(dir, "mem-"));
    const mem = await spawnClient(["--provider", "memory"], { env: plainEnv, cwd: memCwd });
    await ok(mem, "write_file", { content: "volatile" });
    expect(await readdir(memCwd)).toEqual([]);
    // The default user is "local".
    const listed = await ok<{ sessionId: string }>(mem, "list_files");
    expect(listed.sessionId).toBe("user_local");
  });

  it("writes nothing but JSON-RPC to stdout, logs (the ephemeral-secret warning too) to stderr", async () => {
    const child = spawn(process.execPath, [cli, "mcp", "--provider", "memory", "--user", "raw"], {
      env: { PATH: process.env.PATH ?? "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    const send = (msg: object) => child.stdin.write(`${JSON.stringify(msg)}\n`);
    const waitFor = async (id: number) => {
      for (let i = 0; i < 200 && !out.split("\n").some((l) => l.includes(`"id":${id}`)); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    });
    await waitFor(1);
    send({ jsonrpc: "2.0", method: "notifications/initialized" });
    send({
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "write_file", arguments: { content: "x" } },
    });
    await waitFor(2);
    const id = /"artifactId": ?\\?"([0-9a-f]{32})/.exec(out)?.[1];
    expect(id).toBeDefined();
    send({
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "presign_download", arguments: { artifactId: id } },
    });
    await waitFor(3);
    send({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "read_file", arguments: "bad" } });
    await waitFor(4);
    child.stdin.write("this is not json\n");
    send({ jsonrpc: "2.0", id: 5, method: "tools/list" });
    await waitFor(5);
    child.stdin.end();
    const code = await new Promise<number | null>((r) => child.on("exit", r));
    expect(code).toBe(0);

    const lines = out.split("\n").filter((l) => l.length > 0);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
    const ids = lines.map((l) => JSON.parse(l).id);
    expect(ids).toEqual(expect.arrayContaining([1, 2, 3, 4, 5]));
    expect(err).toContain("ARTIFACT_SIGNING_SECRET");
    expect(out).not.toContain("ARTIFACT_SIGNING_SECRET");
  });

  it("fails at start, on stderr with a non-zero exit, when the store is misconfigured", async () => {
    const child = spawn(process.execPath, [cli, "mcp", "--provider", "s3"], {
      env: { PATH: process.env.PATH ?? "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    expect(await new Promise((r) => child.on("exit", r))).toBe(2);
    expect(err).toContain("ARTIFACT_BUCKET");
    expect(out).toBe("");
  });

  it("prints its help to stdout and exits 0 without starting", async () => {
    const child = spawn(process.execPath, [cli, "mcp", "--help"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    expect(await new Promise((r) => child.on("exit", r))).toBe(0);
    expect(out).toContain("CHUK_MCP_USER");
    expect(out).toContain("./artifacts");
    expect(out).toContain("--provider memory");
  });
});
