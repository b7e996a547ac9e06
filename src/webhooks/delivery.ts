import { randomUUID } from "node:crypto";
import type { AuditEvent } from "../audit/event.js";
import type { ArtifactStore } from "../store.js";
import { type OutboxItem, WebhookOutbox } from "./outbox.js";
import { MIN_WEBHOOK_SECRET_LENGTH, signWebhook } from "./signature.js";

export interface WebhookOptions {
  /** Endpoints that receive every audit event as a signed POST (http or https). */
  urls: string[];
  /** The HMAC secret receivers verify with (verifyWebhook); at least 16 characters. */
  secret: string;
  /** Attempts per delivery before it is moved to the failed area. Default 12. */
  maxAttempts?: number;
  /** Wait before the first retry; doubled per attempt (with jitter) up to maxBackoffMs. Default 1000. */
  backoffMs?: number;
  /** Longest wait between attempts. Default 300000 (5 minutes). */
  maxBackoffMs?: number;
  /** Time one POST may take. Default 10000. */
  timeoutMs?: number;
  /** How often the outbox is re-read for deliveries other processes left behind. Default 60000. */
  rescanMs?: number;
  /** The delivery log: one entry per attempt. Default: none. */
  log?: (entry: DeliveryLogEntry) => void;
}

/** One line of the delivery log. The URL is shown without credentials or query string. */
export interface DeliveryLogEntry {
  /** When the attempt started. */
  at: string;
  deliveryId: string;
  eventId: string;
  eventType: string;
  url: string;
  attempt: number;
  /** "not queued": storage refused the outbox write, so this event is not delivered to this URL. */
  outcome: "delivered" | "retrying" | "failed" | "not queued";
  status: number | null;
  error: string | null;
  durationMs: number;
  /** When the next attempt is due (outcome "retrying"). */
  nextAttemptAt: string | null;
}

export const WEBHOOK_DEFAULTS = {
  maxAttempts: 12,
  backoffMs: 1000,
  maxBackoffMs: 300_000,
  timeoutMs: 10_000,
  rescanMs: 60_000,
};

const CONCURRENCY = 8;

/**
 * Delivers a store's audit events to webhook URLs. Each event is first written to the durable
 * outbox (one entry per URL), then POSTed; a failure (network error, timeout, non-2xx answer) is
 * retried with exponential backoff, the outbox entry recording the attempts, until it succeeds or
 * runs out of attempts. Started again on the same storage, it drains what the outbox still holds,
 * so a restart (or a crash) loses no queued delivery. Delivery is at least once: receivers
 * deduplicate on the chuk-webhook-id header.
 *
 * What is not covered: an event is queued a moment after its operation returns, so a process
 * killed within that moment can lose the events of its last operations.
 */
export class WebhookDelivery {
  private readonly options: Required<Omit<WebhookOptions, "log">> & Pick<WebhookOptions, "log">;
  private readonly due = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly sending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private outbox: WebhookOutbox | null = null;
  private closed = false;

  constructor(
    private readonly store: ArtifactStore,
    options: WebhookOptions,
  ) {
    this.options = { ...WEBHOOK_DEFAULTS, ...options };
    validateWebhookOptions(this.options);
  }

  /** Opens the outbox, starts listening to the store's events and drains what is pending. */
  async start(): Promise<this> {
    const { driver } = await this.store.backends();
    this.outbox = new WebhookOutbox(driver, this.store.sandboxId);
    this.unsubscribe = this.store.audit.subscribe((event) => this.track(this.enqueue(event)));
    await this.rescan();
    this.rescanTimer = setInterval(() => this.track(this.rescan()), this.options.rescanMs);
    this.rescanTimer.unref();
    return this;
  }

  /** Resolves when every delivery that is due now has been attempted (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops listening and retrying; what is still pending stays in the outbox for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    await this.idle();
  }

  private track(work: Promise<void>): void {
    const done = work.catch(() => {}).finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  private async enqueue(event: AuditEvent): Promise<void> {
    const body = JSON.stringify(event);
    await Promise.all(
      this.options.urls.map(async (url) => {
        const item: OutboxItem = {
          deliveryId: randomUUID(),
          eventId: event.id,
          url,
          body,
          attempts: 0,
          nextAttemptAt: Date.now(),
          leaseUntil: 0,
          createdAt: new Date().toISOString(),
          lastError: null,
        };
        try {
          const entry = await this.outbox!.add(item);
          this.due.set(entry.key, item.nextAttemptAt);
        } catch (err) {
          // Storage refused the outbox write: the one case where an event is dropped; say so.
          this.options.log?.({
            at: item.createdAt,
            deliveryId: item.deliveryId,
            eventId: event.id,
            eventType: event.type,
            url: urlForLog(url),
            attempt: 0,
            outcome: "not queued",
            status: null,
            error: `the outbox could not be written: ${(err as Error).message}`,
            durationMs: 0,
            nextAttemptAt: null,
          });
        }
      }),
    );
    this.pump();
  }

  /** Learns every pending delivery from the outbox (its own after a restart, and other processes'). */
  private async rescan(): Promise<void> {
    for await (const entry of this.outbox!.pending()) {
      if (!this.sending.has(entry.key)) this.due.set(entry.key, entry.item.nextAttemptAt);
    }
    this.pump();
  }

  /** Attempts what is due (a few at a time) and sets a timer for the next one. */
  private pump(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [key, at] of this.due) {
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      if (this.sending.size >= CONCURRENCY) break;
      this.due.delete(key);
      this.sending.add(key);
      this.track(
        this.attempt(key).finally(() => {
          this.sending.delete(key);
          this.pump();
        }),
      );
    }
    if (next !== Number.POSITIVE_INFINITY) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, next - now));
      this.timer.unref();
    }
  }

  private async attempt(key: string): Promise<void> {
    const outbox = this.outbox!;
    const read = await outbox.read(key);
    if (!read) return; // delivered (or failed) by another process
    const now = Date.now();
    if (read.item.nextAttemptAt > now || read.item.leaseUntil > now) {
      this.due.set(key, Math.max(read.item.nextAttemptAt, read.item.leaseUntil));
      return;
    }
    // Claim it: if another process claimed it first, this write fails and that one sends it.
    const leaseUntil = now + this.options.timeoutMs + 5000;
    const claimed = await outbox.update(read, { ...read.item, leaseUntil });
    if (!claimed) return;
    const item = { ...claimed.item, attempts: claimed.item.attempts + 1 };
    const started = Date.now();
    const result = await this.post(item);
    const durationMs = Date.now() - started;
    const log = (entry: Pick<DeliveryLogEntry, "outcome" | "nextAttemptAt">) =>
      this.options.log?.({
        at: new Date(started).toISOString(),
        deliveryId: item.deliveryId,
        eventId: item.eventId,
        eventType: eventType(item.body),
        url: urlForLog(item.url),
        attempt: item.attempts,
        status: result.status,
        error: result.error,
        durationMs,
        ...entry,
      });
    if (result.ok) {
      await outbox.remove(claimed);
      log({ outcome: "delivered", nextAttemptAt: null });
      return;
    }
    const lastError = result.error ?? `HTTP ${result.status}`;
    if (item.attempts >= this.options.maxAttempts) {
      await outbox.fail(claimed, { ...item, lastError, leaseUntil: 0 });
      log({ outcome: "failed", nextAttemptAt: null });
      return;
    }
    const nextAttemptAt = Date.now() + this.backoff(item.attempts);
    const updated = await outbox.update(claimed, { ...item, lastError, leaseUntil: 0, nextAttemptAt });
    if (updated) this.due.set(key, nextAttemptAt);
    log({ outcome: "retrying", nextAttemptAt: new Date(nextAttemptAt).toISOString() });
  }

  /** backoffMs · 2^(attempt-1), capped, with ±20 % jitter so retries of many events spread out. */
  private backoff(attempt: number): number {
    const base = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** (attempt - 1));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private async post(
    item: OutboxItem,
  ): Promise<{ ok: boolean; status: number | null; error: string | null }> {
    try {
      const res = await fetch(item.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "user-agent": "chuk-artifacts-webhooks",
          ...signWebhook(this.options.secret, item.eventId, item.body),
        },
        body: item.body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      return { ok: res.status >= 200 && res.status < 300, status: res.status, error: null };
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      return { ok: false, status: null, error: cause ?? (err as Error).name ?? "request failed" };
    }
  }
}

/** Starts delivering `store`'s audit events to `options.urls`; close() it before closing the store. */
export async function startWebhooks(store: ArtifactStore, options: WebhookOptions): Promise<WebhookDelivery> {
  return new WebhookDelivery(store, options).start();
}

function validateWebhookOptions(options: Required<Omit<WebhookOptions, "log">>): void {
  if (typeof options.secret !== "string" || options.secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
    throw new Error(`the webhook secret must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters`);
  }
  if (options.urls.length === 0) throw new Error("give at least one webhook URL");
  for (const url of options.urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`not a webhook URL: ${urlForLog(url)}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new Error(`webhook URLs must be http or https: ${urlForLog(url)}`);
    }
  }
  for (const name of ["maxAttempts", "backoffMs", "maxBackoffMs", "timeoutMs", "rescanMs"] as const) {
    if (!Number.isSafeInteger(options[name]) || options[name] < 1) {
      throw new Error(`webhook ${name} must be a positive whole number`);
    }
  }
}

/** A URL for logs: no user, password or query (either may hold a token). */
export function urlForLog(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return "<unparseable url>";
  }
}

function eventType(body: string): string {
  try {
    return String((JSON.parse(body) as { type?: unknown }).type ?? "");
  } catch {
    return "";
  }
}
