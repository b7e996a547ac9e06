import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { parseGridKey } from "./grid.js";

/**
 * HMAC-SHA256 signed URLs for providers without native presigning (memory, filesystem). Method,
 * key, expiry and every limit are inside the signature; verification is constant time.
 */

export const SIGNED_PATH = "/signed/";

export type SignedMethod = "GET" | "PUT";

export interface SignedGrant {
  method: SignedMethod;
  key: string;
  /** Unix seconds. */
  expires: number;
  /** PUT only: the most bytes the upload may carry. */
  maxBytes?: number | null;
  /** PUT only: the Content-Type the upload must declare. */
  mime?: string | null;
  /** PUT only: a part of a multipart upload. */
  uploadId?: string | null;
  partNumber?: number | null;
  /** GET only: an earlier version of the artifact rather than its current one. */
  version?: number | null;
}

let warnedEphemeral = false;

export class UrlSigner {
  /** True when no secret was configured and a random one stands in for this process. */
  readonly ephemeral: boolean;
  private readonly secret: Buffer;

  constructor(
    secret: string | null,
    readonly baseUrl: string,
  ) {
    this.ephemeral = secret === null;
    this.secret = secret === null ? randomBytes(32) : Buffer.from(secret, "utf8");
  }

  sign(grant: SignedGrant): string {
    if (this.ephemeral && !warnedEphemeral) {
      warnedEphemeral = true;
      process.emitWarning(
        "ARTIFACT_SIGNING_SECRET is not set: signed URLs use a random per-process secret and stop working on restart or on other instances",
        { code: "CHUK_ARTIFACTS_EPHEMERAL_SECRET" },
      );
    }
    // Built as text: numbers, the method and the base64url signature need no escaping.
    let query = `m=${grant.method}&exp=${grant.expires}`;
    if (grant.maxBytes != null) query += `&max=${grant.maxBytes}`;
    if (grant.mime != null) query += `&ct=${encodeURIComponent(grant.mime)}`;
    if (grant.uploadId != null) query += `&upload=${encodeURIComponent(grant.uploadId)}`;
    if (grant.partNumber != null) query += `&part=${grant.partNumber}`;
    if (grant.version != null) query += `&ver=${grant.version}`;
    return `${this.baseUrl}${SIGNED_PATH}${grant.key}?${query}&sig=${this.mac(grant)}`;
  }

  /**
   * Checks a request against its signature. Returns the grant, or a reason it was refused;
   * `expired` is told apart so servers can answer 410 rather than 403.
   */
  verify(
    method: string,
    key: string,
    query: URLSearchParams,
    nowSeconds = Math.floor(Date.now() / 1000),
  ): { ok: true; grant: SignedGrant } | { ok: false; reason: "invalid" | "expired" } {
    const signature = query.get("sig");
    const m = query.get("m");
    const exp = Number(query.get("exp"));
    if (
      !signature ||
      (m !== "GET" && m !== "PUT") ||
      !Number.isSafeInteger(exp) ||
      parseGridKey(key) === null
    ) {
      return { ok: false, reason: "invalid" };
    }
    const grant: SignedGrant = {
      method: m,
      key,
      expires: exp,
      maxBytes: optionalInt(query.get("max")),
      mime: query.get("ct"),
      uploadId: query.get("upload"),
      partNumber: optionalInt(query.get("part")),
      version: optionalInt(query.get("ver")),
    };
    const expected = Buffer.from(this.mac(grant), "utf8");
    const given = Buffer.from(signature, "utf8");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, reason: "invalid" };
    // HEAD rides on a GET grant, as with S3.
    const allowed = m === "GET" ? method === "GET" || method === "HEAD" : method === "PUT";
    if (!allowed) return { ok: false, reason: "invalid" };
    if (exp < nowSeconds) return { ok: false, reason: "expired" };
    return { ok: true, grant };
  }

  private mac(grant: SignedGrant): string {
    // One field per line; values cannot contain a newline (keys are validated, the rest numeric or
    // a mime that was validated), so the canonical form is unambiguous.
    const canonical = [
      "chuk-artifacts-v1",
      grant.method,
      grant.key,
      grant.expires,
      grant.maxBytes ?? "",
      grant.mime ?? "",
      grant.uploadId ?? "",
      grant.partNumber ?? "",
      // Only a version grant has this line, so URLs signed before versions existed stay valid.
      ...(grant.version != null ? [`version=${grant.version}`] : []),
    ].join("\n");
    return createHmac("sha256", this.secret).update(canonical).digest("base64url");
  }
}

function optionalInt(value: string | null): number | null {
  if (value === null) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : Number.NaN;
}
