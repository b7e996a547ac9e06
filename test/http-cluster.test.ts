import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uniqueSandbox } from "./fixtures.js";
import { bearer, json, KEY_ENV, KEYS, type RunningServer, s3RedisEnv, startServer } from "./http-harness.js";

/**
 * Two server processes on shared storage act as one service: what one stores, signs or starts,
 * the other lists, serves and finishes. S3 (RGW) + Redis, and one filesystem root.
 */

function pair(
  name: string,
  setup: () => Promise<{ args: string[]; env: Record<string, string>; dir?: string }>,
) {
  describe(`two servers on ${name}`, () => {
    let a: RunningServer;
    let b: RunningServer;
    let dir: string | undefined;

    beforeAll(async () => {
      const config = await setup();
      dir = config.dir;
      [a, b] = await Promise.all([startServer(config), startServer(config)]);
    });
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** The same signed URL, sent to the other server (only meaningful for this package's URLs). */
    const via = (server: RunningServer, url: string) => {
      const u = new URL(url);
      return u.origin === new URL(a.url).origin ? `${server.url}${u.pathname}${u.search}` : url;
    };

    it("list and read each other's artifacts, with ownership kept", async () => {
      const up = await fetch(`${a.url}/v1/artifacts?filename=shared.txt`, {
        method: "POST",
        headers: bearer(KEYS.alice, { "content-type": "text/plain" }),
        body: "stored on a",
      });
      const { artifactId } = (await up.json()) as { artifactId: string };
      const listed = await json(`${b.url}/v1/artifacts`, "GET", KEYS.alice);
      expect(listed.body.items.map((m: { artifactId: string }) => m.artifactId)).toContain(artifactId);
      const read = await fetch(`${b.url}/v1/artifacts/${artifactId}`, { headers: bearer(KEYS.alice) });
      expect(await read.text()).toBe("stored on a");
      expect((await fetch(`${b.url}/v1/artifacts/${artifactId}`, { headers: bearer(KEYS.bob) })).status).toBe(
        403,
      );
    });

    it("serve each other's signed URLs: a download signed by a, fetched from b", async () => {
      const up = await fetch(`${a.url}/v1/artifacts`, {
        method: "POST",
        headers: bearer(KEYS.alice, { "content-type": "text/plain" }),
        body: "signed by a",
      });
      const { artifactId } = (await up.json()) as { artifactId: string };
      const { url } = (await json(`${a.url}/v1/artifacts/${artifactId}/presign`, "POST", KEYS.alice, {}))
        .body;
      expect(await (await fetch(via(b, url))).text()).toBe("signed by a");
    });

    it("finish each other's uploads: reserved on a, sent through b, registered on a", async () => {
      const slot = (await json(`${a.url}/v1/uploads`, "POST", KEYS.alice, { mimeType: "text/plain" })).body;
      const put = await fetch(via(b, slot.url), {
        method: "PUT",
        headers: slot.headers,
        body: "uploaded via b",
      });
      expect(put.status).toBe(200);
      const reg = await json(`${a.url}/v1/uploads/${slot.artifactId}/register`, "POST", KEYS.alice, {});
      expect(reg.status).toBe(201);
      const back = await fetch(`${b.url}/v1/artifacts/${slot.artifactId}`, { headers: bearer(KEYS.alice) });
      expect(await back.text()).toBe("uploaded via b");
    });

    it("share multipart uploads: created on a, parts through b, completed on a, registered on b", async () => {
      const upload = (await json(`${a.url}/v1/multipart`, "POST", KEYS.alice, {})).body;
      const sizes = [Math.max(upload.minPartBytes, 1000), 500];
      const etags: string[] = [];
      for (const [i, size] of sizes.entries()) {
        const part = await json(`${b.url}/v1/multipart/${upload.artifactId}/parts`, "POST", KEYS.alice, {
          uploadId: upload.uploadId,
          partNumber: i + 1,
        });
        const res = await fetch(via(b, part.body.url), {
          method: "PUT",
          body: new Blob([new Uint8Array(size).fill(i + 65)]),
        });
        expect(res.status).toBe(200);
        etags.push(res.headers.get("etag")!);
      }
      const done = await json(`${a.url}/v1/multipart/${upload.artifactId}/complete`, "POST", KEYS.alice, {
        uploadId: upload.uploadId,
        parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })),
      });
      expect(done.status).toBe(200);
      const reg = await json(`${b.url}/v1/uploads/${upload.artifactId}/register`, "POST", KEYS.alice, {});
      expect(reg.status).toBe(201);
      expect(reg.body.bytes).toBe(sizes[0]! + sizes[1]!);
    });
  });
}

const s3 = s3RedisEnv();
if (s3) {
  pair("S3 (RGW) + Redis", async () => ({
    args: [],
    env: { ...KEY_ENV, ...s3, ARTIFACT_SANDBOX_ID: uniqueSandbox("pair") },
  }));
}

pair("one filesystem root (the kept signing secret is shared)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "chuk-pair-"));
  return {
    args: ["--provider", "filesystem", "--fs-root", dir],
    env: { ...KEY_ENV, ARTIFACT_SANDBOX_ID: uniqueSandbox("pair") },
    dir,
  };
});
