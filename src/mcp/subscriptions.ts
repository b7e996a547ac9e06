import type { McpServer, ServerEvent, ServerEventBus } from "@modelcontextprotocol/server";
import type { ArtifactChange, ArtifactEvents } from "../events.js";
import type { ConnectionContext } from "./server.js";
import { artifactUri } from "./uri.js";

/**
 * Resource change notifications. The store announces every write (src/events.ts; across processes
 * with Redis sessions); here they become `notifications/resources/updated` for the artifact's URI
 * and, when a file is added or removed, `notifications/resources/list_changed` — only for changes
 * in the connection's own session.
 */

export type SubscriptionMode = "connection" | "stream" | "none";

/** The notifications one change makes, for a connection working in `sessionId`. */
export function eventsFor(change: ArtifactChange, sandboxId: string, sessionId: string): ServerEvent[] {
  if (change.sandboxId !== sandboxId || change.sessionId !== sessionId) return [];
  const updated: ServerEvent = { kind: "resource_updated", uri: artifactUri(sessionId, change.artifactId) };
  return change.kind === "updated" ? [updated] : [updated, { kind: "resources_list_changed" }];
}

/**
 * For a server with a connection of its own (stdio, an app's server): answers the 2025
 * `resources/subscribe` / `resources/unsubscribe` and sends the notifications on the connection.
 * On a 2026-07-28 connection the SDK's stdio entry routes them onto the client's
 * `subscriptions/listen` streams, which filter by URI themselves; on a 2025 one only subscribed
 * URIs are sent. Stops listening when the server closes.
 */
export function forwardChanges(server: McpServer, ctx: ConnectionContext, era: "legacy" | "modern"): void {
  const subscribed = new Set<string>();
  const low = server.server;
  low.setRequestHandler("resources/subscribe", async (request) => {
    subscribed.add(request.params.uri);
    return {};
  });
  low.setRequestHandler("resources/unsubscribe", async (request) => {
    subscribed.delete(request.params.uri);
    return {};
  });
  const stop = ctx.store.events.subscribe((change) => {
    if (!server.isConnected()) return;
    for (const event of eventsFor(change, ctx.store.sandboxId, ctx.sessionId)) {
      const send =
        event.kind === "resource_updated"
          ? era === "modern" || subscribed.has(event.uri)
            ? low.sendResourceUpdated({ uri: event.uri })
            : null
          : low.sendResourceListChanged();
      send?.catch(() => {});
    }
  });
  const previous = low.onclose;
  low.onclose = () => {
    stop();
    previous?.();
  };
}

/**
 * The change-event bus of one user's HTTP handler: `subscriptions/listen` streams opened through
 * that handler hear about changes in that user's session and nothing else.
 */
export class SessionEventBus implements ServerEventBus {
  private readonly listeners = new Set<(event: ServerEvent) => void>();
  private stop: (() => void) | null = null;

  constructor(
    private readonly events: ArtifactEvents,
    private readonly sandboxId: string,
    private readonly sessionId: string,
  ) {}

  publish(event: ServerEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // One stream's failure does not stop delivery to the others.
      }
    }
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    this.listeners.add(listener);
    // The store is listened to only while a stream is open.
    this.stop ??= this.events.subscribe((change) => {
      for (const event of eventsFor(change, this.sandboxId, this.sessionId)) this.publish(event);
    });
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.stop) {
        this.stop();
        this.stop = null;
      }
    };
  }
}
