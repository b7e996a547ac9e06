import { HTTPException } from "hono/http-exception";
import { classifyStoreError } from "../error-kinds.js";
import { ArtifactStoreError, ValidationError } from "../errors.js";

/**
 * The one mapping from errors to HTTP: by class, never by message text. The JSON body is always
 * `{ "error": { "code", "message" } }`; 5xx answers never carry internal detail or a stack.
 */

export type ErrorStatus =
  | 400
  | 401
  | 403
  | 404
  | 405
  | 409
  | 410
  | 412
  | 413
  | 415
  | 416
  | 429
  | 500
  | 501
  | 502
  | 503;

/** A condition that exists only at the HTTP layer (authentication, media type, rate limit). */
export class HttpError extends Error {
  constructor(
    readonly status: ErrorStatus,
    readonly code: string,
    message: string,
    /** Extra response headers (WWW-Authenticate, Retry-After, Content-Range). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/**
 * A Range that does not overlap the artifact. It is a ValidationError so the store lets it pass
 * through unchanged when thrown from a range chooser.
 */
export class RangeNotSatisfiableError extends ValidationError {
  constructor(readonly totalBytes: number) {
    super(`the requested range is not within the artifact's ${totalBytes} bytes`);
  }
}

export interface MappedError {
  status: ErrorStatus;
  code: string;
  message: string;
  headers: Record<string, string>;
}

export function toHttpError(err: unknown): MappedError {
  const mapped = (status: ErrorStatus, code: string, headers: Record<string, string> = {}) => ({
    status,
    code,
    message: status >= 500 ? publicMessage(status) : (err as Error).message,
    headers,
  });
  if (err instanceof HttpError) return mapped(err.status, err.code, err.headers);
  // Raised by the router itself: malformed JSON (400), a body of a type the route does not take (415).
  if (err instanceof HTTPException && (err.status === 400 || err.status === 415)) {
    return err.status === 400
      ? { status: 400, code: "VALIDATION_ERROR", message: err.message, headers: {} }
      : {
          status: 415,
          code: "UNSUPPORTED_MEDIA_TYPE",
          message: "send the body as application/json",
          headers: {},
        };
  }
  if (err instanceof RangeNotSatisfiableError) {
    return mapped(416, "RANGE_NOT_SATISFIABLE", { "content-range": `bytes */${err.totalBytes}` });
  }
  if (err instanceof ArtifactStoreError) {
    const { kind, httpStatus } = classifyStoreError(err);
    return mapped(httpStatus, kind === "too_large" ? "PAYLOAD_TOO_LARGE" : err.code);
  }
  return mapped(500, "INTERNAL_ERROR");
}

function publicMessage(status: ErrorStatus): string {
  switch (status) {
    case 502:
      return "the storage or session backend failed; see the server log";
    case 503:
      return "the service is not available right now";
    default:
      return "internal error; see the server log";
  }
}

/** The JSON error response for `err`; server-side faults are logged (message only, no request data). */
export function errorResponse(err: unknown, log: (line: string) => void = console.error): Response {
  const { status, code, message, headers } = toHttpError(err);
  if (status >= 500) {
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    log(`chuk-artifacts http: ${status} ${code}: ${detail}`);
  }
  return Response.json({ error: { code, message } }, { status, headers });
}
