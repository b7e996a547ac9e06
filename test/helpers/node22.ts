import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where the Node 22 tools are installed once and reused (inside node_modules: never committed). */
export const NODE22_DIR = resolve(import.meta.dirname, "../../node_modules/.cache/chuk-node22");

/** Versions pinned so every run (and CI's fresh clone) tests against the same tools. */
const PACKAGES = [
  "node@22",
  "@modelcontextprotocol/conformance@0.1.16",
  "@modelcontextprotocol/inspector@2.12.0",
];

/**
 * Node 22 (from the `node` npm package, which ships the binary), the MCP conformance package and
 * the MCP Inspector, installed into a folder of their own with the project's npm: the system Node
 * stays what it is. Returns the Node 22 binary and the two CLI scripts.
 */
export async function node22Tools(): Promise<{ node: string; conformance: string; inspector: string }> {
  const node = join(NODE22_DIR, "node_modules/node/bin/node");
  const conformance = join(NODE22_DIR, "node_modules/@modelcontextprotocol/conformance/dist/index.js");
  const inspector = join(
    NODE22_DIR,
    "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js",
  );
  if (![node, conformance, inspector].every((path) => existsSync(path))) {
    await mkdir(NODE22_DIR, { recursive: true });
    await run(
      "npm",
      [
        "install",
        "--prefix",
        NODE22_DIR,
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        ...PACKAGES,
      ],
      { timeout: 300_000 },
    );
  }
  const { stdout } = await run(node, ["--version"]);
  if (!stdout.startsWith("v22.")) throw new Error(`expected Node 22 from the node package, got ${stdout}`);
  return { node, conformance, inspector };
}
