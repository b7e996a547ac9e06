import type { Redis } from "ioredis";

/** Keys one MGET carries at most; more in one tick go as several. */
const MAX_KEYS = 128;

interface Waiting {
  key: string;
  done: (value: string | null) => void;
  fail: (err: unknown) => void;
}

/**
 * GETs asked for in one tick go to Redis as one MGET when that tick's callbacks are done (a lone
 * one as a plain GET). Under load reads arrive in bursts: one socket read carries the replies to
 * many calls, and each caller's next read is asked for in that same tick. ioredis makes a Command,
 * a timeout timer and a promise per command, so 32 GETs cost this process about twice the CPU of
 * one MGET of 32 keys (10.5 µs against 5–7 µs a key, 32 in flight, on a 2-core machine).
 *
 * The batch is written at once, not auto-pipelined (that waits for a setImmediate and costs a
 * Pipeline): one MGET of 32 keys cost 2.5 µs of CPU a key written directly, 5.4 µs auto-pipelined.
 *
 * Order: a batched read is sent after every command issued before it (behind a waiting
 * auto-pipeline, if there is one), and perhaps after some issued later in its tick, so it can only
 * see a newer value, never an older one. Standalone Redis only: on a cluster the keys of one MGET
 * must share a slot.
 */
export class ReadBatch {
  private waiting: Waiting[] = [];

  constructor(
    private readonly client: Redis,
    /** Sends a batch's command (PipeliningSwitch.directly): a batch needs no auto-pipeline. */
    private readonly send: <T>(write: () => T) => T = (write) => write(),
  ) {}

  get(key: string): Promise<string | null> {
    return new Promise((done, fail) => {
      if (this.waiting.length === 0) process.nextTick(() => this.flush());
      this.waiting.push({ key, done, fail });
      if (this.waiting.length >= MAX_KEYS) this.flush();
    });
  }

  private flush(): void {
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    if (batch.length === 1) {
      const [one] = batch as [Waiting];
      this.send(() => this.client.get(one.key)).then(one.done, one.fail);
      return;
    }
    this.send(() => this.client.mget(batch.map((w) => w.key))).then(
      (values) => {
        for (let i = 0; i < batch.length; i++) batch[i]!.done(values[i] ?? null);
      },
      (err: unknown) => {
        for (const w of batch) w.fail(err);
      },
    );
  }
}
