import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  backends,
  bearer,
  json,
  KEYS,
  type RunningServer,
  startServer,
} from "./http-harness.js";

/**
 * Signed URLs through a real `chuk-artifacts serve`: the upload flow (presign, PUT, register) and
 * downloads with Range, HEAD and If-None-Match on every backend; on memory and filesystem, where
 * this package's handler verifies the URLs, every tampering is refused and stores nothing.
 */

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

describe.each(backends())("signed URLs on $name", (backend: Backend) => {
  let server: RunningServer;
  let dispose: () => Promise<void>;
  const native = backend.name.startsWith("s3");

  beforeAll(async () => {
    const setup = await backend.setup();
    dispose = setup.dispose;
    server = await startServer({ args: setup.args, env: setup.env });
  });
  afterAll(async () => {
    await server?.stop();
    await dispose?.();
  });

  const api = (path: string) => `${server.url}/v1${path}`;

  async function reserve(body: Record<string, unknown>, key = KEYS.alice) {
    const res = await json(api("/uploads"), "POST", key, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as { url: string; artifactId: string; headers: Record<string, string> };
  }

  async function register(artifactId: string, body: Record<string, unknown> = {}, key = KEYS.alice) {
    return json(api(`/uploads/${artifactId}/register`), "POST", key, body);
  }

  async function stored(text: string, key = KEYS.alice): Promise<string> {
    const res = await fetch(api("/artifacts?filename=s.txt"), {
      method: "POST",
      headers: bearer(key, { "content-type": "text/plain" }),
      body: text,
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { artifactId: string }).artifactId;
  }

  async function downloadUrl(id: string, expires?: number): Promise<string> {
    const res = await json(api(`/artifacts/${id}/presign`), "POST", KEYS.alice, expires ? { expires } : {});
    expect(res.status).toBe(200);
    return res.body.url as string;
  }

  it("runs the upload flow: presign, PUT, register records the real size and sha256", async () => {
    const content = "a presigned upload body\n".repeat(1000);
    const slot = await reserve({ filename: "up.txt", mimeType: "text/plain", maxBytes: 100_000 });
    if (!native) expect(slot.url.startsWith(`${server.url}/signed/`)).toBe(true);
    const put = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: content });
    expect(put.status).toBe(200);
    // Not visible before registration.
    expect((await json(api(`/artifacts/${slot.artifactId}/metadata`), "GET", KEYS.alice)).status).toBe(404);
    const reg = await register(slot.artifactId, { summary: "uploaded" });
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ bytes: content.length, sha256: sha256(content), mime: "text/plain" });
    const back = await fetch(await downloadUrl(slot.artifactId));
    expect(back.status).toBe(200);
    expect(await back.text()).toBe(content);
  });

  it("serves Range (206), a range past the end (416), HEAD and If-None-Match (304)", async () => {
    const id = await stored("0123456789");
    const url = await downloadUrl(id);
    const part = await fetch(url, { headers: { range: "bytes=2-5" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 2-5/10");
    expect(await part.text()).toBe("2345");
    const suffix = await fetch(url, { headers: { range: "bytes=-3" } });
    expect(suffix.status).toBe(206);
    expect(await suffix.text()).toBe("789");
    const beyond = await fetch(url, { headers: { range: "bytes=10-20" } });
    expect(beyond.status).toBe(416);
    await beyond.arrayBuffer();
    // A SigV4 URL is signed for GET only; this package's URLs also answer HEAD.
    if (!native) {
      const head = await fetch(url, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(head.headers.get("content-length")).toBe("10");
      expect(beyond.headers.get("content-range")).toBe("bytes */10");
      const etag = head.headers.get("etag")!;
      // The artifact's etag, as its metadata says.
      const meta = await json(api(`/artifacts/${id}/metadata`), "GET", KEYS.alice);
      expect(etag).toBe(`"${(meta.body as { etag: string }).etag}"`);
      const cached = await fetch(url, { headers: { "if-none-match": etag } });
      expect(cached.status).toBe(304);
      const changed = await fetch(url, { headers: { "if-none-match": '"other"' } });
      expect(changed.status).toBe(200);
      expect(await changed.text()).toBe("0123456789");
    }
  });

  it.skipIf(native)("lets browsers on any origin use signed URLs (CORS)", async () => {
    const id = await stored("cors");
    const url = await downloadUrl(id);
    const preflight = await fetch(url, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PUT");
    const get = await fetch(url, { headers: { origin: "https://app.example.com" } });
    expect(get.headers.get("access-control-allow-origin")).toBe("*");
    expect(get.headers.get("access-control-expose-headers")).toContain("etag");
    // The REST API is not opened to other origins.
    const rest = await fetch(api("/whoami"), {
      headers: bearer(KEYS.alice, { origin: "https://app.example.com" }),
    });
    expect(rest.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses a body over maxBytes and stores nothing", async () => {
    const slot = await reserve({ mimeType: "text/plain", maxBytes: 10 });
    const put = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "x".repeat(11) });
    if (native) {
      // S3 cannot cap a presigned PUT; the limit is enforced when the upload is adopted.
      expect(put.status).toBe(200);
      const reg = await register(slot.artifactId);
      expect(reg.status).toBe(413);
    } else {
      expect(put.status).toBe(413);
      expect((await put.json()).error.code).toBe("PAYLOAD_TOO_LARGE");
      // Nothing was stored, so there is nothing to register.
      expect((await register(slot.artifactId)).status).toBe(409);
      // The exact limit still fits.
      expect(
        (await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "y".repeat(10) })).status,
      ).toBe(200);
      expect((await register(slot.artifactId)).body.bytes).toBe(10);
    }
  });

  it("refuses an upload URL reused after registration", async () => {
    const slot = await reserve({ mimeType: "text/plain" });
    expect((await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "first" })).status).toBe(200);
    expect((await register(slot.artifactId)).status).toBe(201);
    const again = await fetch(slot.url, { method: "PUT", headers: slot.headers, body: "second" });
    if (!native) {
      expect(again.status).toBe(409);
      expect((await again.json()).error.code).toBe("CONFLICT");
    }
    // Whatever the URL did, the registered artifact is untouched.
    expect(await (await fetch(await downloadUrl(slot.artifactId))).text()).toBe("first");
  });

  describe.skipIf(native)("tampering (this package's handler)", () => {
    it("refuses a tampered signature, a swapped key and an extended expiry with 403", async () => {
      const a = await stored("artifact a");
      const b = await stored("artifact b");
      const urlA = new URL(await downloadUrl(a));
      const urlB = new URL(await downloadUrl(b));

      const badSig = new URL(urlA);
      const sig = badSig.searchParams.get("sig")!;
      badSig.searchParams.set("sig", (sig[0] === "A" ? "B" : "A") + sig.slice(1));
      const swapped = new URL(urlA);
      swapped.pathname = urlB.pathname;
      const extended = new URL(urlA);
      extended.searchParams.set("exp", String(Number(urlA.searchParams.get("exp")) + 86400));
      for (const url of [badSig, swapped, extended]) {
        const res = await fetch(url);
        expect(res.status, url.toString()).toBe(403);
        expect((await res.json()).error.code).toBe("SIGNATURE_INVALID");
      }
      expect(await (await fetch(urlA)).text()).toBe("artifact a");
    });

    it("refuses an expired URL with 410", async () => {
      const url = await downloadUrl(await stored("short-lived"), 1);
      await new Promise((r) => setTimeout(r, 2100));
      const res = await fetch(url);
      expect(res.status).toBe(410);
      expect((await res.json()).error.code).toBe("URL_EXPIRED");
    });

    it("refuses a GET URL used for PUT and leaves the artifact unchanged", async () => {
      const id = await stored("original");
      const url = await downloadUrl(id);
      const res = await fetch(url, {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        body: "overwritten",
      });
      expect(res.status).toBe(403);
      expect(await (await fetch(url)).text()).toBe("original");
    });

    it("refuses an upload URL used for GET", async () => {
      const slot = await reserve({ mimeType: "text/plain" });
      expect((await fetch(slot.url)).status).toBe(403);
    });

    it("refuses the wrong content type with 415 and stores nothing", async () => {
      const slot = await reserve({ mimeType: "image/png" });
      for (const headers of [{ "content-type": "text/html" }, {}] as Record<string, string>[]) {
        const res = await fetch(slot.url, { method: "PUT", headers, body: new Uint8Array([1, 2, 3]) });
        expect(res.status).toBe(415);
        expect((await res.json()).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
      }
      expect((await register(slot.artifactId)).status).toBe(409);
    });

    it("refuses path traversal in the key, encoded and double-encoded, without serving anything", async () => {
      const id = await stored("secret of alice");
      const good = new URL(await downloadUrl(id));
      const [, , sandbox, session] = good.pathname.split("/");
      const query = good.search;
      const attempts = [
        `/signed/grid/${sandbox}/%2e%2e%2f${session}/${id}`,
        `/signed/grid/${sandbox}/${session}/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd`,
        `/signed/grid/${sandbox}/%252e%252e%252f${session}/${id}`,
        `/signed/grid/${sandbox}/${session}/..%2f${id}`,
        `/signed/%2e%2e%2f%2e%2e%2f_signing-secret`,
        `/signed/grid/${sandbox}/${session}/${id}%00`,
      ];
      for (const path of attempts) {
        const res = await fetch(`${server.url}${path}${query}`);
        expect(res.status, path).toBe(400);
        const text = await res.text();
        expect(text).not.toContain("secret of alice");
      }
    });

    it("refuses an upload with an encoded traversal and stores nothing", async () => {
      const slot = await reserve({ mimeType: "text/plain" });
      const url = new URL(slot.url);
      const parts = url.pathname.split("/");
      parts[parts.length - 1] = `%2e%2e%2f${parts[parts.length - 1]}`;
      const res = await fetch(`${url.origin}${parts.join("/")}${url.search}`, {
        method: "PUT",
        headers: slot.headers,
        body: "sneaky",
      });
      expect(res.status).toBe(400);
      expect((await register(slot.artifactId)).status).toBe(409);
    });
  });
});
