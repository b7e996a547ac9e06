import { ArtifactStoreError, ProviderError } from "../../errors.js";

/**
 * Turns AWS SDK failures into ProviderErrors whose message says what to fix. Classification uses
 * the SDK's typed fields (error name = S3 error code, HTTP status, Node's errno code), never the
 * message text. Messages name settings, never their values' secrets.
 */

export interface S3Context {
  /** "s3" or "ibm_cos": picks the setting names the messages point to. */
  provider: string;
  bucket: string;
  /** Already redacted. */
  endpoint: string;
}

interface SdkError {
  name?: string;
  code?: string;
  errors?: { code?: string }[];
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EPIPE",
]);
const CREDENTIAL_CODES = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "InvalidSecurity",
]);

function fields(err: unknown): SdkError {
  return typeof err === "object" && err !== null ? (err as SdkError) : {};
}

export function statusOf(err: unknown): number | undefined {
  return fields(err).$metadata?.httpStatusCode;
}

/** A missing object (GetObject's NoSuchKey, or a bodiless 404 from HeadObject), not a missing bucket. */
export function isMissingObject(err: unknown): boolean {
  const { name } = fields(err);
  if (name === "NoSuchBucket") return false;
  return name === "NoSuchKey" || name === "NotFound" || statusOf(err) === 404;
}

export function isMissingUpload(err: unknown): boolean {
  return fields(err).name === "NoSuchUpload";
}

/** A conditional copy or write lost against a concurrent change. */
export function isPreconditionFailed(err: unknown): boolean {
  return fields(err).name === "PreconditionFailed" || statusOf(err) === 412;
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = fields(e).cause, depth++) {
    const f = fields(e);
    const code = f.code ?? f.errors?.find((x) => x.code)?.code;
    if (code && NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}

function settingNames(provider: string) {
  return provider === "ibm_cos"
    ? { endpoint: "IBM_COS_ENDPOINT", keys: "IBM_COS_ACCESS_KEY and IBM_COS_SECRET_KEY" }
    : { endpoint: "S3_ENDPOINT_URL", keys: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" };
}

/** A ProviderError that explains `err`; errors of our own pass through unchanged. */
export function s3Failure(err: unknown, action: string, ctx: S3Context): ArtifactStoreError {
  if (err instanceof ArtifactStoreError) return err;
  const { name = "Error" } = fields(err);
  const status = statusOf(err);
  const names = settingNames(ctx.provider);
  const where = `${ctx.provider} endpoint ${ctx.endpoint}`;
  // Bodiless answers (HEAD) carry no S3 error code; the status is all there is.
  const code = name === "Unknown" || name === "Error" ? `HTTP ${status ?? "error"}` : name;
  let message: string;
  const net = networkCode(err);
  if (name === "TimeoutError" || net === "ETIMEDOUT") {
    message =
      `${action}: the ${where} did not answer in time (timed out): ` +
      `check ${names.endpoint} and that the server is up and reachable`;
  } else if (net) {
    message =
      `${action}: cannot reach the ${where} (${net}): ` +
      `check ${names.endpoint} and that the server is running and reachable`;
  } else if (name === "NoSuchBucket" || (action === "check bucket" && status === 404)) {
    message = `${action}: bucket "${ctx.bucket}" does not exist at the ${where}: create it or set ARTIFACT_BUCKET`;
  } else if (CREDENTIAL_CODES.has(name)) {
    message = `${action}: the ${where} refused the credentials (${name}): check ${names.keys}`;
  } else if (name === "CredentialsProviderError") {
    message = `${action}: no ${ctx.provider} credentials found: set ${names.keys}, or configure an IAM role or profile`;
  } else if (name === "AccessDenied" || status === 403) {
    message =
      `${action}: access denied to bucket "${ctx.bucket}" at the ${where} (${code}): ` +
      `check ${names.keys} and that they may read and write this bucket`;
  } else {
    const detail = err instanceof Error ? err.message : String(err);
    message = `${action} failed at the ${where}: ${name}${status ? ` (HTTP ${status})` : ""}: ${detail}`;
  }
  return new ProviderError(message, { cause: err });
}
