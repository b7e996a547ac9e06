import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { ArtifactChange, LocalArtifactEvents } from "../events.js";
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
 * Two connections, made on first use: one to publish, one in subscriber mode (which can do
 * nothing else), the latter only once something listens. The changes of a loop turn go out as one
 * message, in one PUBLISH written at once: under load that is one command for many writes, and a
 * lone write pays for one command and no auto-pipeline.
 */
export class RedisArtifactEvents {
  private readonly origin = randomUUID();
  private readonly channel: string;
  private readonly target;
  private publisher: ReturnType<typeof createClient> | null = null;
  /** The publisher's first connect, settled either way: after a failed one it reconnects by itself. */
  private firstConnect: Promise<void> = Promise.resolve();
  private subscriber: ReturnType<typeof createClient> | null = null;
  /** Changes not yet handed to the publisher: sent together once the current callbacks are done. */
  private outbox: Change[] = [];
  /** Settles once every message handed to the publisher so far is answered. */
  private sending: Promise<void> = Promise.resolve();

  constructor(
    url: string,
    private readonly sandboxId: string,
    private readonly local: LocalArtifactEvents,
  ) {
    this.target = parseRedisUrl(url);
    this.channel = `chuk-artifacts:{${sandboxId}}:events`;
  }

  private connection() {
    const client = createClient(this.target, CONNECT_TIMEOUT_MS, COMMAND_TIMEOUT_MS, undefined, false);
    // Without a listener ioredis prints connection errors; an unreachable Redis already shows in health.
    client.on("error", () => {});
    client.on("node error", () => {});
    return client;
  }

  publish(change: ArtifactChange): void {
    this.local.publish(change);
    if (change.sandboxId !== this.sandboxId) return;
    if (!this.publisher) {
      this.publisher = this.connection();
      // The clients have no offline queue: the first changes wait for the first connect. If that
      // fails, the client keeps reconnecting, and changes meanwhile are missed as while disconnected.
      this.firstConnect = this.publisher.connect().catch(() => {});
    }
    const { sessionId, artifactId, kind } = change;
    this.outbox.push({ sessionId, artifactId, kind });
    // The write that made the change answers its caller first; the changes of a loop turn then go
    // out together, in the order they were made.
    if (this.outbox.length === 1) setImmediate(() => void this.flush());
  }

  /**
   * Publishes the waiting changes. Settles (never rejects) once Redis has answered them and
   * every earlier flush's.
   */
  private flush(): Promise<void> {
    const changes = this.outbox;
    this.outbox = [];
    const publisher = this.publisher;
    if (publisher && changes.length > 0) {
      const messages: string[] = [];
      for (let i = 0; i < changes.length; i += CHANGES_PER_MESSAGE) {
        messages.push(
          JSON.stringify({ origin: this.origin, changes: changes.slice(i, i + CHANGES_PER_MESSAGE) }),
        );
      }
      const sent = this.firstConnect.then(() =>
        Promise.all(messages.map((message) => publisher.publish(this.channel, message).catch(() => {}))),
      );
      this.sending = Promise.all([this.sending, sent]).then(() => {});
    }
    return this.sending;
  }

  /** Starts receiving other processes' changes (idempotent). */
  listen(): void {
    if (this.subscriber) return;
    const subscriber = this.connection();
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
   * Closes both clients, connected or not: one whose first connect failed is still reconnecting,
   * and would keep the process alive.
   */
  async close(): Promise<void> {
    // Changes made before closing are still published: QUIT is written at once, ahead of any
    // command waiting in an auto-pipeline, so it is sent only once they are answered.
    await this.flush();
    const clients = [this.publisher, this.subscriber].filter((c) => c !== null);
    this.publisher = null;
    this.subscriber = null;
    await Promise.allSettled(clients.map((c) => c.quit()));
    for (const c of clients) c.disconnect();
  }
}
