import { Redis } from "ioredis";

/** Calls in flight, on average, from which commands are auto-pipelined. */
const BUSY_CALLS = 2;
/** The average is over about this many calls. */
const WINDOW = 8;
/** A connection idle this long starts again as not busy. */
const IDLE_MS = 1;

/**
 * Auto-pipelining sends the commands of one tick in one socket write: worth it while calls
 * overlap (32 cache reads in flight cost about a third less CPU each), but a lone call pays for a
 * Pipeline, a setImmediate and more promises: about 60 µs of latency on a 2-core machine, on every
 * sequential store and read. So a standalone connection pipelines only while it is busy: while the
 * calls in flight, counted as each call ends, average BUSY_CALLS or more, or for a batch of
 * several commands. (Counted as calls start, a burst of calls issued as the replies of the last
 * burst arrive would find none in flight.) After IDLE_MS with nothing in flight the average
 * starts again from zero: a lone call after a quiet spell is written at once.
 *
 * Commands written directly in one tick still share one socket write: the first corks the socket
 * until the tick ends (process.nextTick runs after the tick's promise callbacks). A store's cache
 * write and search-index write, issued a few promise steps apart, then cost Redis one read and
 * this process one reply to wake up for, not two — without the setImmediate an auto-pipeline waits.
 *
 * Order is kept: auto-pipelining is turned off only when no auto-pipeline is waiting to be
 * written (ioredis 5 keeps those in `_autoPipelines`), so a command written directly never
 * overtakes one issued before it. ioredis reads the option at each command. A cluster client, or
 * an ioredis without that map, keeps the option as set.
 */
export class PipeliningSwitch {
  private inFlight = 0;
  private load = 0;
  private lastEnded = 0;
  /** The client's options and its waiting auto-pipelines; null when it is left as configured. */
  private readonly target: {
    client: Redis;
    options: { enableAutoPipelining?: boolean };
    pending: Map<unknown, unknown>;
  } | null;
  private corked = false;

  constructor(client: unknown) {
    const pending =
      client instanceof Redis && (client as unknown as { _autoPipelines?: unknown })._autoPipelines;
    this.target =
      pending instanceof Map
        ? { client: client as Redis, options: (client as Redis).options, pending }
        : null;
  }

  /** Before a call issues its `commands`. */
  starting(commands: number): void {
    if (this.inFlight++ === 0 && performance.now() - this.lastEnded >= IDLE_MS) this.load = 0;
    if (this.target === null) return;
    const pipelined = this.target.pending.size > 0 || this.load >= BUSY_CALLS || commands > 1;
    this.target.options.enableAutoPipelining = pipelined;
    if (!pipelined) this.corkForTick(this.target.client);
  }

  /**
   * Runs `send` with its commands written at once rather than auto-pipelined (which waits for
   * a setImmediate), unless an auto-pipeline is waiting: then they queue behind it, in order.
   */
  directly<T>(send: () => T): T {
    const target = this.target;
    if (target === null || target.pending.size > 0 || !target.options.enableAutoPipelining) return send();
    target.options.enableAutoPipelining = false;
    try {
      return send();
    } finally {
      target.options.enableAutoPipelining = true;
    }
  }

  private corkForTick(client: Redis): void {
    const stream = client.stream;
    // Before "ready" ioredis queues commands itself, and writes them on connecting.
    if (this.corked || client.status !== "ready" || !stream) return;
    this.corked = true;
    stream.cork();
    process.nextTick(() => {
      this.corked = false;
      stream.uncork();
    });
  }

  /** Once a call has its answer (or failed). */
  ended(): void {
    this.load += (this.inFlight - this.load) / WINDOW;
    if (--this.inFlight === 0) this.lastEnded = performance.now();
  }
}
