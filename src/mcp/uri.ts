import { AccessDeniedError, ValidationError } from "../errors.js";

/**
 * Artifact resource URIs: `artifact://{sessionId}/{artifactId}`. Both segments are
 * percent-encoded (a session id may hold `@`, which a URI would read as user info).
 */

export const ARTIFACT_SCHEME = "artifact:";
export const ARTIFACT_URI_TEMPLATE = "artifact://{sessionId}/{artifactId}";

export function artifactUri(sessionId: string, artifactId: string): string {
  return `artifact://${encodeURIComponent(sessionId)}/${encodeURIComponent(artifactId)}`;
}

/** Splits an artifact URI into its decoded segments; null when `uri` is not one. */
export function parseArtifactUri(uri: string): { sessionId: string; artifactId: string } | null {
  const match = /^artifact:\/\/([^/?#]+)\/([^/?#]+)$/.exec(uri);
  if (!match) return null;
  try {
    return { sessionId: decodeURIComponent(match[1]!), artifactId: decodeURIComponent(match[2]!) };
  } catch {
    return null;
  }
}

/**
 * The artifact id a tool argument names: a bare id, or an artifact URI of `sessionId` (the
 * connection's session). A URI of any other session is refused before the store is asked.
 */
export function artifactIdFrom(ref: string, sessionId: string): string {
  if (!ref.startsWith("artifact:")) return ref;
  const parsed = parseArtifactUri(ref);
  if (!parsed)
    throw new ValidationError(`${JSON.stringify(ref.slice(0, 80))} is not an artifact://session/id URI`);
  if (parsed.sessionId !== sessionId) {
    throw new AccessDeniedError(
      `${ref.slice(0, 200)} belongs to another session; this connection works in session ${sessionId}`,
    );
  }
  return parsed.artifactId;
}
