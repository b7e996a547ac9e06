import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CLI, startServer } from "./http-harness.js";

/**
 * The built CLI run as a person runs it, in a folder with no configuration at all: every command,
 * its --json output parsed, its errors and exit codes, a 200 MB round trip, and a URL `presign`
 * printed that `serve` on the same folder accepts.
 */

// Only PATH: no developer settings leak in, so the defaults are what is tested.
const ENV = { PATH: process.env.PATH ?? "" };

let dir: string;
const cli = (args: string[], input?: Buffer | string, env: Record<string, string> = {}) => {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    input,
    env: { ...ENV, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return {
    status: result.status,
    stdout: result.stdout,
    out: result.stdout.toString(),
    err: result.stderr.toString(),
  };
};
const ok = (args: string[], input?: Buffer | string) => {
  const r = cli(args, input);
  expect(r.status, `${args.join(" ")}: ${r.err}`).toBe(0);
  return r;
};
// biome-ignore lint/suspicious/noExplicitAny: parsed CLI output, checked field by field
const parsed = (args: string[], input?: string): any => JSON.parse(ok([...args, "--json"], input).out);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "chuk-cli-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("chuk-artifacts file commands on the shared defaults", () => {
  it("puts files, a folder and stdin into ./artifacts with types from the extension, never expiring", async () => {
    await writeFile(join(dir, "hello.txt"), "hello");
    await mkdir(join(dir, "site", "img"), { recursive: true });
    await writeFile(join(dir, "site", "index.html"), "<h1>hi</h1>");
    await writeFile(join(dir, "site", "img", "logo.svg"), "<svg/>");

    const one = ok(["put", "hello.txt"]).out.trim();
    expect(one).toMatch(/^[0-9a-f]{32}$/);
    const meta = parsed(["meta", one]);
    expect(meta).toMatchObject({
      filename: "hello.txt",
      mime: "text/plain",
      bytes: 5,
      sessionId: "user_local",
      ttl: null,
      expiresAt: null,
      storageProvider: "filesystem",
    });
    expect((await stat(join(dir, "artifacts", "_signing-secret"))).isFile()).toBe(true);

    const several = cli(["put", "site", "hello.txt", "--json"]);
    expect(several.status, several.err).toBe(0);
    const items = JSON.parse(several.out);
    expect(items.map((m: { filename: string; mime: string }) => [m.filename, m.mime])).toEqual([
      ["site/img/logo.svg", "image/svg+xml"],
      ["site/index.html", "text/html"],
      ["hello.txt", "text/plain"],
    ]);
    expect(several.err.trim()).toBe("stored 3 files, 22 B, in session user_local");

    const plain = ok(["put", "site"]).out.trim().split("\n");
    expect(plain).toHaveLength(2);
    expect(plain[0]).toMatch(/^[0-9a-f]{32}\tsite\/img\/logo\.svg$/);

    const fromStdin = parsed(
      ["put", "--filename", "notes.md", "--summary", "from a pipe", "--ttl", "3600"],
      "# hi",
    );
    expect(fromStdin).toMatchObject({
      filename: "notes.md",
      mime: "text/markdown",
      summary: "from a pipe",
      ttl: 3600,
    });
    expect(parsed(["put", "hello.txt", "--mime", "text/x-greeting"]).mime).toBe("text/x-greeting");

    const listing = parsed(["ls"]);
    expect(listing).toHaveLength(8);
    expect(listing[0].filename).toBe("hello.txt"); // newest first
    const stored = listing.map((m: { storedAt: string }) => m.storedAt);
    expect([...stored].sort().reverse()).toEqual(stored);
    expect(ok(["ls", "--prefix", "site/img/"]).out.trim().split("\n")).toHaveLength(2);
    expect(ok(["ls"]).out.split("\n")[0]).toMatch(/^[0-9a-f]{32}\t5\ttext\/x-greeting\t\S+Z\thello\.txt$/);
  });

  it("gets to stdout, -o -, and -o FILE; meta, cp, mv, presign, rm, stats and cleanup with --json", async () => {
    const bytes = randomBytes(3000);
    await writeFile(join(dir, "data.bin"), bytes);
    const id = ok(["put", "data.bin"]).out.trim();

    expect(ok(["get", id]).stdout.equals(bytes)).toBe(true);
    expect(ok(["get", id, "-o", "-"]).stdout.equals(bytes)).toBe(true);
    const written = parsed(["get", id, "-o", "copy.bin"]);
    expect(written).toMatchObject({ artifactId: id, bytes: 3000 });
    expect((await readFile(join(dir, "copy.bin"))).equals(bytes)).toBe(true);
    expect(parsed(["get", id]).sha256).toBe(createHash("sha256").update(bytes).digest("hex"));

    const updated = parsed(["meta", id, "--summary", "raw data", "--meta", '{"run":7}', "--ttl", "never"]);
    expect(updated).toMatchObject({ summary: "raw data", meta: { run: 7 }, ttl: null });
    expect(ok(["meta", id]).out).toContain("summary: raw data\n");

    const copy = parsed(["cp", id, "data-copy.bin"]);
    expect(copy).toMatchObject({ filename: "data-copy.bin", sessionId: "user_local", bytes: 3000 });
    expect(copy.artifactId).not.toBe(id);
    expect(parsed(["mv", copy.artifactId, "archive/data.bin"])).toMatchObject({
      artifactId: copy.artifactId,
      filename: "archive/data.bin",
    });

    const link = parsed(["presign", id, "--expires", "120"]);
    expect(link.url).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:8080/signed/grid/chuk-artifacts/user_local/${id}\\?`),
    );
    expect(Date.parse(link.expiresAt) - Date.now()).toBeGreaterThan(100_000);

    expect(parsed(["rm", copy.artifactId, id])).toEqual([
      { artifactId: copy.artifactId, deleted: true },
      { artifactId: id, deleted: true },
    ]);
    const again = cli(["rm", id, "--json"]);
    expect(again.status).toBe(1);
    expect(JSON.parse(again.out)).toEqual([{ artifactId: id, deleted: false }]);

    const stats = parsed(["stats"]);
    expect(stats.health.storage).toMatchObject({ status: "ok", provider: "filesystem" });
    expect(stats.stats.defaultTtl).toBeNull();
    expect(ok(["stats"]).out).toMatch(/^storage: ok \(filesystem\)/);

    ok(["put", "data.bin", "--session", "old", "--ttl", "1"]);
    await new Promise((r) => setTimeout(r, 1_100));
    expect(parsed(["cleanup"]).removed).toBeGreaterThanOrEqual(1);
    expect(parsed(["ls", "old"])).toEqual([]);
  });

  it("fails in one line with exit 1 (a failure) or 2 (a usage mistake)", async () => {
    await mkdir(join(dir, "a-folder"), { recursive: true });
    await mkdir(join(dir, "empty-folder"), { recursive: true });
    const id = ok(["put", "hello.txt"]).out.trim();
    const cases: [string[], number, RegExp][] = [
      [["put", "missing.txt"], 1, /^chuk-artifacts: missing\.txt: no such file or directory$/],
      [["get", id, "-o", "a-folder"], 1, /a-folder: is a directory$/],
      [["put", "empty-folder"], 2, /empty-folder holds no files \(see --help\)$/],
      [["get", "../etc/passwd"], 2, /^chuk-artifacts: VALIDATION_ERROR: artifactId/],
      [["get", "0123456789abcdef0123456789abcdef"], 1, /^chuk-artifacts: ARTIFACT_NOT_FOUND: /],
      [["put", "hello.txt", "--bogus"], 2, /^chuk-artifacts: Unknown option '--bogus' \(see --help\)$/],
      [["presign", id, "--expires", "soon"], 2, /--expires must be a whole number/],
      [["put", "hello.txt", "--ttl=-5"], 2, /--ttl must be whole seconds or "never"/],
      [["put", "hello.txt", "--ttl", "-5"], 2, /Option '--ttl' argument is ambiguous\. Did you forget/],
      [["meta", id, "--meta", "[1]"], 2, /--meta must be a JSON object/],
      [["get"], 2, /get takes one ARTIFACT_ID/],
      [["mv", id], 2, /mv takes ARTIFACT_ID and NEW_FILENAME/],
      [["ls", "../etc"], 2, /VALIDATION_ERROR/],
      [["put", "hello.txt", "--provider", "nope"], 2, /ARTIFACT_PROVIDER/],
      [["frobnicate"], 2, /unknown command "frobnicate"/],
    ];
    for (const [args, status, message] of cases) {
      const r = cli(args);
      expect({ args, status: r.status }).toEqual({ args, status });
      const firstLine = r.err.split("\n")[0]!;
      expect(firstLine, args.join(" ")).toMatch(message);
      if (args[0] !== "frobnicate") expect(r.err.trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("round-trips 200 MB with the same sha256, streaming both ways", async () => {
    const big = join(dir, "big.bin");
    const chunk = randomBytes(1024 * 1024);
    const hash = createHash("sha256");
    const parts: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      chunk[0] = i; // every MiB differs
      parts.push(Buffer.from(chunk));
      hash.update(chunk);
    }
    await writeFile(big, Buffer.concat(parts));
    parts.length = 0;
    const expected = hash.digest("hex");
    const put = parsed(["put", "big.bin"]);
    expect(put).toMatchObject({
      bytes: 200 * 1024 * 1024,
      sha256: expected,
      mime: "application/octet-stream",
    });
    ok(["get", put.artifactId, "-o", "big-back.bin"]);
    const back = createHash("sha256");
    for await (const piece of createReadStream(join(dir, "big-back.bin"))) back.update(piece as Buffer);
    expect(back.digest("hex")).toBe(expected);
    await rm(big);
    await rm(join(dir, "big-back.bin"));
  }, 120_000);

  it("draws a progress bar on a terminal's stderr only", async () => {
    await writeFile(join(dir, "eight.bin"), randomBytes(8 * 1024 * 1024));
    const piped = cli(["put", "eight.bin"]);
    expect(piped.status).toBe(0);
    expect(piped.err).toBe("");
    // `script` gives the command a real terminal, as a person's shell does.
    const command = `${process.execPath} ${CLI} put eight.bin 2>&1 >/dev/null`;
    const tty = spawnSync("script", ["-qec", command, "/dev/null"], {
      cwd: dir,
      env: { ...ENV, TERM: "xterm" },
    });
    expect(tty.status, tty.stderr.toString()).toBe(0);
    const drawn = tty.stdout.toString();
    expect(drawn).toContain("eight.bin");
    expect(drawn).toContain("100%");
    expect(drawn).toContain("8.0 MB of 8.0 MB");
    // get to a redirected stdout draws one too; to a file with stderr piped, none.
    const id = ok(["put", "eight.bin"]).out.trim();
    const getting = `${process.execPath} ${CLI} get ${id} 2>&1 >/dev/null`;
    const got = spawnSync("script", ["-qec", getting, "/dev/null"], {
      cwd: dir,
      env: { ...ENV, TERM: "xterm" },
    });
    expect(got.stdout.toString()).toContain("100%");
    expect(cli(["get", id, "-o", "eight-back.bin"]).err).toBe("");
  });

  it("presigns a URL that serve, started later on the same folder, accepts", async () => {
    await writeFile(join(dir, "share.txt"), "shared through serve");
    const id = ok(["put", "share.txt"]).out.trim();
    const url = new URL(ok(["presign", id]).out.trim());
    const server = await startServer({ cwd: dir });
    try {
      // The URL names the default address; the server listens on a free port of its own.
      const res = await fetch(`${server.url}${url.pathname}${url.search}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain");
      expect(await res.text()).toBe("shared through serve");
      // Files the CLI put are in the session the generated key's user sees.
      const listed = await fetch(`${server.url}/v1/artifacts`, {
        headers: { authorization: `Bearer ${server.generatedKey}` },
      });
      const names = ((await listed.json()) as { items: { filename: string }[] }).items.map((m) => m.filename);
      expect(names).toContain("share.txt");
      // What was stored before the server started is indexed for search as it starts.
      await vi.waitFor(() => expect(server.output()).toMatch(/search index built from storage in [\d.]+ s/));
      const found = await fetch(`${server.url}/v1/search?text=share`, {
        headers: { authorization: `Bearer ${server.generatedKey}` },
      });
      const hits = ((await found.json()) as { items: { filename: string }[] }).items.map((m) => m.filename);
      expect(hits).toEqual(["share.txt"]);
    } finally {
      await server.stop();
    }
  });
});
