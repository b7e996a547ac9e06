import { collect } from "../body.js";
import { ConflictError } from "../errors.js";
import { releaseBody, type StorageDriver } from "../storage/driver.js";

/** One pending delivery of one event to one URL, as kept in the outbox. */
export interface OutboxItem {
  deliveryId: string;
  eventId: string;
  url: string;
  /** The event's JSON text, signed afresh on every attempt. */
  body: string;
  attempts: number;
  /** Epoch ms before which no attempt is made. */
  nextAttemptAt: number;
  /** Epoch ms until which a process that claimed this delivery is sending it. */
  leaseUntil: number;
  createdAt: string;
  lastError: string | null;
}

export interface OutboxEntry {
  key: string;
  etag: string;
  item: OutboxItem;
}

/**
 * The durable webhook outbox: each pending delivery is a small JSON object on the storage driver
 * (the same bucket or folder as the artifacts, under the reserved `_webhooks/{sandbox}/` area), so
 * deliveries survive a restart and any process on the same storage can finish them. Claims and
 * updates are conditional on the object's etag, so two processes never send one attempt twice.
 */
export class WebhookOutbox {
  private readonly prefix: string;

  constructor(
    private readonly driver: StorageDriver,
    sandboxId: string,
  ) {
    this.prefix = `_webhooks/${sandboxId}/`;
  }

  private keyOf(area: "outbox" | "failed", item: OutboxItem): string {
    // Creation time first, so listing returns the oldest deliveries first.
    const created = String(Date.parse(item.createdAt)).padStart(15, "0");
    return `${this.prefix}${area}/${created}-${item.deliveryId}`;
  }

  async add(item: OutboxItem): Promise<OutboxEntry> {
    const key = this.keyOf("outbox", item);
    const { etag } = await this.write(key, item, { ifNoneMatch: true });
    return { key, etag, item };
  }

  async read(key: string): Promise<OutboxEntry | null> {
    const got = await this.driver.get(key);
    if (!got) return null;
    try {
      const item = JSON.parse((await collect(got.stream)).toString("utf8")) as OutboxItem;
      return { key, etag: got.etag, item };
    } catch {
      releaseBody(got);
      return null;
    }
  }

  /** Pending deliveries, oldest first. */
  async *pending(): AsyncGenerator<OutboxEntry> {
    let after: string | null = null;
    for (;;) {
      const page = await this.driver.list(`${this.prefix}outbox/`, { limit: 500, after });
      for (const key of page.keys) {
        const entry = await this.read(key);
        if (entry) yield entry;
      }
      if (!page.more || page.keys.length === 0) return;
      after = page.keys[page.keys.length - 1]!;
    }
  }

  /** Replaces an entry if nobody changed it since it was read; null when someone did. */
  async update(entry: OutboxEntry, item: OutboxItem): Promise<OutboxEntry | null> {
    try {
      const { etag } = await this.write(entry.key, item, { ifMatch: entry.etag });
      return { key: entry.key, etag, item };
    } catch (err) {
      if (err instanceof ConflictError) return null;
      throw err;
    }
  }

  async remove(entry: OutboxEntry): Promise<void> {
    await this.driver.delete(entry.key);
  }

  /** Moves a delivery that ran out of attempts to `_webhooks/{sandbox}/failed/`, kept for inspection. */
  async fail(entry: OutboxEntry, item: OutboxItem): Promise<void> {
    await this.write(this.keyOf("failed", item), item, {});
    await this.driver.delete(entry.key);
  }

  private write(key: string, item: OutboxItem, condition: { ifNoneMatch?: boolean; ifMatch?: string }) {
    const body = Buffer.from(JSON.stringify(item), "utf8");
    return this.driver.put(
      key,
      (async function* () {
        yield body;
      })(),
      { meta: "", contentType: "application/json", ...condition },
    );
  }
}
