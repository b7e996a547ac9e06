import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  backends,
  bearer,
  CLI,
  json,
  KEYS,
  type RunningServer,
  startServer,
} from "./http-harness.js";

/**
 * Multipart uploads through a real server: S3-native part URLs on S3 (parts of 5 MiB, RGW's
 * minimum), and this package's spooled parts on memory and filesystem.
 */

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe.each(backends())("multipart uploads on $name", (backend: Backend) => {
  let server: RunningServer;
  let setup: Awaited<ReturnType<Backend["setup"]>>;
  const native = backend.name.startsWith("s3");

  beforeAll(async () => {
    setup = await backend.setup();
    server = await startServer({ args: setup.args, env: setup.env });
  });
  afterAll(async () => {
    await server?.stop();
    await setup?.dispose();
  });

  const api = (path: string) => `${server.url}/v1${path}`;

  async function create(body: Record<string, unknown>, key = KEYS.alice) {
    const res = await json(api("/multipart"), "POST", key, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { artifactId: string; uploadId: string; minPartBytes: number; expiresAt: string };
  }

  async function putPart(artifactId: string, uploadId: string, partNumber: number, data: Uint8Array) {
    const res = await json(api(`/multipart/${artifactId}/parts`), "POST", KEYS.alice, {
      uploadId,
      partNumber,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return fetch(res.body.url, { method: "PUT", body: new Blob([data as Uint8Array<ArrayBuffer>]) });
  }

  function parts(minPartBytes: number): Uint8Array[] {
    const size = Math.max(minPartBytes, 1000);
    return [
      new Uint8Array(size).fill(97),
      new Uint8Array(size).fill(98),
      new Uint8Array(777).fill(99), // the last part may be small
    ];
  }

  it("uploads parts (in any order), completes, registers with the real size and sha256", async () => {
    const upload = await create({ filename: "big.bin", mimeType: "application/octet-stream" });
    expect(upload.minPartBytes).toBe(native ? 5 * 1024 * 1024 : 1);
    const data = parts(upload.minPartBytes);
    const etags: string[] = [];
    for (const n of [3, 1, 2]) {
      const res = await putPart(upload.artifactId, upload.uploadId, n, data[n - 1]!);
      expect(res.status).toBe(200);
      etags[n - 1] = res.headers.get("etag")!;
      await res.arrayBuffer();
    }
    expect(etags.every(Boolean)).toBe(true);
    const complete = await json(api(`/multipart/${upload.artifactId}/complete`), "POST", KEYS.alice, {
      uploadId: upload.uploadId,
      parts: etags.map((etag, i) => ({ partNumber: i + 1, etag })),
    });
    expect(complete.status, JSON.stringify(complete.body)).toBe(200);
    const reg = await json(api(`/uploads/${upload.artifactId}/register`), "POST", KEYS.alice, {
      summary: "parts",
    });
    expect(reg.status).toBe(201);
    const whole = Buffer.concat(data);
    expect(reg.body).toMatchObject({ bytes: whole.byteLength, sha256: sha256(whole), filename: "big.bin" });
    const back = await fetch(api(`/artifacts/${upload.artifactId}`), { headers: bearer(KEYS.alice) });
    expect(sha256(new Uint8Array(await back.arrayBuffer()))).toBe(sha256(whole));
    if (backend.name === "filesystem") expect(await spooled()).toEqual([]);
  });

  it("aborts: the parts and the reserved artifact are gone", async () => {
    const upload = await create({ mimeType: "text/plain" });
    const first = await putPart(upload.artifactId, upload.uploadId, 1, new Uint8Array(1000).fill(1));
    expect(first.status).toBe(200);
    if (backend.name === "filesystem") expect(await spooled()).toEqual([upload.uploadId]);
    const abort = await json(api(`/multipart/${upload.artifactId}/abort`), "POST", KEYS.alice, {
      uploadId: upload.uploadId,
    });
    expect(abort.status).toBe(204);
    if (backend.name === "filesystem") expect(await spooled()).toEqual([]);
    const after = await json(api(`/multipart/${upload.artifactId}/parts`), "POST", KEYS.alice, {
      uploadId: upload.uploadId,
      partNumber: 2,
    });
    expect(after.status).toBe(404);
    const reg = await json(api(`/uploads/${upload.artifactId}/register`), "POST", KEYS.alice, {});
    expect(reg.status).toBe(404);
  });

  it("keeps other users out of an upload", async () => {
    const upload = await create({});
    for (const path of ["parts", "complete", "abort"]) {
      const res = await json(api(`/multipart/${upload.artifactId}/${path}`), "POST", KEYS.bob, {
        uploadId: upload.uploadId,
        ...(path === "parts" && { partNumber: 1 }),
        ...(path === "complete" && { parts: [{ partNumber: 1, etag: "x" }] }),
      });
      expect(res.status, path).toBe(403);
    }
  });

  it("enforces maxBytes across the parts; nothing over it is ever registered", async () => {
    const first = native ? 5 * 1024 * 1024 : 1000;
    const upload = await create({ maxBytes: first + 500 });
    const a = await putPart(upload.artifactId, upload.uploadId, 1, new Uint8Array(first).fill(5));
    const b = await putPart(upload.artifactId, upload.uploadId, 2, new Uint8Array(1000).fill(6));
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    const complete = await json(api(`/multipart/${upload.artifactId}/complete`), "POST", KEYS.alice, {
      uploadId: upload.uploadId,
      parts: [
        { partNumber: 1, etag: a.headers.get("etag") },
        { partNumber: 2, etag: b.headers.get("etag") },
      ],
    });
    const reg = () => json(api(`/uploads/${upload.artifactId}/register`), "POST", KEYS.alice, {});
    if (native) {
      // S3 joins the parts; the limit is enforced when the upload is adopted, which deletes it.
      expect(complete.status).toBe(200);
      expect((await reg()).status).toBe(413);
      expect((await json(api(`/artifacts/${upload.artifactId}/metadata`), "GET", KEYS.alice)).status).toBe(
        404,
      );
    } else {
      expect(complete.status).toBe(413);
      expect((await reg()).status).toBe(409); // nothing was committed
    }
  });

  it.skipIf(native)(
    "refuses a single part over maxBytes, an unknown ETag, and bad part numbers",
    async () => {
      const upload = await create({ maxBytes: 100 });
      const big = await putPart(upload.artifactId, upload.uploadId, 1, new Uint8Array(101));
      expect(big.status).toBe(413);
      const ok = await putPart(upload.artifactId, upload.uploadId, 1, new Uint8Array(50));
      expect(ok.status).toBe(200);
      const wrong = await json(api(`/multipart/${upload.artifactId}/complete`), "POST", KEYS.alice, {
        uploadId: upload.uploadId,
        parts: [{ partNumber: 1, etag: `"${"0".repeat(64)}"` }],
      });
      expect(wrong.status).toBe(400);
      for (const partNumber of [0, 10001, 1.5]) {
        const res = await json(api(`/multipart/${upload.artifactId}/parts`), "POST", KEYS.alice, {
          uploadId: upload.uploadId,
          partNumber,
        });
        expect(res.status, String(partNumber)).toBe(400);
      }
      const bogusId = await json(api(`/multipart/${upload.artifactId}/parts`), "POST", KEYS.alice, {
        uploadId: "../../etc",
        partNumber: 1,
      });
      expect(bogusId.status).toBe(400);
    },
  );

  it.runIf(backend.name === "filesystem")(
    "cleanup removes an expired upload: its parts and its slot",
    async () => {
      const upload = await create({ expires: 3 });
      expect((await putPart(upload.artifactId, upload.uploadId, 1, new Uint8Array(10))).status).toBe(200);
      const before = await spooled();
      expect(before).toContain(upload.uploadId);
      // Past the upload window (whole seconds) before cleanup runs.
      await new Promise((r) => setTimeout(r, Date.parse(upload.expiresAt) - Date.now() + 200));
      const root = setup.args[setup.args.indexOf("--fs-root") + 1]!;
      const cleanup = spawnSync(
        process.execPath,
        [
          CLI,
          "cleanup",
          "--provider",
          "filesystem",
          "--fs-root",
          root,
          "--sandbox",
          setup.env.ARTIFACT_SANDBOX_ID!,
        ],
        { encoding: "utf8" },
      );
      expect(cleanup.status, cleanup.stderr).toBe(0);
      // Only the expired upload went; the others' windows are still open.
      expect(await spooled()).toEqual(before.filter((id) => id !== upload.uploadId));
      const reg = await json(api(`/uploads/${upload.artifactId}/register`), "POST", KEYS.alice, {});
      expect(reg.status).toBe(404);
    },
  );

  /** Upload ids spooled under the filesystem root (for the filesystem backend). */
  async function spooled(): Promise<string[]> {
    const root = setup.args[setup.args.indexOf("--fs-root") + 1]!;
    try {
      return await readdir(join(root, "_multipart", setup.env.ARTIFACT_SANDBOX_ID!));
    } catch {
      return [];
    }
  }
});
