import { createHash, randomBytes } from "node:crypto";
import { expect } from "vitest";
import { bearer } from "../http-harness.js";

/**
 * A bounded load of uploads and reads against a running server, for the fault tests: each worker
 * runs one request at a time, pauses between them, and stops at a deadline or a request count.
 * Every request is recorded with its start, duration and outcome, so a test can judge the
 * window in which it injected a fault.
 */

export interface Outcome {
  kind: "upload" | "read";
  startedAt: number;
  ms: number;
  status: number;
  /** The error code of a failed request, when the server sent one. */
  code: string | null;
}

export interface Acknowledged {
  artifactId: string;
  sessionId: string;
  sha256: string;
  bytes: Buffer;
}

export interface LoadOptions {
  /** The server URL for each request (rotates through several servers, or always one). */
  server: () => string;
  key: string;
  /** Session ids uploads go to (undefined: the caller's own session). */
  sessions: (string | undefined)[];
  /** Existing artifacts the readers fetch, with their exact bytes. */
  existing: Acknowledged[];
  writers: number;
  readers: number;
  pauseMs: number;
  untilMs: number;
  maxPerWorker: number;
}

export interface LoadResult {
  outcomes: Outcome[];
  acknowledged: Acknowledged[];
  /** Reads that answered 200 with bytes other than the artifact's. */
  wrongBytes: string[];
}

export function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export async function upload(
  url: string,
  key: string,
  sessionId: string | undefined,
  bytes: Buffer,
): Promise<{ status: number; code: string | null; ack: Acknowledged | null }> {
  const query = sessionId === undefined ? "" : `?sessionId=${encodeURIComponent(sessionId)}`;
  const res = await fetch(`${url}/v1/artifacts${query}`, {
    method: "POST",
    headers: bearer(key, { "content-type": "application/octet-stream" }),
    body: new Uint8Array(bytes),
  });
  const body = (await res.json().catch(() => null)) as {
    artifactId?: string;
    sessionId?: string;
    sha256?: string;
    error?: { code?: string };
  } | null;
  if (res.status !== 201 || !body?.artifactId || !body.sessionId) {
    return { status: res.status, code: body?.error?.code ?? null, ack: null };
  }
  return {
    status: res.status,
    code: null,
    ack: { artifactId: body.artifactId, sessionId: body.sessionId, sha256: body.sha256 ?? "", bytes },
  };
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const outcomes: Outcome[] = [];
  const acknowledged: Acknowledged[] = [];
  const wrongBytes: string[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  const timed = async (kind: Outcome["kind"], fn: () => Promise<{ status: number; code: string | null }>) => {
    const startedAt = Date.now();
    const began = performance.now();
    let status = 0;
    let code: string | null = null;
    try {
      ({ status, code } = await fn());
    } catch (err) {
      code = err instanceof Error ? err.name : "network";
    }
    outcomes.push({ kind, startedAt, ms: performance.now() - began, status, code });
  };

  const writer = async (w: number) => {
    for (let n = 0; n < options.maxPerWorker && Date.now() < options.untilMs; n++) {
      const sessionId = options.sessions[(w + n) % options.sessions.length];
      const bytes = randomBytes(512 + ((w * 7919 + n * 104_729) % 8192));
      await timed("upload", async () => {
        const result = await upload(options.server(), options.key, sessionId, bytes);
        if (result.ack) acknowledged.push(result.ack);
        return result;
      });
      await sleep(options.pauseMs);
    }
  };

  const reader = async (r: number) => {
    for (let n = 0; n < options.maxPerWorker && Date.now() < options.untilMs; n++) {
      const target = options.existing[(r * 31 + n) % options.existing.length]!;
      await timed("read", async () => {
        const res = await fetch(`${options.server()}/v1/artifacts/${target.artifactId}`, {
          headers: bearer(options.key),
        });
        if (res.status !== 200) {
          const body = (await res.json().catch(() => null)) as { error?: { code?: string } } | null;
          return { status: res.status, code: body?.error?.code ?? null };
        }
        const got = Buffer.from(await res.arrayBuffer());
        if (!got.equals(target.bytes)) wrongBytes.push(target.artifactId);
        return { status: 200, code: null };
      });
      await sleep(options.pauseMs);
    }
  };

  await Promise.all([
    ...Array.from({ length: options.writers }, (_, w) => writer(w)),
    ...Array.from({ length: options.readers }, (_, r) => reader(r)),
  ]);
  return { outcomes, acknowledged, wrongBytes };
}

/** Every artifact listed in a session (id and recorded sha256), following cursors. */
export async function listed(
  url: string,
  key: string,
  sessionId: string,
): Promise<{ artifactId: string; sha256: string }[]> {
  const items: { artifactId: string; sha256: string }[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const query = new URLSearchParams({ sessionId, limit: "1000", ...(cursor && { cursor }) });
    const res = await fetch(`${url}/v1/artifacts?${query}`, { headers: bearer(key) });
    if (res.status !== 200) throw new Error(`listing ${sessionId}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as {
      items: { artifactId: string; sha256: string }[];
      cursor: string | null;
    };
    items.push(...body.items.map(({ artifactId, sha256 }) => ({ artifactId, sha256 })));
    cursor = body.cursor;
    if (cursor === null) return items;
  }
  throw new Error(`listing ${sessionId} did not end`);
}

/** Every artifact id listed in a session. */
export async function listedIds(url: string, key: string, sessionId: string): Promise<string[]> {
  return (await listed(url, key, sessionId)).map((m) => m.artifactId);
}

/** Reads an artifact back: its status and, on 200, its bytes. */
export async function readBack(
  url: string,
  key: string,
  artifactId: string,
): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(`${url}/v1/artifacts/${artifactId}`, { headers: bearer(key) });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

export interface OutageWindow {
  downAt: number;
  upAt: number;
  /** /readyz, asked `probeAfterMs` into the outage. */
  readiness: { status: number; body: unknown };
}

/** `afterMs` from now takes a service down for `outageMs` (asking `readyz` meanwhile), then back up. */
export async function outage(options: {
  afterMs: number;
  outageMs: number;
  probeAfterMs: number;
  readyz: string;
  down: () => Promise<void>;
  up: () => Promise<void>;
}): Promise<OutageWindow> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
  await sleep(options.afterMs);
  await options.down();
  const downAt = Date.now();
  await sleep(options.probeAfterMs);
  const res = await fetch(options.readyz);
  const readiness = { status: res.status, body: await res.json().catch(() => null) };
  await sleep(options.outageMs - (Date.now() - downAt));
  const upAt = Date.now();
  await options.up();
  return { downAt, upAt, readiness };
}

/** Polls /readyz until it answers 200 with `status` (at most ~5 s); returns the last status seen. */
export async function readyAgain(url: string, status = "ready"): Promise<string> {
  let seen = "";
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${url}/readyz`);
    seen =
      ((await res.json().catch(() => null)) as { status?: string } | null)?.status ?? `HTTP ${res.status}`;
    if (res.status === 200 && seen === status) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return seen;
}

/**
 * After a fault: every acknowledged artifact reads back byte for byte and is listed in its session
 * exactly once, and everything listed there (uploads cut off mid-way included) reads back whole,
 * matching its recorded sha256.
 */
export async function expectNothingLostOrTorn(
  url: string,
  key: string,
  acknowledged: Acknowledged[],
): Promise<void> {
  for (const ack of acknowledged) {
    const back = await readBack(url, key, ack.artifactId);
    expect(back.status, ack.artifactId).toBe(200);
    expect(back.bytes.equals(ack.bytes), ack.artifactId).toBe(true);
  }
  for (const sessionId of new Set(acknowledged.map((a) => a.sessionId))) {
    const items = await listed(url, key, sessionId);
    const ids = items.map((m) => m.artifactId);
    expect(new Set(ids).size).toBe(ids.length);
    const mine = acknowledged.filter((a) => a.sessionId === sessionId).map((a) => a.artifactId);
    expect(mine.filter((id) => !ids.includes(id))).toEqual([]);
    const known = new Set(mine);
    for (const item of items.filter((m) => !known.has(m.artifactId))) {
      const back = await readBack(url, key, item.artifactId);
      expect(back.status, item.artifactId).toBe(200);
      expect(sha256(back.bytes), item.artifactId).toBe(item.sha256);
    }
  }
}
