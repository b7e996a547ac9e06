import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Audit events: one per store, update, delete, restore, presign, registered upload, access
 * refusal, quota refusal and cleanup, with who did it and in which request. They carry ids,
 * sizes and times only — never file content, a key, a secret or a URL (whose query is a signature).
 */

export const AUDIT_EVENT_TYPES = [
  "artifact.stored",
  "artifact.updated",
  "artifact.deleted",
  "artifact.restored",
  "artifact.expired",
  "artifact.presigned",
  "upload.presigned",
  "upload.registered",
  "access.denied",
  "quota.exceeded",
  "cleanup.completed",
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Who acted: the user, and the API key that authenticated the request (null outside servers). */
export interface AuditActor {
  userId: string | null;
  keyId: string | null;
}

export interface AuditEvent {
  /** Unique per event; webhook receivers deduplicate on it (deliveries are at least once). */
  id: string;
  type: AuditEventType;
  /** ISO 8601 time the event happened. */
  at: string;
  actor: AuditActor;
  sandboxId: string;
  sessionId: string | null;
  artifactId: string | null;
  /** The artifact's version when its metadata has one. */
  version?: number;
  /** Size of the artifact (for cleanup: of everything removed); null when not known. */
  bytes: number | null;
  /** The HTTP request (X-Request-Id) or MCP request the event came from; null for direct calls. */
  requestId: string | null;
  /** The store operation refused (access.denied, quota.exceeded). */
  operation?: string;
  /** Why it was refused: the error's code. */
  code?: string;
  /** Artifacts removed (cleanup.completed). */
  count?: number;
  /** When a signed URL or upload slot stops working (artifact.presigned, upload.presigned). */
  expiresAt?: string;
}

export type AuditListener = (event: AuditEvent) => void | Promise<void>;

/** What a server knows about the request being served; store calls inside it are attributed to it. */
export interface AuditScope {
  requestId?: string | null;
  userId?: string | null;
  keyId?: string | null;
}

const scopes = new AsyncLocalStorage<AuditScope>();

/**
 * Runs `fn` with `scope` as the request context of every audit event it causes. Servers call it
 * per request; apps that call the store from their own request handlers can too. An inner scope
 * keeps the outer one's fields it does not set (MCP over HTTP: the HTTP request id and key).
 */
export function withAuditScope<T>(scope: AuditScope, fn: () => T): T {
  const outer = scopes.getStore();
  const defined = Object.fromEntries(Object.entries(scope).filter(([, v]) => v !== undefined));
  return scopes.run({ ...outer, ...defined }, fn);
}

export function currentAuditScope(): AuditScope | undefined {
  return scopes.getStore();
}
