import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "./http-harness.js";

/**
 * The README's REST walkthrough, run as written against the zero-config `serve` (the README's run
 * command): only the pasted key and the port are substituted.
 */
const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const block = /<!-- rest-walkthrough -->\n```bash\n([\s\S]*?)```/.exec(readme)?.[1];

describe("README REST walkthrough", () => {
  let server: RunningServer;
  let cwd: string;
  beforeAll(async () => {
    cwd = await mkdtemp(join(tmpdir(), "chuk-readme-"));
    server = await startServer({ cwd });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(cwd, { recursive: true, force: true });
  });

  it("runs as written, every curl succeeding", async () => {
    expect(block).toBeDefined();
    expect(block).toContain("KEY=ca_paste_the_key_serve_printed");
    expect(server.generatedKey).toMatch(/^ca_/);
    const port = new URL(server.url).port;
    const script = block!
      .replace("KEY=ca_paste_the_key_serve_printed", `KEY=${server.generatedKey}`)
      .replaceAll("127.0.0.1:8080", `127.0.0.1:${port}`);
    const { stdout } = await promisify(execFile)("bash", ["-euo", "pipefail", "-c", script], { cwd });
    // The download and the signed URL both printed the content; the upload was registered.
    expect(stdout.match(/Hello, world!/g)?.length).toBe(2);
    expect(stdout).toContain('"summary":"renamed"');
    expect(stdout).toMatch(/"filename":"notes.txt"[^}]*"bytes":17/);
    // The form upload with scope=user printed its scope.
    expect(stdout).toMatch(/\buser\n/);
  });
});
