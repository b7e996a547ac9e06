import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LuaScript } from "../src/sessions/redis-script.js";
import { watchedClient } from "./helpers/redis-watch.js";

/** Lua scripts sent by SHA1, and as text only when the server lacks them; on the run's redis-server. */

const redisUrl = inject("services").redisUrl;

describe.skipIf(!redisUrl)("Lua scripts by SHA1", () => {
  let client: Redis;
  let sent: string[] = [];
  /** The names of the commands noted in `sent`. */
  const names = () => sent.map((command) => command.split(" ")[0]);

  beforeAll(async () => {
    ({ client, sent } = await watchedClient(redisUrl!));
  });

  afterAll(async () => {
    await client?.quit();
  });

  /** A script no server has seen: a fresh comment changes its SHA1. */
  const freshLua = (body: string) => `-- ${randomBytes(8).toString("hex")}\n${body}`;

  it("sends the text once to a server that lacks it, then only the SHA1, and again after SCRIPT FLUSH", async () => {
    const script = new LuaScript(freshLua("return {KEYS[1], ARGV[1], ARGV[2]}"), 1);
    sent.length = 0;
    expect(await script.run(client, "k", "a", 7)).toEqual(["k", "a", "7"]);
    expect(names()).toEqual(["evalsha", "eval"]);

    sent.length = 0;
    expect(await script.run(client, "k2", "b", "c")).toEqual(["k2", "b", "c"]);
    expect(names()).toEqual(["evalsha"]);

    await client.script("FLUSH");
    sent.length = 0;
    expect(await script.run(client, "k3", "d", "e")).toEqual(["k3", "d", "e"]);
    expect(names()).toEqual(["evalsha", "eval"]);
  });

  it("takes the key count as the first argument when it has none of its own", async () => {
    const script = new LuaScript(freshLua("return {#KEYS, #ARGV}"), null);
    expect(await script.run(client, 2, "a", "b", "x")).toEqual([2, 1]);
    expect(await script.run(client, 0, "x", "y")).toEqual([0, 2]);
  });

  it("rejects with the script's own error, without sending it again as text", async () => {
    const script = new LuaScript(freshLua("return redis.error_reply('NOPE refused by the script')"), 0);
    await script.run(client).catch(() => undefined); // loads it
    sent.length = 0;
    await expect(script.run(client)).rejects.toThrow("NOPE refused by the script");
    expect(names()).toEqual(["evalsha"]);
  });
});
