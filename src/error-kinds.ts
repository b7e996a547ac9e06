import { BodyTooLargeError } from "./body.js";
import {
  AccessDeniedError,
  ArtifactCorruptedError,
  ArtifactExpiredError,
  ArtifactNotFoundError,
  type ArtifactStoreError,
  ConflictError,
  ProviderError,
  QuotaExceededError,
  SessionError,
  SessionUnavailableError,
  ValidationError,
} from "./errors.js";

/**
 * The one classification of store errors that both servers render: HTTP as a status code, MCP as
 * a tool error or protocol error. By class, never by message text.
 */

export type ErrorKind =
  | "too_large"
  | "quota_exceeded"
  | "not_found"
  | "expired"
  | "access_denied"
  | "invalid_input"
  | "conflict"
  | "corrupted"
  | "session"
  | "backend";

export interface ErrorClass {
  kind: ErrorKind;
  /** A short heading a person or a model can act on. */
  title: string;
  httpStatus: 400 | 403 | 404 | 409 | 410 | 413 | 500 | 502 | 503;
}

// Most specific first: BodyTooLargeError is a ValidationError.
const TABLE: [abstract new (...args: never[]) => ArtifactStoreError, ErrorClass][] = [
  [BodyTooLargeError, { kind: "too_large", title: "Too large", httpStatus: 413 }],
  // 413, not 507: the server is fine and a retry of the same write fails the same way until
  // something is deleted; 4xx keeps proxies and SDKs from retrying it as a server fault.
  [QuotaExceededError, { kind: "quota_exceeded", title: "Quota exceeded", httpStatus: 413 }],
  [ArtifactNotFoundError, { kind: "not_found", title: "Not found", httpStatus: 404 }],
  [ArtifactExpiredError, { kind: "expired", title: "Expired", httpStatus: 410 }],
  [AccessDeniedError, { kind: "access_denied", title: "Access denied", httpStatus: 403 }],
  [ValidationError, { kind: "invalid_input", title: "Invalid input", httpStatus: 400 }],
  [ConflictError, { kind: "conflict", title: "Conflict", httpStatus: 409 }],
  [ArtifactCorruptedError, { kind: "corrupted", title: "Corrupted", httpStatus: 500 }],
  [SessionError, { kind: "session", title: "Session error", httpStatus: 404 }],
  // A backend failure too (MCP reports it as one), but temporary: HTTP says 503, retry later.
  [SessionUnavailableError, { kind: "backend", title: "Sessions unavailable", httpStatus: 503 }],
  [ProviderError, { kind: "backend", title: "Storage backend failed", httpStatus: 502 }],
];

const UNCLASSIFIED: ErrorClass = { kind: "backend", title: "Store error", httpStatus: 503 };

export function classifyStoreError(err: ArtifactStoreError): ErrorClass {
  return TABLE.find(([type]) => err instanceof type)?.[1] ?? UNCLASSIFIED;
}
