import {
  type CallToolResult,
  ProtocolError,
  ProtocolErrorCode,
  ResourceNotFoundError,
} from "@modelcontextprotocol/server";
import { BodyTooLargeError } from "../body.js";
import { classifyStoreError, type ErrorKind as StoreErrorKind } from "../error-kinds.js";
import { ArtifactStoreError } from "../errors.js";

/**
 * The one mapping from errors to what an MCP client sees: a tool error result (`isError: true`)
 * for tool calls, a protocol error for resource reads. Errors are classified by class, never by
 * message text, and scrubbed as the REST API scrubs its 5xx answers: a failure of the server or
 * its backends shows a generic message (the detail, which may name server paths, goes to the log).
 */

/** Content over this server's size limits for one message; the message says how to get it instead. */
export class TooLargeError extends BodyTooLargeError {}

export type ErrorKind = StoreErrorKind | "internal";

export interface ClassifiedError {
  kind: ErrorKind;
  /** The store's error code (ARTIFACT_NOT_FOUND, …), or INVALID_PARAMS / INTERNAL_ERROR. */
  code: string;
  /** A short heading an LLM can act on: "Not found", "Access denied", … */
  title: string;
  message: string;
  /** Whether the message is the caller's to see (false for server faults: those are logged instead). */
  expected: boolean;
}

const BACKEND_MESSAGE = "the storage or session backend failed; details are in the server's log";
const INTERNAL_MESSAGE = "the server failed unexpectedly; details are in the server's log";

export function classifyError(err: unknown): ClassifiedError {
  if (err instanceof ArtifactStoreError) {
    const { kind, title, httpStatus } = classifyStoreError(err);
    if (httpStatus >= 500) return { kind, code: err.code, title, message: BACKEND_MESSAGE, expected: false };
    return { kind, code: err.code, title, message: err.message, expected: true };
  }
  if (err instanceof ProtocolError && err.code === ProtocolErrorCode.InvalidParams) {
    return {
      kind: "invalid_input",
      code: "INVALID_PARAMS",
      title: "Invalid input",
      message: err.message,
      expected: true,
    };
  }
  return {
    kind: "internal",
    code: "INTERNAL_ERROR",
    title: "Internal error",
    message: INTERNAL_MESSAGE,
    expected: false,
  };
}

/** Where a failed tool result carries its error's fields for programs. */
export const ERROR_META_KEY = "chuk-artifacts/error";

/**
 * A tool result for a failed call: readable text for the model, and the fields for programs in
 * `_meta` — not in `structuredContent`, which clients (the v1 SDK's among them) validate against
 * the tool's output schema even on errors.
 */
export function toolError(err: unknown, log?: (line: string) => void): CallToolResult {
  const c = classifyError(err);
  if (!c.expected) log?.(`tool call failed: ${describeUnexpected(err)}`);
  return {
    isError: true,
    content: [{ type: "text", text: `${c.title}: ${c.message}` }],
    _meta: { [ERROR_META_KEY]: { kind: c.kind, code: c.code, message: c.message } },
  };
}

/**
 * The protocol error for a failed resources/read of `uri`. A missing, expired or someone else's
 * artifact is the same resource-not-found (-32602 with `data: { uri }`, what every revision
 * expects), so a read cannot tell "exists elsewhere" from "does not exist".
 */
export function resourceError(err: unknown, uri: string, log?: (line: string) => void): ProtocolError {
  if (err instanceof ProtocolError) return err;
  const c = classifyError(err);
  if (!c.expected) log?.(`resource read failed: ${describeUnexpected(err)}`);
  if (c.kind === "not_found" || c.kind === "expired" || c.kind === "access_denied") {
    return new ResourceNotFoundError(uri, `${c.title}: ${c.message}`);
  }
  const code = c.expected ? ProtocolErrorCode.InvalidParams : ProtocolErrorCode.InternalError;
  return new ProtocolError(code, `${c.title}: ${c.message}`, { uri, kind: c.kind, code: c.code });
}

function describeUnexpected(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
