import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import { bearer, json, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * Artifact files are private to the server's user: everything the filesystem driver writes under
 * its root is 0600 (files) and 0700 (folders), whatever the process umask, so another local user
 * can read none of it. Checked on a real `serve` after a direct upload, a signed upload and an
 * update, by stat-ing every entry under the root.
 */

describe("filesystem storage file modes", () => {
  let root: string;
  let server: RunningServer;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "chuk-modes-"));
    server = await startServer({
      args: ["--provider", "filesystem", "--fs-root", root],
      env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("modes") },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function entries(dir: string): Promise<{ path: string; dir: boolean; mode: number }[]> {
    const out: { path: string; dir: boolean; mode: number }[] = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      out.push({ path, dir: entry.isDirectory(), mode: (await stat(path)).mode & 0o777 });
      if (entry.isDirectory()) out.push(...(await entries(path)));
    }
    return out;
  }

  it("writes files 0600 and folders 0700", async () => {
    const up = await fetch(`${server.url}/v1/artifacts?filename=a.txt`, {
      method: "POST",
      headers: bearer(KEYS.alice, { "content-type": "text/plain" }),
      body: "private",
    });
    expect(up.status).toBe(201);
    const { artifactId } = (await up.json()) as { artifactId: string };
    const replaced = await fetch(`${server.url}/v1/artifacts/${artifactId}`, {
      method: "PUT",
      headers: bearer(KEYS.alice, { "content-type": "text/plain" }),
      body: "still private",
    });
    expect(replaced.status).toBe(200);
    const slot = (await json(`${server.url}/v1/uploads`, "POST", KEYS.alice, { mimeType: "text/plain" }))
      .body;
    const put = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "signed" });
    expect(put.status).toBe(200);
    const registered = await json(
      `${server.url}/v1/uploads/${slot.artifactId}/register`,
      "POST",
      KEYS.alice,
      {},
    );
    expect(registered.status).toBe(201);

    const all = await entries(root);
    expect(all.filter((e) => !e.dir).length).toBeGreaterThanOrEqual(3);
    expect(all.filter((e) => e.dir).length).toBeGreaterThanOrEqual(3);
    const wrong = all
      .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600))
      .map((e) => `${e.path.slice(root.length)} ${e.mode.toString(8)}`);
    expect(wrong).toEqual([]);
    expect((await stat(root)).mode & 0o077).toBe(0);
  });
});
