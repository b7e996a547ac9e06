import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bearer, json, KEY_ENV, KEYS, startServer } from "./http-harness.js";

/**
 * Opt-in (CHUK_RSS_TEST=1; CHUK_RSS_GIB sets the size, default 2): a 2 GiB signed PUT and then a
 * 2 GiB signed GET through a real filesystem server, reading the server's peak RSS (VmHWM) from
 * /proc. Streaming both ways must keep it flat: far below the artifact's size.
 */

const GIB = 1024 ** 3;
const CHUNK = 1024 * 1024;

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** `total` bytes of a repeating, position-dependent pattern, generated as they are sent. */
function body(total: number): { stream: ReadableStream<Uint8Array>; sha256: () => string } {
  const hash = createHash("sha256");
  let digest: string | null = null;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const chunk = Buffer.alloc(Math.min(CHUNK, total - sent), (sent / CHUNK) % 251);
      hash.update(chunk);
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, sha256: () => (digest ??= hash.digest("hex")) };
}

describe.skipIf(process.env.CHUK_RSS_TEST !== "1")("server memory while streaming (opt-in)", () => {
  it("keeps RSS flat through a large signed PUT and GET on filesystem", { timeout: 900_000 }, async () => {
    const total = Math.round(Number(process.env.CHUK_RSS_GIB ?? "2") * GIB);
    const dir = await mkdtemp(join(tmpdir(), "chuk-rss-"));
    const server = await startServer({ args: ["--provider", "filesystem", "--fs-root", dir], env: KEY_ENV });
    try {
      const idle = peakRssMiB(server.pid);
      const slot = await json(`${server.url}/v1/uploads`, "POST", KEYS.alice, {
        mimeType: "application/octet-stream",
        maxBytes: total,
      });
      const source = body(total);
      let started = Date.now();
      const put = await fetch(slot.body.url, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
        body: source.stream,
        duplex: "half",
      } as RequestInit);
      expect(put.status).toBe(200);
      const putSeconds = (Date.now() - started) / 1000;
      const afterPut = peakRssMiB(server.pid);

      const reg = await json(
        `${server.url}/v1/uploads/${slot.body.artifactId}/register`,
        "POST",
        KEYS.alice,
        {},
      );
      expect(reg.body).toMatchObject({ bytes: total, sha256: source.sha256() });
      const presigned = await json(
        `${server.url}/v1/artifacts/${slot.body.artifactId}/presign`,
        "POST",
        KEYS.alice,
      );

      started = Date.now();
      const get = await fetch(presigned.body.url, { headers: bearer(KEYS.alice) });
      const hash = createHash("sha256");
      let received = 0;
      for await (const chunk of get.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(chunk);
        received += chunk.byteLength;
      }
      const getSeconds = (Date.now() - started) / 1000;
      const afterGet = peakRssMiB(server.pid);
      expect(received).toBe(total);
      expect(hash.digest("hex")).toBe(source.sha256());

      const mib = total / CHUNK;
      console.log(
        `RSS (VmHWM) of the server: idle ${idle.toFixed(0)} MiB, after ${mib} MiB PUT ${afterPut.toFixed(0)} MiB ` +
          `(${(mib / putSeconds).toFixed(0)} MiB/s), after GET ${afterGet.toFixed(0)} MiB (${(mib / getSeconds).toFixed(0)} MiB/s)`,
      );
      // Flat: the peak grows by far less than the artifact (a buffered body would add its whole size).
      expect(afterGet - idle).toBeLessThan(Math.min(256, mib / 4));
    } finally {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
