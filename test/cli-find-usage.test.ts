import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI } from "./http-harness.js";

/** `chuk-artifacts find` and `chuk-artifacts usage`, built, run in a folder with no configuration. */

let dir: string;
const cli = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
};
const ok = (args: string[], env: Record<string, string> = {}) => {
  const r = cli(args, env);
  expect(r.status, `${args.join(" ")}: ${r.err}`).toBe(0);
  return r.out;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "chuk-cli-find-"));
  await writeFile(join(dir, "q1.pdf"), "%PDF-1.4 q1");
  await writeFile(join(dir, "chart.png"), "not really a png");
  await writeFile(join(dir, "notes.txt"), "quarterly notes");
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("chuk-artifacts find and usage", () => {
  it("finds by type, name glob, meta and words; prints usage against the quota", () => {
    ok(["put", "q1.pdf", "--filename", "reports/q1.pdf", "--meta", '{"team":"red"}']);
    ok(["put", "chart.png", "--filename", "img/chart.png"]);
    ok(["put", "notes.txt", "--summary", "quarterly summary"]);
    const names = (args: string[]) =>
      (JSON.parse(ok(["find", ...args, "--json"])) as { filename: string }[]).map((m) => m.filename).sort();
    expect(names(["--mime", "image/*"])).toEqual(["img/chart.png"]);
    expect(names(["--name", "reports/*.pdf"])).toEqual(["reports/q1.pdf"]);
    expect(names(["--meta", "team=red"])).toEqual(["reports/q1.pdf"]);
    expect(names(["--text", "quarterly"])).toEqual(["notes.txt"]);
    expect(names(["--user", "somebody-else"])).toEqual([]);
    expect(ok(["find", "--name", "img/*"]).trim().split("\t").at(-1)).toBe("img/chart.png");

    const bytes = "%PDF-1.4 q1".length + "not really a png".length + "quarterly notes".length;
    expect(JSON.parse(ok(["usage", "--json"]))).toEqual({
      scope: "user",
      id: "local",
      usage: { bytes, artifacts: 3 },
      limit: null,
    });
    expect(ok(["usage"], { ARTIFACT_QUOTA_USER_ARTIFACTS: "10" }).trim()).toBe(
      `user local: ${bytes} bytes, 3 of 10 artifacts`,
    );
    const refused = cli(["put", "q1.pdf"], { ARTIFACT_QUOTA_USER_ARTIFACTS: "3" });
    expect(refused.status).toBe(1);
    expect(refused.err).toContain("QUOTA_EXCEEDED");
    expect(cli(["find", "--meta", "novalue"]).status).toBe(2);

    ok(["put", "notes.txt", "--scope", "user", "--filename", "own/kept.txt"]);
    ok(["put", "notes.txt", "--scope", "sandbox", "--filename", "team/shared.txt"]);
    expect(names(["--scope", "user"])).toEqual(["own/kept.txt"]);
    expect(names(["--scope", "sandbox", "--user", "somebody-else"])).toEqual(["team/shared.txt"]);
    expect(names(["--scope", "user", "--user", "somebody-else"])).toEqual([]);
    expect(cli(["find", "--scope", "everything"]).status).toBe(2);
  });
});
