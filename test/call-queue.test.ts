import { describe, expect, it } from "vitest";
import { CallQueues } from "../src/sessions/call-queue.js";

/** The per-group call queue behind the Redis search index and session checks (src/sessions/call-queue.ts). */

type Kind = "put" | "remove";

/** A send that records each call and answers when the test lets it. */
function recorder() {
  const calls: { group: string; kind: Kind; items: string[]; finish: (err?: Error) => void }[] = [];
  const send = (kind: Kind, items: { group: string; v: string }[]) =>
    new Promise<void>((resolve, reject) => {
      calls.push({
        group: items[0]!.group,
        kind,
        items: items.map((i) => i.v),
        finish: (err) => (err ? reject(err) : resolve()),
      });
    });
  return { calls, send };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("CallQueues", () => {
  it("sends a lone write at once, and what queues meanwhile in issue order, mergeable kinds together", async () => {
    const { calls, send } = recorder();
    const queues = new CallQueues<Kind, { group: string; v: string }, void>(send, new Set(["put"]), 3);
    const w = (kind: Kind, v: string) => queues.call("a", kind, { group: "a", v });
    const done: string[] = [];
    const track = (p: Promise<void>, v: string) => p.then(() => done.push(v));
    track(w("put", "p1"), "p1");
    expect(calls.map((c) => c.items)).toEqual([["p1"]]);
    for (const v of ["p2", "p3", "p4", "p5"]) track(w("put", v), v);
    track(w("remove", "r1"), "r1");
    track(w("remove", "r2"), "r2");
    track(w("put", "p6"), "p6");
    calls[0]!.finish();
    await tick();
    expect(done).toEqual(["p1"]);
    // At most 3 a call; a removal is never merged, and nothing overtakes it.
    expect(calls.map((c) => [c.kind, ...c.items])).toEqual([
      ["put", "p1"],
      ["put", "p2", "p3", "p4"],
    ]);
    for (let i = 1; i < 5; i++) {
      calls[i]!.finish();
      await tick();
    }
    expect(calls.map((c) => [c.kind, ...c.items])).toEqual([
      ["put", "p1"],
      ["put", "p2", "p3", "p4"],
      ["put", "p5"],
      ["remove", "r1"],
      ["remove", "r2"],
      ["put", "p6"],
    ]);
    calls[5]!.finish();
    await tick();
    expect(done).toEqual(["p1", "p2", "p3", "p4", "p5", "r1", "r2", "p6"]);
  });

  it("keeps groups apart, fails only the writes of a failed call, and goes on after it", async () => {
    const { calls, send } = recorder();
    const queues = new CallQueues<Kind, { group: string; v: string }, void>(send, new Set(["put"]), 10);
    const a1 = queues.call("a", "put", { group: "a", v: "a1" });
    const b1 = queues.call("b", "put", { group: "b", v: "b1" });
    const a2 = queues.call("a", "put", { group: "a", v: "a2" });
    const a3 = queues.call("a", "put", { group: "a", v: "a3" });
    // Both groups' first writes are in flight at once.
    expect(calls.map((c) => c.items)).toEqual([["a1"], ["b1"]]);
    calls[0]!.finish(new Error("Redis went away"));
    await expect(a1).rejects.toThrow("Redis went away");
    expect(calls[2]).toMatchObject({ group: "a", items: ["a2", "a3"] });
    calls[2]!.finish(new Error("still away"));
    await expect(a2).rejects.toThrow("still away");
    await expect(a3).rejects.toThrow("still away");
    calls[1]!.finish();
    await b1;
    // An emptied group starts again with a write sent at once.
    const a4 = queues.call("a", "put", { group: "a", v: "a4" });
    expect(calls.at(-1)).toMatchObject({ group: "a", items: ["a4"] });
    calls.at(-1)!.finish();
    await a4;
  });

  it("fails a write whose send throws instead of leaving it waiting", async () => {
    const queues = new CallQueues<Kind, string, void>(
      () => {
        throw new Error("bad arguments");
      },
      new Set(["put"]),
      10,
    );
    await expect(queues.call("a", "put", "x")).rejects.toThrow("bad arguments");
    await expect(queues.call("a", "put", "y")).rejects.toThrow("bad arguments");
  });

  it("answers each caller with the call that carried its item, sent after it asked", async () => {
    let reads = 0;
    let release = () => {};
    const queues = new CallQueues<"read", string, number>(
      () =>
        new Promise<number>((resolve) => {
          const n = ++reads;
          release = () => resolve(n);
        }),
      new Set(["read"]),
      Number.POSITIVE_INFINITY,
    );
    const first = queues.call("s", "read", "w1");
    const later = [queues.call("s", "read", "w2"), queues.call("s", "read", "w3")];
    expect(reads).toBe(1);
    release();
    expect(await first).toBe(1);
    await tick();
    // w2 and w3 asked while read 1 was in flight: they share read 2.
    expect(reads).toBe(2);
    release();
    expect(await Promise.all(later)).toEqual([2, 2]);
  });
});
