import { describe, expect, it } from "vitest";
import { SIGNED_PATH, type SignedGrant, UrlSigner } from "../src/signing.js";

/** HMAC-signed URLs (src/signing.ts): what is signed comes back exactly, and nothing else passes. */

const KEY = "grid/sb/sess-1/0123456789abcdef0123456789abcdef";
const signer = new UrlSigner("a-secret-of-the-test", "http://127.0.0.1:8080");

function parts(url: string) {
  const parsed = new URL(url);
  expect(parsed.pathname.startsWith(SIGNED_PATH)).toBe(true);
  return { key: parsed.pathname.slice(SIGNED_PATH.length), query: parsed.searchParams };
}

describe("UrlSigner", () => {
  const now = 1_800_000_000;
  const grants: SignedGrant[] = [
    { method: "GET", key: KEY, expires: now + 60 },
    { method: "GET", key: KEY, expires: now + 60, version: 3 },
    { method: "PUT", key: KEY, expires: now + 60, maxBytes: 1024, mime: "text/plain; charset=utf-8" },
    { method: "PUT", key: KEY, expires: now + 60, mime: "application/vnd.api+json", maxBytes: 0 },
    { method: "PUT", key: KEY, expires: now + 60, uploadId: "up/load+id=1&x", partNumber: 7 },
  ];

  it("gives back every signed field exactly", () => {
    for (const grant of grants) {
      const { key, query } = parts(signer.sign(grant));
      expect(key).toBe(KEY);
      const checked = signer.verify(grant.method, key, query, now);
      expect(checked).toEqual({
        ok: true,
        grant: {
          method: grant.method,
          key: KEY,
          expires: grant.expires,
          maxBytes: grant.maxBytes ?? null,
          mime: grant.mime ?? null,
          uploadId: grant.uploadId ?? null,
          partNumber: grant.partNumber ?? null,
          version: grant.version ?? null,
        },
      });
    }
  });

  it("refuses any changed field, another method, another key or secret, and tells expiry apart", () => {
    const grant = grants[2]!;
    const { key, query } = parts(signer.sign(grant));
    const changed = (name: string, value: string | null) => {
      const q = new URLSearchParams(query);
      if (value === null) q.delete(name);
      else q.set(name, value);
      return signer.verify("PUT", key, q, now);
    };
    expect(changed("max", "1025")).toEqual({ ok: false, reason: "invalid" });
    expect(changed("max", null)).toEqual({ ok: false, reason: "invalid" });
    expect(changed("ct", "text/html")).toEqual({ ok: false, reason: "invalid" });
    expect(changed("exp", String(now + 61))).toEqual({ ok: false, reason: "invalid" });
    expect(changed("m", "GET")).toEqual({ ok: false, reason: "invalid" });
    expect(changed("ver", "1")).toEqual({ ok: false, reason: "invalid" });
    expect(changed("sig", `${query.get("sig")!.slice(0, -1)}A`)).toEqual({ ok: false, reason: "invalid" });
    expect(signer.verify("GET", key, query, now)).toEqual({ ok: false, reason: "invalid" });
    expect(signer.verify("PUT", `${KEY.slice(0, -1)}0`, query, now)).toEqual({
      ok: false,
      reason: "invalid",
    });
    const other = new UrlSigner("another-secret", "http://127.0.0.1:8080");
    expect(other.verify("PUT", key, query, now)).toEqual({ ok: false, reason: "invalid" });
    expect(signer.verify("PUT", key, query, now + 61)).toEqual({ ok: false, reason: "expired" });
  });

  it("lets HEAD ride on a GET grant, not on a PUT one", () => {
    const get = parts(signer.sign(grants[0]!));
    expect(signer.verify("HEAD", get.key, get.query, now).ok).toBe(true);
    const put = parts(signer.sign(grants[2]!));
    expect(signer.verify("HEAD", put.key, put.query, now).ok).toBe(false);
  });
});
