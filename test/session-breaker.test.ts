import { describe, expect, it } from "vitest";
import { ProviderError, SessionUnavailableError } from "../src/errors.js";
import { SessionBreaker, unlessSessionsUnavailable } from "../src/sessions/breaker.js";
import { MemorySessionProvider } from "../src/sessions/memory.js";
import { uniqueSandbox } from "./fixtures.js";
import { makeSession } from "./helpers/records.js";

/**
 * The circuit breaker's rules, with faults injected on demand into a real memory provider: a
 * backend that fails, or stalls, when told to. (The same breaker against a real redis-server
 * that is killed and restarted: redis-outage.test.ts.)
 */

class Faulty extends MemorySessionProvider {
  mode: "ok" | "fail" | "stall" = "ok";
  calls = 0;

  override async get(sandboxId: string, sessionId: string) {
    this.calls++;
    if (this.mode === "fail") throw new ProviderError("connection refused");
    if (this.mode === "stall") await new Promise((r) => setTimeout(r, 2000));
    return super.get(sandboxId, sessionId);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const started = performance.now();
  const [result] = await Promise.allSettled([fn()]);
  return { ms: performance.now() - started, result: result! };
}

describe("SessionBreaker", () => {
  it("passes calls through while closed, with the wrapped provider's name", async () => {
    const inner = new Faulty();
    const breaker = new SessionBreaker(inner);
    const sb = uniqueSandbox("br");
    const session = makeSession(sb, "s1");
    expect(breaker.name).toBe("memory");
    expect(await breaker.create(session)).toBe(true);
    expect(await breaker.get(sb, "s1")).toStrictEqual(session);
    expect(breaker.status()).toMatchObject({ state: "closed", lastError: null });
    expect(breaker.describe()).toMatchObject({ breaker: { state: "closed" } });
  });

  it("opens on a failure, then fails every call at once without calling the backend", async () => {
    const inner = new Faulty();
    const breaker = new SessionBreaker(inner, { probeIntervalMs: 60_000 });
    const sb = uniqueSandbox("br");
    inner.mode = "fail";
    const first = await timed(() => breaker.get(sb, "s1"));
    expect(first.result.status).toBe("rejected");
    const err = (first.result as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(SessionUnavailableError);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err.code).toBe("SESSION_UNAVAILABLE");
    expect(breaker.status()).toMatchObject({ state: "open", lastError: "connection refused" });

    inner.mode = "ok";
    const callsBefore = inner.calls;
    for (let i = 0; i < 100; i++) {
      const { ms, result } = await timed(() => breaker.get(sb, "s1"));
      expect(result.status).toBe("rejected");
      // At once: far inside the probe interval and any deadline, even on a loaded machine.
      expect(ms).toBeLessThan(250);
    }
    expect(inner.calls).toBe(callsBefore);
    expect((await breaker.health()).ok).toBe(false);
  });

  it("opens on a call slower than its deadline, which fails at the deadline", async () => {
    const inner = new Faulty();
    const breaker = new SessionBreaker(inner, { deadlineMs: 250, probeIntervalMs: 60_000 });
    inner.mode = "stall";
    const { ms, result } = await timed(() => breaker.get(uniqueSandbox("br"), "s1"));
    expect(result.status).toBe("rejected");
    expect((result as PromiseRejectedResult).reason).toBeInstanceOf(SessionUnavailableError);
    expect(ms).toBeGreaterThanOrEqual(240);
    expect(ms).toBeLessThan(1000);
    expect(breaker.status().state).toBe("open");
    expect(breaker.status().lastError).toContain("within 250 ms");
  });

  it("does not blame the backend for time this process spent stalled", async () => {
    // Two round trips of 10 ms each; the process is blocked for 600 ms right after the call starts.
    class TwoTrips extends MemorySessionProvider {
      override async get(sandboxId: string, sessionId: string) {
        await sleep(10);
        await sleep(10);
        return super.get(sandboxId, sessionId);
      }
    }
    const breaker = new SessionBreaker(new TwoTrips(), { deadlineMs: 250, probeIntervalMs: 60_000 });
    const call = breaker.get(uniqueSandbox("br"), "s1");
    const blockedUntil = performance.now() + 600;
    while (performance.now() < blockedUntil) {
      // a stalled event loop (a long GC, a CPU-bound task)
    }
    expect(await call).toBeNull();
    expect(breaker.status().state).toBe("closed");
  });

  it("lets one probe through per interval; a failed probe reopens, a successful one closes", async () => {
    const inner = new Faulty();
    const breaker = new SessionBreaker(inner, { probeIntervalMs: 300 });
    const sb = uniqueSandbox("br");
    inner.mode = "fail";
    await expect(breaker.get(sb, "x")).rejects.toBeInstanceOf(SessionUnavailableError);
    const openedAt = breaker.status().since;

    await sleep(350);
    // Ten calls at once once the interval is up: exactly one reaches the backend.
    const before = inner.calls;
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => breaker.get(sb, "x")));
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(inner.calls - before).toBe(1);
    expect(breaker.status().state).toBe("open");
    expect(breaker.status().since >= openedAt).toBe(true);

    inner.mode = "ok";
    await expect(breaker.get(sb, "x")).rejects.toBeInstanceOf(SessionUnavailableError); // too early
    await sleep(350);
    expect(await breaker.get(sb, "x")).toBeNull(); // the probe
    expect(breaker.status()).toMatchObject({ state: "closed", lastError: null });
    expect(await breaker.get(sb, "x")).toBeNull();
  });

  it("reports half-open while its probe is in flight", async () => {
    const inner = new Faulty();
    const breaker = new SessionBreaker(inner, { deadlineMs: 500, probeIntervalMs: 100 });
    inner.mode = "fail";
    await expect(breaker.get("sb", "x")).rejects.toBeInstanceOf(SessionUnavailableError);
    await sleep(150);
    inner.mode = "stall";
    const probe = breaker.get("sb", "x");
    expect(breaker.status().state).toBe("half-open");
    await expect(breaker.get("sb", "x")).rejects.toBeInstanceOf(SessionUnavailableError);
    await expect(probe).rejects.toBeInstanceOf(SessionUnavailableError);
    expect(breaker.status().state).toBe("open");
  });

  it("unlessSessionsUnavailable answers the fallback for SessionUnavailableError only", async () => {
    await expect(
      unlessSessionsUnavailable(Promise.reject(new SessionUnavailableError("down")), "miss"),
    ).resolves.toBe("miss");
    await expect(
      unlessSessionsUnavailable(Promise.reject(new ProviderError("other")), "miss"),
    ).rejects.toBeInstanceOf(ProviderError);
    await expect(unlessSessionsUnavailable(Promise.resolve("hit"), "miss")).resolves.toBe("hit");
  });
});
