/**
 * Writes to one group of keys, sent one call at a time in the order they were issued; writes of a
 * mergeable kind that queue up while a call is in flight go together in the next call (a group
 * commit). A lone write is sent at once, so nothing waits unless the keys are busy; under load
 * each round trip carries what arrived during the last one.
 */
export interface QueuedWrite<K extends string, T> {
  kind: K;
  item: T;
}

interface Waiting<K extends string, T> extends QueuedWrite<K, T> {
  resolve: () => void;
  reject: (err: unknown) => void;
}

type Send<K extends string, T> = (kind: K, items: T[]) => Promise<unknown>;

export class WriteQueues<K extends string, T> {
  private readonly queues = new Map<string, Waiting<K, T>[]>();

  /**
   * @param send writes `items` (in order) in one call
   * @param mergeable kinds whose consecutive writes may share a call
   * @param most items one call carries at most
   */
  constructor(
    private readonly send: Send<K, T>,
    private readonly mergeable: ReadonlySet<K>,
    private readonly most: number,
  ) {}

  /** Settles once the write is made (or its call failed). */
  write(group: string, kind: K, item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting = { kind, item, resolve, reject };
      const queue = this.queues.get(group);
      if (queue) {
        queue.push(waiting);
        return;
      }
      // The group's first write: the queue exists from here until it runs empty.
      this.queues.set(group, []);
      this.run(group, [waiting]);
    });
  }

  private run(group: string, batch: Waiting<K, T>[]): void {
    const kind = batch[0]!.kind;
    let sent: Promise<unknown>;
    try {
      sent = this.send(
        kind,
        batch.map((w) => w.item),
      );
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      () => {
        for (const w of batch) w.resolve();
        this.next(group);
      },
      (err: unknown) => {
        for (const w of batch) w.reject(err);
        this.next(group);
      },
    );
  }

  private next(group: string): void {
    const queue = this.queues.get(group)!;
    if (queue.length === 0) {
      this.queues.delete(group);
      return;
    }
    const first = queue[0]!;
    let take = 1;
    if (this.mergeable.has(first.kind)) {
      while (take < queue.length && take < this.most && queue[take]!.kind === first.kind) take++;
    }
    this.run(group, queue.splice(0, take));
  }
}
