import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import { bearer, type JsonBody, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";
import { connectHttp, fails, type McpClient, ok } from "./mcp-helpers.js";

/**
 * What a key holder could do to `/mcp` of a real `chuk-artifacts serve` before it was bounded:
 * JSON-RPC batches of file reads made the server hold gigabytes, and tool errors showed server
 * paths. Both against the real server, through raw HTTP and the SDK client.
 */

const MIB = 1024 * 1024;

/** The server's peak resident memory so far (VmHWM), in MiB. */
function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** POSTs one JSON-RPC message or batch as a 2025-03-26 client (the last revision with batches). */
async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: bearer(KEYS.alice, {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2025-03-26",
    }),
    body: JSON.stringify(body),
  });
}

/** Every JSON-RPC answer in a response, JSON or SSE. */
async function answers(response: Response): Promise<{ id: number; result?: JsonBody; error?: JsonBody }[]> {
  const text = await response.text();
  if (text.startsWith("[") || text.startsWith("{")) return [JSON.parse(text)].flat();
  return text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .flatMap((l) => [JSON.parse(l.slice("data: ".length))].flat());
}

describe("/mcp of a real serve under a hostile key holder", () => {
  let dir: string;
  let server: RunningServer;
  let alice: McpClient;
  const sandbox = uniqueSandbox("hard");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "chuk-mcp-hard-"));
    server = await startServer({
      args: ["--provider", "filesystem", "--fs-root", join(dir, "root"), "--no-console"],
      env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: sandbox },
    });
    alice = await connectHttp("v2", `${server.url}/mcp`, bearer(KEYS.alice));
  });

  afterAll(async () => {
    await alice?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("bounds one request: batches are capped and reads share a budget, so memory stays flat", {
    timeout: 120_000,
  }, async () => {
    // A file of exactly the default read limit (1 MiB): one read_file returns all of it.
    const up = await ok<{ artifact: { artifactId: string; bytes: number } }>(alice, "upload_file", {
      contentBase64: randomBytes(MIB).toString("base64"),
      filename: "one-mib.bin",
    });
    expect(up.artifact.bytes).toBe(MIB);
    const read = (id: number) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "read_file", arguments: { artifactId: up.artifact.artifactId } },
    });

    // The batch of the finding (100 reads in a 14 KB request) is refused before any work.
    const hundred = await post(
      `${server.url}/mcp`,
      Array.from({ length: 100 }, (_, i) => read(i)),
    );
    expect(hundred.status).toBe(400);
    expect((await hundred.json()).error.message).toContain("at most 32");

    // Warm up (loads the SDK, fills caches), then note the peak so far.
    const single = await answers(await post(`${server.url}/mcp`, read(1)));
    expect(single[0]!.result.isError).toBeUndefined();
    const before = peakRssMiB(server.pid);

    // Ten allowed batches at once, each 32 reads of the 1 MiB file: before the bound that was
    // 32 MiB of answers held per request; now each request returns at most 2 MiB of content.
    const batches = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const response = await post(
          `${server.url}/mcp`,
          Array.from({ length: 32 }, (_, i) => read(i + 1)),
        );
        expect(response.status).toBe(200);
        return answers(response);
      }),
    );
    const after = peakRssMiB(server.pid);
    console.log(
      `server peak RSS: ${before.toFixed(0)} MiB before, ${after.toFixed(0)} MiB after 10 concurrent batches of 32 x 1 MiB reads`,
    );
    // Unbounded, the same load held 10 x 32 MiB of answers (several GiB with their copies); the
    // budget allows 10 x 2 MiB of content, a few copies each.
    expect(after - before).toBeLessThan(160);

    for (const batch of batches) {
      expect(batch).toHaveLength(32);
      const served = batch.filter((a) => a.result && !a.result.isError);
      const refused = batch.filter((a) => a.result?.isError);
      expect(served.length).toBeLessThanOrEqual(2);
      expect(served.length).toBeGreaterThanOrEqual(1);
      expect(refused.length).toBe(32 - served.length);
      expect(refused[0]!.result._meta["chuk-artifacts/error"].kind).toBe("too_large");
      expect(refused[0]!.result.content[0].text).toContain("request of its own");
    }

    // And the server still answers a normal request promptly.
    const started = Date.now();
    await ok(alice, "list_files");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("tool errors from a failing backend say nothing of server paths or internal messages", async () => {
    // A file where bob's session folder must go: every write of bob's fails in the filesystem.
    const sessionDir = join(dir, "root", "grid", sandbox, "user_bob");
    await mkdir(join(dir, "root", "grid", sandbox), { recursive: true });
    await writeFile(sessionDir, "in the way");
    const bob = await connectHttp("v2", `${server.url}/mcp`, bearer(KEYS.bob));
    try {
      const failed = await fails(bob, "write_file", { content: "x", filename: "a.txt" });
      expect(failed.kind).toBe("backend");
      for (const leak of [dir, "/tmp", "grid", "_tmp", "ENOTDIR", "EEXIST", "ENOENT", sandbox]) {
        expect(failed.text, leak).not.toContain(leak);
      }
      expect(failed.text).toBe(
        "Storage backend failed: the storage or session backend failed; details are in the server's log",
      );

      // REST answers the same failure with a generic 502, and the detail goes to the server's log.
      const rest = await fetch(`${server.url}/v1/artifacts`, {
        method: "POST",
        headers: bearer(KEYS.bob, { "content-type": "text/plain", "x-filename": "b.txt" }),
        body: "y",
      });
      expect(rest.status).toBe(502);
      expect(await rest.text()).not.toContain(dir);
      expect(server.output()).toContain(sessionDir);
    } finally {
      await bob.close();
      await rm(sessionDir, { force: true });
    }
  });
});
