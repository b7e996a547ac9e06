import { randomUUID } from "node:crypto";
import { Listeners } from "../events.js";
import {
  type AuditEvent,
  type AuditEventType,
  type AuditListener,
  type AuditScope,
  currentAuditScope,
  withAuditScope,
} from "./event.js";

/** The artifact an event is about (a record or its metadata). */
export interface AuditSubject {
  sessionId: string;
  artifactId?: string | null;
  bytes?: number | null;
  version?: number | undefined;
}

/** Fields an emit point adds: the caller's own userId (library calls), and type-specific facts. */
export type AuditDetails = Partial<
  Pick<AuditEvent, "operation" | "code" | "count" | "expiresAt" | "bytes">
> & {
  userId?: string | undefined;
};

/**
 * Where a store's audit events go: the `onEvent` hook and any sink subscribed (JSON-lines files,
 * stdout, webhooks). Emitting never throws and never waits for a listener, like change events.
 * The actor and request come from the request scope a server set (withAuditScope), else from the
 * userId the caller passed.
 */
export class AuditTrail {
  private readonly listeners = new Listeners<AuditEvent>();

  constructor(
    private readonly sandboxId: string,
    onEvent?: AuditListener,
  ) {
    if (onEvent) this.listeners.add(onEvent);
  }

  subscribe(listener: AuditListener): () => void {
    return this.listeners.add(listener);
  }

  /** Whether an event emitted now reaches anyone (details costly to build can be skipped). */
  get listening(): boolean {
    return this.listeners.size > 0;
  }

  /**
   * withAuditScope while something listens for events, else `fn` as it is. A scope is carried by
   * async_hooks, which then cost every promise in the process (about a fifth of a small HTTP
   * request's CPU on Node 20): not worth it when no event can be emitted.
   */
  scoped<T>(scope: AuditScope, fn: () => T): T {
    return this.listening ? withAuditScope(scope, fn) : fn();
  }

  emit(type: AuditEventType, subject: AuditSubject | null, details: AuditDetails = {}): void {
    if (!this.listening) return;
    const scope = currentAuditScope();
    const { userId, ...facts } = details;
    const version = subject?.version;
    const event: AuditEvent = {
      id: randomUUID(),
      type,
      at: new Date().toISOString(),
      actor: { userId: scope?.userId ?? userId ?? null, keyId: scope?.keyId ?? null },
      sandboxId: this.sandboxId,
      sessionId: subject?.sessionId ?? null,
      artifactId: subject?.artifactId ?? null,
      ...(typeof version === "number" && { version }),
      bytes: subject?.bytes ?? null,
      requestId: scope?.requestId ?? null,
      ...facts,
    };
    this.listeners.notify(event);
  }

  close(): void {
    this.listeners.clear();
  }
}
