import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import { node22Tools } from "./helpers/node22.js";
import { CLI, type JsonBody, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * The MCP Inspector's CLI (`mcp-inspector --cli`, 2.12 on Node 22) as a third client: over stdio
 * it spawns `chuk-artifacts mcp`, over Streamable HTTP it calls a real serve's /mcp with a key.
 */

describe("MCP Inspector CLI against chuk-artifacts", () => {
  let tools: Awaited<ReturnType<typeof node22Tools>>;
  let dir: string;
  let serve: RunningServer;

  /** Runs the Inspector CLI with `args`; returns its parsed JSON output. */
  async function inspect(args: string[]): Promise<JsonBody> {
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile(
        tools.node,
        [tools.inspector, "--cli", ...args],
        {
          cwd: dir,
          timeout: 60_000,
          env: { PATH: process.env.PATH ?? "", MCP_CATALOG_PATH: join(dir, "catalog.json") },
        },
        (err, out, errOut) =>
          err ? reject(new Error(`${err.message}\n${out}\n${errOut}`)) : resolve({ stdout: out }),
      ),
    );
    return JSON.parse(stdout);
  }

  const stdio = (...method: string[]) => [
    process.execPath,
    CLI,
    "mcp",
    "--fs-root",
    join(dir, "root"),
    "--user",
    "ivy",
    "-e",
    `ARTIFACT_SANDBOX_ID=${sandbox}`,
    ...method,
  ];
  const sandbox = uniqueSandbox("inspector");

  beforeAll(async () => {
    tools = await node22Tools();
    dir = await mkdtemp(join(tmpdir(), "chuk-inspector-"));
    serve = await startServer({ args: ["--provider", "memory", "--no-console"], env: KEY_ENV });
  }, 360_000);

  afterAll(async () => {
    await serve?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("over stdio: lists the tools, writes a file and reads it back as a resource", {
    timeout: 120_000,
  }, async () => {
    const listed = await inspect(stdio("--method", "tools/list"));
    expect(listed.tools.map((t: { name: string }) => t.name)).toContain("read_file");
    expect(
      listed.tools.every((t: { outputSchema?: { type: string } }) => t.outputSchema?.type === "object"),
    ).toBe(true);
    const written = await inspect(
      stdio(
        "--method",
        "tools/call",
        "--tool-name",
        "write_file",
        "--tool-arg",
        "content=hello",
        "filename=a.txt",
      ),
    );
    const uri = written.structuredContent.artifact.uri as string;
    expect(uri).toMatch(/^artifact:\/\/user_ivy\//);
    const read = await inspect(stdio("--method", "resources/read", "--uri", uri));
    expect(read.contents[0]).toMatchObject({ uri, text: "hello" });
  });

  it("over Streamable HTTP with a bearer key: calls tools on a real serve", {
    timeout: 120_000,
  }, async () => {
    const http = (...method: string[]) => [
      `${serve.url}/mcp`,
      "--transport",
      "http",
      "--header",
      `Authorization: Bearer ${KEYS.alice}`,
      ...method,
    ];
    const written = await inspect(
      http("--method", "tools/call", "--tool-name", "write_file", "--tool-arg", "content=over http"),
    );
    expect(written.structuredContent.artifact.uri).toMatch(/^artifact:\/\/user_alice\//);
    const listed = await inspect(http("--method", "resources/list"));
    expect(listed.resources.map((r: { uri: string }) => r.uri)).toContain(
      written.structuredContent.artifact.uri,
    );
  });
});
