import { AccessDeniedError, ValidationError } from "../errors.js";
import { scopeSegment } from "../grid.js";

/**
 * Artifact resource URIs: `artifact://{owner}/{artifactId}`, and `…/versions/{n}` for a kept
 * version. `{owner}` is the artifact's session, or the reserved segment of its scope (`_u-{userId}`
 * for a user's own artifacts, `_shared` for the sandbox's). Segments are percent-encoded (a
 * session id may hold `@`, which a URI would read as user info).
 */

export const ARTIFACT_SCHEME = "artifact:";
export const ARTIFACT_URI_TEMPLATE = "artifact://{sessionId}/{artifactId}";
export const ARTIFACT_VERSION_URI_TEMPLATE = "artifact://{sessionId}/{artifactId}/versions/{version}";

export function artifactUri(owner: string, artifactId: string, version?: number): string {
  const base = `artifact://${encodeURIComponent(owner)}/${encodeURIComponent(artifactId)}`;
  return version === undefined ? base : `${base}/versions/${version}`;
}

/** Splits an artifact URI into its decoded segments; null when `uri` is not one. */
export function parseArtifactUri(
  uri: string,
): { sessionId: string; artifactId: string; version: number | null } | null {
  const match = /^artifact:\/\/([^/?#]+)\/([^/?#]+)(?:\/versions\/([1-9][0-9]{0,8}))?$/.exec(uri);
  if (!match) return null;
  try {
    return {
      sessionId: decodeURIComponent(match[1]!),
      artifactId: decodeURIComponent(match[2]!),
      version: match[3] === undefined ? null : Number(match[3]),
    };
  } catch {
    return null;
  }
}

/** The owner segments a connection may name: its session, its user's own scope, the shared scope. */
export function readableOwners(sessionId: string, userId: string): string[] {
  return [sessionId, scopeSegment("user", { userId }), scopeSegment("sandbox", {})];
}

/**
 * The artifact id a tool argument names: a bare id, or an artifact URI of the connection's
 * session or of its user's or the shared scope. A URI of any other session is refused before the
 * store is asked; a version URI is refused too (tools take a `version` argument).
 */
export function artifactIdFrom(ref: string, sessionId: string, userId: string): string {
  if (!ref.startsWith("artifact:")) return ref;
  const parsed = parseArtifactUri(ref);
  if (!parsed)
    throw new ValidationError(`${JSON.stringify(ref.slice(0, 80))} is not an artifact://session/id URI`);
  if (parsed.version !== null) {
    throw new ValidationError(
      `${ref.slice(0, 200)} names a version: give the artifact's URI and a version argument`,
    );
  }
  if (!readableOwners(sessionId, userId).includes(parsed.sessionId)) {
    throw new AccessDeniedError(
      `${ref.slice(0, 200)} belongs to another session; this connection works in session ${sessionId}`,
    );
  }
  return parsed.artifactId;
}
