import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

type Arg = string | number;

/**
 * A Lua script sent by its SHA1 (EVALSHA), and as text (EVAL) only when the server answers that
 * it does not know it yet: a new or restarted server, or a cluster node it has not run on.
 *
 * ioredis's defineCommand() does the same, but every Pipeline it builds copies each defined
 * script onto itself, and an auto-pipelined connection builds one per busy tick: with the 13
 * scripts of the session provider that cost about 4 µs a pipeline, on writes that run none.
 */
export class LuaScript {
  private readonly sha: string;

  /** `numberOfKeys` null: the first argument of each call says how many keys follow. */
  constructor(
    private readonly lua: string,
    private readonly numberOfKeys: number | null,
  ) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  run<T>(client: Redis | Cluster, ...args: Arg[]): Promise<T> {
    const call = this.numberOfKeys === null ? args : [this.numberOfKeys, ...args];
    const [numberOfKeys, ...rest] = call as [Arg, ...Arg[]];
    return (client.evalsha(this.sha, numberOfKeys, ...rest) as Promise<T>).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return client.eval(this.lua, numberOfKeys, ...rest) as Promise<T>;
    });
  }
}
