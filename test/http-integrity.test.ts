import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SMALL_BODY_BYTES } from "../src/http/download.js";
import { walk } from "./helpers/store-state.js";
import { bearer, json, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * A full download is checked against the recorded sha256 before its last byte leaves the server,
 * on both of the server's paths: a small body (read whole, sent in one write) and a large one
 * (streamed to the socket). Bytes changed on disk behind the store's back must never arrive as a
 * complete, successful body.
 */
describe("downloads of corrupted bytes through serve (filesystem)", () => {
  let server: RunningServer;
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "chuk-integrity-"));
    server = await startServer({ args: ["--provider", "filesystem", "--fs-root", root], env: KEY_ENV });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(root, { recursive: true, force: true });
  });

  /** Stores `data`, then flips one byte of its body file on disk (same size); returns a signed URL. */
  async function corrupted(data: Buffer): Promise<string> {
    const res = await fetch(`${server.url}/v1/artifacts`, {
      method: "POST",
      headers: bearer(KEYS.alice, { "content-type": "application/octet-stream" }),
      body: new Uint8Array(data),
    });
    expect(res.status).toBe(201);
    const { artifactId } = (await res.json()) as { artifactId: string };
    // The file holding these (random) bytes, wherever the layout keeps them (alone or beside the
    // record): one byte in their middle is flipped, the file keeps its size.
    let changed = 0;
    for (const path of await walk(root)) {
      const file = await readFile(join(root, path));
      const at = file.indexOf(data);
      if (at === -1) continue;
      const middle = at + (data.length >> 1);
      file[middle] = file[middle]! ^ 0xff;
      await writeFile(join(root, path), file);
      changed++;
    }
    expect(changed, "files holding the artifact's bytes").toBe(1);
    const signed = await json(`${server.url}/v1/artifacts/${artifactId}/presign`, "POST", KEYS.alice, {});
    expect(signed.status).toBe(200);
    return (signed.body as { url: string }).url;
  }

  /** Everything the client receives, or the error that cut it off. */
  async function receive(
    url: string,
  ): Promise<{ status: number; length: number | null; bytes: number; failed: boolean }> {
    const res = await fetch(url);
    const length = res.headers.get("content-length");
    let bytes = 0;
    let failed = false;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
    } catch {
      failed = true;
    }
    return { status: res.status, length: length === null ? null : Number(length), bytes, failed };
  }

  it("answers a small corrupted artifact with an error, not its bytes", async () => {
    const data = randomBytes(1024);
    const got = await receive(await corrupted(data));
    expect(got.status).toBe(500);
    expect(got.bytes).toBeLessThan(data.length);
  });

  it("cuts a large corrupted artifact off before its last byte", async () => {
    const data = randomBytes(4 * SMALL_BODY_BYTES + 123);
    const got = await receive(await corrupted(data));
    expect(got.status).toBe(200);
    expect(got.length).toBe(data.length);
    expect(got.failed || got.bytes < data.length).toBe(true);
    expect(got.bytes).toBeLessThan(data.length);
  });

  it("still serves an intact large artifact whole", async () => {
    const data = randomBytes(4 * SMALL_BODY_BYTES + 123);
    const res = await fetch(`${server.url}/v1/artifacts`, {
      method: "POST",
      headers: bearer(KEYS.alice, { "content-type": "application/octet-stream" }),
      body: new Uint8Array(data),
    });
    const { artifactId } = (await res.json()) as { artifactId: string };
    const signed = await json(`${server.url}/v1/artifacts/${artifactId}/presign`, "POST", KEYS.alice, {});
    const got = await fetch((signed.body as { url: string }).url);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
  });
});
