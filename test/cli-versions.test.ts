import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "./http-harness.js";

/**
 * Scopes, versions and checkpoints through the built CLI, run as a person runs it in a folder with
 * no configuration (the filesystem store under ./artifacts): output parsed, exit codes checked.
 */

const ENV = { PATH: process.env.PATH ?? "" };
let dir: string;
const cli = (args: string[], input?: string) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, input, env: ENV });
  return { status: r.status, out: r.stdout.toString(), err: r.stderr.toString() };
};
const ok = (args: string[], input?: string) => {
  const r = cli(args, input);
  expect(r.status, `${args.join(" ")}: ${r.err}`).toBe(0);
  return r.out;
};
// biome-ignore lint/suspicious/noExplicitAny: parsed CLI output, checked field by field
const parsed = (args: string[], input?: string): any => JSON.parse(ok([...args, "--json"], input));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "chuk-cli-versions-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("chuk-artifacts scopes, versions and checkpoints", () => {
  it("puts into the session, the user's own scope and the shared sandbox scope, and lists each", () => {
    const inSession = ok(["put", "--filename", "notes.txt"], "session").trim();
    const mine = parsed(["put", "--scope", "user", "--filename", "profile.json"], "{}");
    expect(mine).toMatchObject({ scope: "user", userId: "local", sessionId: "_u-local" });
    const shared = parsed(["put", "--scope", "sandbox", "--filename", "template.md"], "# T");
    expect(shared).toMatchObject({ scope: "sandbox", sessionId: "_shared" });

    const ids = (args: string[]) => parsed(["ls", ...args]).map((m: { artifactId: string }) => m.artifactId);
    expect(ids([])).toEqual([inSession]);
    expect(ids(["--scope", "user"])).toEqual([mine.artifactId]);
    expect(ids(["--scope", "sandbox"])).toEqual([shared.artifactId]);
    expect(ok(["ls", "--scope", "user"])).toMatch(
      new RegExp(`^${mine.artifactId}\\t2\\tapplication/json\\t.*\\tprofile\\.json\\n$`),
    );
    // Another user sees the shared file but neither the session's nor local's own one.
    expect(ok(["get", shared.artifactId, "--user", "bob"])).toBe("# T");
    expect(ids(["--scope", "user", "--user", "bob"])).toEqual([]);
    const denied = cli(["get", mine.artifactId, "--user", "bob"]);
    expect(denied.status).toBe(1);
    expect(denied.err).toMatch(/^chuk-artifacts: ACCESS_DENIED: /);

    // Only a trusted call writes the sandbox scope; a bad scope is a usage mistake.
    const untrusted = cli(["put", "--scope", "sandbox", "--user", "bob"], "x");
    expect(untrusted.status).toBe(1);
    expect(untrusted.err).toMatch(/ACCESS_DENIED/);
    const bad = cli(["put", "--scope", "world"], "x");
    expect(bad.status).toBe(2);
    expect(bad.err.trim()).toBe(
      "chuk-artifacts: --scope must be one of session, user, sandbox (got world) (see --help)",
    );
    expect(cli(["ls", "user_local", "--scope", "user"]).status).toBe(2);
  });

  it("writes new versions, lists them, reads and presigns an old one, and restores it", () => {
    const id = ok(["put", "--filename", "report.md"], "# v1").trim();
    const v1 = parsed(["meta", id]);
    expect(v1).toMatchObject({ version: 1 });
    expect(ok(["put", "--update", id], "# v2 longer")).toBe(`${id}\tversion 2\n`);

    const versions = parsed(["versions", id]);
    expect(versions.map((v: { version: number; bytes: number }) => [v.version, v.bytes])).toEqual([
      [2, 11],
      [1, 4],
    ]);
    expect(versions[1]).toMatchObject({ sha256: v1.sha256, etag: v1.etag });
    expect(ok(["versions", id]).split("\n")[0]).toMatch(/^2\t11\t\S+\t[0-9a-f]{64}\t\S+$/);

    expect(ok(["get", id])).toBe("# v2 longer");
    expect(ok(["get", id, "--version", "1"])).toBe("# v1");
    expect(ok(["presign", id, "--version", "1"]).trim()).toMatch(/^http:\/\/127\.0\.0\.1:8080\/signed\//);

    // A stale etag writes nothing.
    const stale = cli(["put", "--update", id, "--if-match", v1.etag], "# lost");
    expect(stale.status).toBe(1);
    expect(stale.err).toMatch(/^chuk-artifacts: CONFLICT: /);
    expect(parsed(["meta", id]).version).toBe(2);

    expect(ok(["restore", id, "--version", "1"])).toBe(`restored ${id} version 1 as version 3\n`);
    expect(ok(["get", id])).toBe("# v1");
    expect(parsed(["versions", id]).map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);

    const missing = cli(["get", id, "--version", "9"]);
    expect(missing.status).toBe(1);
    expect(missing.err).toMatch(/^chuk-artifacts: ARTIFACT_NOT_FOUND: /);
    expect(cli(["get", id, "--version", "0"]).status).toBe(2);
    expect(cli(["restore", id]).status).toBe(2);
    expect(cli(["put", "--if-match", "x"], "x").status).toBe(2);
  });

  it("creates, lists and restores a session's checkpoints", () => {
    const session = ["--session", "work"];
    const a = ok(["put", ...session, "--filename", "a.txt"], "a1").trim();
    const b = ok(["put", ...session, "--filename", "b.txt"], "b1").trim();
    const checkpoint = parsed(["checkpoint", "create", ...session, "--name", "before edits"]);
    expect(checkpoint).toMatchObject({ sessionId: "work", name: "before edits" });
    expect(checkpoint.checkpointId).toMatch(/^cp-[0-9a-f]{32}$/);
    expect(ok(["checkpoint", "list", ...session])).toBe(
      `${checkpoint.checkpointId}\t${checkpoint.createdAt}\t2\tbefore edits\n`,
    );

    ok(["put", "--update", a, ...session], "a2");
    const c = ok(["put", ...session, "--filename", "c.txt"], "c1").trim();
    const restored = ok(["checkpoint", "restore", checkpoint.checkpointId, ...session]);
    expect(restored.trim().split("\n").sort()).toEqual(
      [`restored\t${a}`, `unchanged\t${b}`, `deleted\t${c}`].sort(),
    );
    expect(ok(["get", a])).toBe("a1");
    expect(parsed(["meta", a]).version).toBe(3);
    expect(cli(["get", c]).status).toBe(1);

    expect(cli(["checkpoint", "restore", "cp-nope", ...session]).status).toBe(2);
    expect(cli(["checkpoint", "undo"]).status).toBe(2);
    expect(cli(["checkpoint", "list", "--name", "x"]).status).toBe(2);
  });
});
