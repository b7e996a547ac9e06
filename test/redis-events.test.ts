import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { heardBy, until, untilListening } from "./helpers/events.js";

/** Change events between two stores of one sandbox, over the real redis-server of the test run. */

const redisUrl = inject("services").redisUrl;

describe.skipIf(!redisUrl)("artifact changes across stores", () => {
  const stores: ArtifactStore[] = [];
  const open = (sandboxId: string) => {
    const store = new ArtifactStore({ sessionProvider: "redis", redisUrl: redisUrl!, sandboxId });
    stores.push(store);
    return store;
  };

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it("reach the other store in the order they were made, up to the writer's close", async () => {
    const sandboxId = uniqueSandbox("events");
    const writer = open(sandboxId);
    const reader = open(sandboxId);
    const made = heardBy(writer);
    const seen = heardBy(reader);
    await untilListening(writer, seen);
    await until(() => seen.length === made.length);
    const from = made.length;

    const sequential: string[] = [];
    for (let i = 0; i < 20; i++) sequential.push(await writer.store(`one ${i}`, { sessionId: "s1" }));
    const together = await Promise.all(
      Array.from({ length: 30 }, (_, i) => writer.store(`many ${i}`, { sessionId: "s2" })),
    );
    await Promise.all(together.slice(0, 10).map((id) => writer.delete(id)));
    // Made and closed at once: the change still goes out before the connection is quit.
    const last = await writer.store("last", { sessionId: "s1" });
    await writer.close();

    const expected = made.slice(from);
    expect(expected).toHaveLength(20 + 30 + 10 + 1);
    expect(expected.slice(0, 20).map((c) => c.artifactId)).toEqual(sequential);
    expect(expected.at(-1)).toMatchObject({ artifactId: last, kind: "created", sessionId: "s1" });
    await until(() => seen.length === made.length);
    expect(seen.slice(from)).toEqual(expected);
  });

  it("hears every change of a message, one change in the earlier form, and ignores what is not a change", async () => {
    const sandboxId = uniqueSandbox("events-wire");
    const reader = open(sandboxId);
    const seen = heardBy(reader);
    const other = new Redis(redisUrl!);
    try {
      const channel = `chuk-artifacts:{${sandboxId}}:events`;
      const probe = JSON.stringify({ origin: "o", sessionId: "p", artifactId: "probe", kind: "created" });
      await untilListening(null, seen, () => other.publish(channel, probe));
      seen.length = 0;
      await other.publish(channel, "not json");
      await other.publish(channel, JSON.stringify({ origin: "o", changes: [{ sessionId: "s" }] }));
      await other.publish(
        channel,
        JSON.stringify({
          origin: "o",
          changes: [
            { sessionId: "s", artifactId: "a1", kind: "created" },
            { sessionId: "s", artifactId: "a1", kind: "deleted" },
          ],
        }),
      );
      await other.publish(
        channel,
        JSON.stringify({ origin: "o", sessionId: "t", artifactId: "a2", kind: "updated" }),
      );
      await until(() => seen.length >= 3);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(seen).toEqual([
        { sandboxId, sessionId: "s", artifactId: "a1", kind: "created" },
        { sandboxId, sessionId: "s", artifactId: "a1", kind: "deleted" },
        { sandboxId, sessionId: "t", artifactId: "a2", kind: "updated" },
      ]);
    } finally {
      other.disconnect();
    }
  });
});
