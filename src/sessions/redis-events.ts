import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { ArtifactChange, LocalArtifactEvents } from "../events.js";
import type { SessionProvider } from "./provider.js";
import { createClient } from "./redis.js";
import { parseRedisUrl } from "./redis-url.js";

const CONNECT_TIMEOUT_MS = 2000;
const COMMAND_TIMEOUT_MS = 3000;

/** Changes sent in one message at most; a larger loop turn's changes go in several. */
const CHANGES_PER_MESSAGE = 500;

const Change = z.object({
  sessionId: z.string(),
  artifactId: z.string(),
  kind: z.enum(["created", "updated", "deleted"]),
});
type Change = z.infer<typeof Change>;

/** The changes of one loop turn; a single change as its own message is how earlier versions sent it. */
const Message = z.union([
  z.object({ origin: z.string(), changes: z.array(Change) }),
  Change.extend({ origin: z.string() }),
]);

/**
 * Artifact changes over Redis pub/sub, one channel per sandbox. A change made here reaches this
 * process's listeners at once and other processes through Redis; this process ignores the copy
 * Redis sends back to it. Pub/sub is fire-and-forget: a process that is disconnected when a change
 * is published never sees it (subscribers re-read on reconnect if they must be exact).
 *
 * Changes are published on the session provider's connection (`sessionsNow`, the store's open
 * provider, behind its circuit breaker): the changes of one turn go out as one message, in one
 * PUBLISH issued just after the turn's callbacks, so it shares a socket write with the commands
 * those callbacks issued (a sequential writer's next write, or the auto-pipeline of a busy one)
 * rather than costing a write and a reply of its own. Listening takes a connection of its own, in
 * subscriber mode (which can do nothing else), made once something listens.
 */
export class RedisArtifactEvents {
  private readonly origin = randomUUID();
  private readonly channel: string;
  private readonly target;
  private subscriber: ReturnType<typeof createClient> | null = null;
  /** Changes not yet published: sent together once the current callbacks are done. */
  private outbox: Change[] = [];
  /** Where the outbox goes: the provider open when its first change was made. */
  private publisher: SessionProvider | null = null;
  /** Settles once every message handed to the publisher so far is answered. */
  private sending: Promise<void> = Promise.resolve();

  constructor(
    url: string,
    private readonly sandboxId: string,
    private readonly local: LocalArtifactEvents,
    private readonly sessionsNow: () => SessionProvider | null,
  ) {
    this.target = parseRedisUrl(url);
    this.channel = `chuk-artifacts:{${sandboxId}}:events`;
  }

  publish(change: ArtifactChange): void {
    this.local.publish(change);
    if (change.sandboxId !== this.sandboxId) return;
    const { sessionId, artifactId, kind } = change;
    this.outbox.push({ sessionId, artifactId, kind });
    if (this.outbox.length > 1) return;
    // A change is made by a write of the open store, so its provider is at hand.
    this.publisher = this.sessionsNow();
    // The write that made the change answers its caller first. Flushed on the next tick rather than
    // the next loop turn: a command issued by the callbacks of this turn corks the connection until
    // its own next tick, queued after this one, so the PUBLISH joins that same socket write.
    process.nextTick(() => void this.flush());
  }

  /**
   * Publishes the waiting changes. Settles (never rejects) once Redis has answered them and
   * every earlier flush's.
   */
  private flush(): Promise<void> {
    const changes = this.outbox;
    this.outbox = [];
    const publish = this.publisher?.publish?.bind(this.publisher);
    if (publish && changes.length > 0) {
      const sent: Promise<void>[] = [];
      for (let i = 0; i < changes.length; i += CHANGES_PER_MESSAGE) {
        const message = { origin: this.origin, changes: changes.slice(i, i + CHANGES_PER_MESSAGE) };
        sent.push(publish(this.channel, JSON.stringify(message)).catch(() => {}));
      }
      this.sending = Promise.all([this.sending, ...sent]).then(() => {});
    }
    return this.sending;
  }

  /** Starts receiving other processes' changes (idempotent). */
  listen(): void {
    if (this.subscriber) return;
    const subscriber = createClient(this.target, CONNECT_TIMEOUT_MS, COMMAND_TIMEOUT_MS, undefined);
    // Without a listener ioredis prints connection errors; an unreachable Redis already shows in health.
    subscriber.on("error", () => {});
    subscriber.on("node error", () => {});
    this.subscriber = subscriber;
    subscriber.on("message", (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let parsed: z.infer<typeof Message>;
      try {
        parsed = Message.parse(JSON.parse(text));
      } catch {
        return;
      }
      if (parsed.origin === this.origin) return;
      for (const { sessionId, artifactId, kind } of "changes" in parsed ? parsed.changes : [parsed]) {
        this.local.publish({ sandboxId: this.sandboxId, sessionId, artifactId, kind });
      }
    });
    // ioredis re-subscribes by itself after a reconnect.
    subscriber
      .connect()
      .then(() => subscriber.subscribe(this.channel))
      .catch(() => {});
  }

  /**
   * Publishes what is waiting (the store closes its session provider after this), then closes
   * the subscriber, connected or not: one whose first connect failed is still reconnecting, and
   * would keep the process alive.
   */
  async close(): Promise<void> {
    await this.flush();
    const subscriber = this.subscriber;
    this.subscriber = null;
    if (subscriber) {
      await subscriber.quit().catch(() => {});
      subscriber.disconnect();
    }
  }
}
