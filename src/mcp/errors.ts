import { type CallToolResult, ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { BodyTooLargeError } from "../body.js";
import { classifyStoreError, type ErrorKind as StoreErrorKind } from "../error-kinds.js";
import { ArtifactStoreError } from "../errors.js";

/**
 * The one mapping from errors to what an MCP client sees: a tool error result (`isError: true`)
 * for tool calls, an McpError for resource reads. Errors are classified by class, never by
 * message text.
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
  /** Whether the message is safe to show (false for unexpected failures: log those instead). */
  expected: boolean;
}

/**
 * The SDK's ErrorCode has no resource-not-found member (the spec's -32002), so a missing or
 * refused resource is reported as InvalidParams, with `data.kind` telling which.
 */
export const RESOURCE_NOT_FOUND = ErrorCode.InvalidParams;

export function classifyError(err: unknown): ClassifiedError {
  if (err instanceof ArtifactStoreError) {
    const { kind, title } = classifyStoreError(err);
    return { kind, code: err.code, title, message: err.message, expected: true };
  }
  if (err instanceof McpError && err.code === ErrorCode.InvalidParams) {
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
    message: "the server failed unexpectedly; details are in its log",
    expected: false,
  };
}

/** A tool result for a failed call: readable text for the model, structured fields for programs. */
export function toolError(err: unknown, log?: (line: string) => void): CallToolResult {
  const c = classifyError(err);
  if (!c.expected) log?.(`tool call failed: ${describeUnexpected(err)}`);
  return {
    isError: true,
    content: [{ type: "text", text: `${c.title}: ${c.message}` }],
    structuredContent: { error: { kind: c.kind, code: c.code, message: c.message } },
  };
}

/** The protocol error for a failed resources/read of `uri`. */
export function resourceError(err: unknown, uri: string, log?: (line: string) => void): McpError {
  if (err instanceof McpError) return err;
  const c = classifyError(err);
  if (!c.expected) log?.(`resource read failed: ${describeUnexpected(err)}`);
  const code =
    c.kind === "backend" || c.kind === "corrupted" || c.kind === "internal"
      ? ErrorCode.InternalError
      : c.kind === "not_found" || c.kind === "expired" || c.kind === "access_denied"
        ? RESOURCE_NOT_FOUND
        : ErrorCode.InvalidParams;
  return new McpError(code, `${c.title}: ${c.message}`, { uri, kind: c.kind, code: c.code });
}

function describeUnexpected(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}
