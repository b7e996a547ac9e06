/**
 * Every error the store raises is an ArtifactStoreError with a stable `code`; callers (and the HTTP
 * and MCP servers) classify by class or code, never by message text.
 */

export type ErrorCode =
  | "ARTIFACT_STORE_ERROR"
  | "ARTIFACT_NOT_FOUND"
  | "ARTIFACT_EXPIRED"
  | "ARTIFACT_CORRUPTED"
  | "ACCESS_DENIED"
  | "SESSION_ERROR"
  | "VALIDATION_ERROR"
  | "CONFLICT"
  | "PROVIDER_ERROR"
  | "SESSION_UNAVAILABLE"
  | "QUOTA_EXCEEDED";

export class ArtifactStoreError extends Error {
  readonly code: ErrorCode = "ARTIFACT_STORE_ERROR";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ArtifactNotFoundError extends ArtifactStoreError {
  override readonly code = "ARTIFACT_NOT_FOUND";
}

export class ArtifactExpiredError extends ArtifactStoreError {
  override readonly code = "ARTIFACT_EXPIRED";
}

/** The stored bytes do not match their recorded sha256. */
export class ArtifactCorruptedError extends ArtifactStoreError {
  override readonly code = "ARTIFACT_CORRUPTED";
}

export class AccessDeniedError extends ArtifactStoreError {
  override readonly code = "ACCESS_DENIED";
  /** What was refused, for the audit trail. */
  readonly subject: { sessionId: string; artifactId?: string } | null;

  constructor(
    message: string,
    options?: { cause?: unknown; subject?: { sessionId: string; artifactId?: string } },
  ) {
    super(message, options);
    this.subject = options?.subject ?? null;
  }
}

export class SessionError extends ArtifactStoreError {
  override readonly code = "SESSION_ERROR";
}

/** Bad input from the caller; nothing was written. */
export class ValidationError extends ArtifactStoreError {
  override readonly code = "VALIDATION_ERROR";
}

/** A lost race or a failed precondition (e.g. an upload URL already used). */
export class ConflictError extends ArtifactStoreError {
  override readonly code = "CONFLICT";
}

/**
 * A write would take a user or session past its quota (bytes or artifacts); nothing was stored.
 * `scope` says which quota, `limit` and `usage` what it allows and what is used already.
 */
export class QuotaExceededError extends ArtifactStoreError {
  override readonly code = "QUOTA_EXCEEDED";
  readonly scope: "user" | "session";
  readonly limit: { bytes?: number; artifacts?: number };
  readonly usage: { bytes: number; artifacts: number };

  constructor(
    message: string,
    details: {
      scope: "user" | "session";
      limit: { bytes?: number; artifacts?: number };
      usage: { bytes: number; artifacts: number };
    },
  ) {
    super(message);
    this.scope = details.scope;
    this.limit = details.limit;
    this.usage = details.usage;
  }
}

/** The storage or session backend failed; `cause` holds the backend's error. */
export class ProviderError extends ArtifactStoreError {
  // Widened so the subclass below can carry its own code.
  override readonly code: ErrorCode = "PROVIDER_ERROR";
}

/**
 * The session backend (Redis) is unavailable right now and the operation cannot be done safely
 * without it (e.g. claiming a named session whose owner only the session store knows). Retry later.
 */
export class SessionUnavailableError extends ProviderError {
  override readonly code = "SESSION_UNAVAILABLE";
}

/** Wraps anything that is not already one of ours as a ProviderError. */
export function asProviderError(err: unknown, what: string): ArtifactStoreError {
  if (err instanceof ArtifactStoreError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new ProviderError(`${what}: ${detail}`, { cause: err });
}
