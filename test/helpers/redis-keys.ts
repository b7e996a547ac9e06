import { Redis } from "ioredis";

/** Deletes every Redis key of one sandbox, as a flush (or a restart without persistence) would. */
export async function forgetSandboxInRedis(redisUrl: string, sandboxId: string): Promise<number> {
  const raw = new Redis(redisUrl);
  try {
    let removed = 0;
    let cursor = "0";
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `chuk:{${sandboxId}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) removed += await raw.del(...keys);
    } while (cursor !== "0");
    return removed;
  } finally {
    raw.disconnect();
  }
}

/**
 * Turns a sandbox's search indexing on and settled, as it is where the sandbox has searched
 * before: writes from the store's open on are indexed, as the index tests expect.
 */
export async function markSandboxSearched(redisUrl: string, sandboxId: string): Promise<void> {
  const raw = new Redis(redisUrl);
  try {
    await raw.set(`chuk:{${sandboxId}}:find-on`, "1");
  } finally {
    raw.disconnect();
  }
}
