import { createHmac, timingSafeEqual } from "node:crypto";
import type { AuditEvent } from "../audit/event.js";

/**
 * How webhook POSTs are signed, so receivers can tell them from forgeries and replays:
 *
 *   chuk-webhook-id:        the event's id (the same on every retry: deduplicate on it)
 *   chuk-webhook-timestamp: Unix seconds when this attempt was sent
 *   chuk-webhook-signature: v1=<hex HMAC-SHA256(secret, `${timestamp}.${body}`)>
 *
 * The signature header may carry several space-separated `v1=` values while a secret is being
 * rotated; one matching is enough. A receiver checks the signature over the raw body exactly as
 * received, in constant time, and refuses timestamps too far from its own clock.
 */

export const WEBHOOK_ID_HEADER = "chuk-webhook-id";
export const WEBHOOK_TIMESTAMP_HEADER = "chuk-webhook-timestamp";
export const WEBHOOK_SIGNATURE_HEADER = "chuk-webhook-signature";
export const DEFAULT_TOLERANCE_SECONDS = 300;
export const MIN_WEBHOOK_SECRET_LENGTH = 16;

function hmacHex(secret: string, timestamp: number, body: string | Uint8Array): string {
  const mac = createHmac("sha256", secret).update(`${timestamp}.`);
  mac.update(typeof body === "string" ? Buffer.from(body, "utf8") : body);
  return mac.digest("hex");
}

/** The headers of one signed delivery of `body` (the JSON text of an event). */
export function signWebhook(
  secret: string,
  eventId: string,
  body: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    [WEBHOOK_ID_HEADER]: eventId,
    [WEBHOOK_TIMESTAMP_HEADER]: String(timestamp),
    [WEBHOOK_SIGNATURE_HEADER]: `v1=${hmacHex(secret, timestamp, body)}`,
  };
}

export class WebhookVerificationError extends Error {
  override readonly name = "WebhookVerificationError";
}

type HeaderBag = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

/**
 * Checks a received webhook and returns its event; throws WebhookVerificationError when the
 * signature does not match any of `secret`s or the timestamp is more than `toleranceSeconds` away.
 * Pass the raw body (before any JSON parsing) and the request's headers (a Headers object or
 * node:http's `req.headers`).
 */
export function verifyWebhook(options: {
  secret: string | string[];
  headers: HeaderBag;
  body: string | Uint8Array;
  toleranceSeconds?: number;
  /** Unix seconds; default now. */
  now?: number;
}): AuditEvent {
  const timestampText = header(options.headers, WEBHOOK_TIMESTAMP_HEADER);
  const signatures = header(options.headers, WEBHOOK_SIGNATURE_HEADER);
  if (timestampText === null || signatures === null || !/^\d{1,12}$/.test(timestampText)) {
    throw new WebhookVerificationError("missing or malformed webhook signature headers");
  }
  const timestamp = Number(timestampText);
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) {
    throw new WebhookVerificationError("the webhook timestamp is outside the allowed tolerance");
  }
  const given = signatures
    .split(/\s+/)
    .filter((s) => s.startsWith("v1=") && /^[0-9a-f]{64}$/.test(s.slice(3)))
    .map((s) => Buffer.from(s.slice(3), "hex"));
  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
  let matched = false;
  for (const secret of secrets) {
    const expected = Buffer.from(hmacHex(secret, timestamp, options.body), "hex");
    for (const candidate of given) if (timingSafeEqual(candidate, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError("the webhook signature does not match");
  const text = typeof options.body === "string" ? options.body : Buffer.from(options.body).toString("utf8");
  return JSON.parse(text) as AuditEvent;
}
