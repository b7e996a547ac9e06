/**
 * Calls on one group of keys, sent one at a time in the order they were asked for; calls of a
 * mergeable kind that queue up while one is in flight go together in the next (a group commit).
 * A lone call is sent at once, so nothing waits unless the keys are busy; under load each round
 * trip carries what arrived during the last one. Every caller gets the answer of the call that
 * carried its item, which was sent after the caller asked.
 */
interface Waiting<K extends string, T, R> {
  kind: K;
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

type Send<K extends string, T, R> = (kind: K, items: T[]) => Promise<R>;

export class CallQueues<K extends string, T, R = unknown> {
  private readonly queues = new Map<string, Waiting<K, T, R>[]>();

  /**
   * @param send makes the call for `items` (in order)
   * @param mergeable kinds whose consecutive calls may be sent as one
   * @param most items one call carries at most
   */
  constructor(
    private readonly send: Send<K, T, R>,
    private readonly mergeable: ReadonlySet<K>,
    private readonly most: number,
  ) {}

  /** The answer of the call that carries `item` (or its failure). */
  call(group: string, kind: K, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiting = { kind, item, resolve, reject };
      const queue = this.queues.get(group);
      if (queue) {
        queue.push(waiting);
        return;
      }
      // The group's first call: the queue exists from here until it runs empty.
      this.queues.set(group, []);
      this.run(group, [waiting]);
    });
  }

  private run(group: string, batch: Waiting<K, T, R>[]): void {
    const kind = batch[0]!.kind;
    let sent: Promise<R>;
    try {
      sent = this.send(
        kind,
        batch.map((w) => w.item),
      );
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (result) => {
        for (const w of batch) w.resolve(result);
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
