import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "./http-harness.js";

/** The file commands of the built CLI, run as a user runs them, on a filesystem root. */
describe("chuk-artifacts put / ls / get / presign / stats / rm / cleanup", () => {
  let dir: string;
  let flags: string[];
  const cli = (args: string[], input?: Buffer | string) => {
    const result = spawnSync(process.execPath, [CLI, ...args], {
      cwd: dir,
      input,
      env: { PATH: process.env.PATH ?? "", ARTIFACT_SIGNING_SECRET: "cli-test-secret-0123456789" },
    });
    return {
      status: result.status,
      stdout: result.stdout,
      out: result.stdout.toString(),
      err: result.stderr.toString(),
    };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "chuk-cli-"));
    flags = ["--provider", "filesystem", "--fs-root", join(dir, "root")];
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("stores a file and stdin, lists, reads back byte for byte, presigns, and deletes", async () => {
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    await writeFile(join(dir, "data.bin"), bytes);
    const fromFile = cli(["put", "data.bin", "--session", "cli", ...flags]);
    expect(fromFile.status, fromFile.err).toBe(0);
    const fileId = fromFile.out.trim();
    expect(fileId).toMatch(/^[0-9a-f]{32}$/);

    const fromStdin = cli(
      ["put", "--session", "cli", "--mime", "text/plain", "--filename", "docs/a.txt", "--json", ...flags],
      "hello",
    );
    expect(fromStdin.status, fromStdin.err).toBe(0);
    const meta = JSON.parse(fromStdin.out);
    expect(meta).toMatchObject({ sessionId: "cli", mime: "text/plain", filename: "docs/a.txt", bytes: 5 });

    const listed = cli(["ls", "cli", ...flags]);
    expect(listed.status).toBe(0);
    expect(listed.out).toContain(`${fileId}\t3000\tapplication/octet-stream\tdata.bin`);
    expect(listed.out).toContain(`${meta.artifactId}\t5\ttext/plain\tdocs/a.txt`);
    expect(
      cli(["ls", "cli", "--prefix", "docs/", ...flags])
        .out.trim()
        .split("\n"),
    ).toHaveLength(1);

    const got = cli(["get", fileId, ...flags]);
    expect(got.status).toBe(0);
    expect(createHash("sha256").update(got.stdout).digest("hex")).toBe(
      createHash("sha256").update(bytes).digest("hex"),
    );
    expect(cli(["get", fileId, "--out", "copy.bin", ...flags]).status).toBe(0);
    expect(await readFile(join(dir, "copy.bin"))).toEqual(bytes);
    expect(JSON.parse(cli(["get", meta.artifactId, "--meta", ...flags]).out).summary).toBe("");

    const url = cli(["presign", fileId, "--expires", "60", ...flags]).out.trim();
    expect(url).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:8080/signed/grid/chuk-artifacts/cli/${fileId}\\?`),
    );

    const removed = cli(["rm", fileId, ...flags]);
    expect(removed.status).toBe(0);
    expect(cli(["rm", fileId, ...flags]).status).toBe(4);
    const missing = cli(["get", fileId, ...flags]);
    expect(missing.status).toBe(4);
    expect(missing.err).toContain("ARTIFACT_NOT_FOUND");
  });

  it("stats reports live health; cleanup removes what expired", async () => {
    const stats = cli(["stats", ...flags]);
    expect(stats.status, stats.err).toBe(0);
    expect(JSON.parse(stats.out).health.storage.status).toBe("ok");
    expect(cli(["put", "--session", "old", "--ttl", "1", ...flags], "short-lived").status).toBe(0);
    await new Promise((r) => setTimeout(r, 1_100));
    const cleaned = cli(["cleanup", ...flags]);
    expect(cleaned.status).toBe(0);
    expect(cleaned.out).toMatch(/removed [1-9]\d* expired artifacts/);
    expect(cli(["ls", "old", ...flags]).out).toBe("");
  });

  it("refuses bad input with a typed message and a non-zero status", () => {
    const bad = cli(["put", "--provider", "nope"], "x");
    expect(bad.status).toBe(2);
    expect(bad.err).toContain("ARTIFACT_PROVIDER");
    expect(cli(["ls", "../etc", ...flags]).status).toBe(2);
    expect(cli(["frobnicate"]).status).toBe(2);
  });
});
