import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpForwarder, type TcpForwarder } from "../src/bench/tcp-forwarder.js";
import { uniqueSandbox } from "./fixtures.js";
import { type Acknowledged, listed, readBack, runLoad, sha256, upload } from "./helpers/load.js";
import { json, KEY_ENV, KEYS, type RunningServer, s3RedisEnv, startServer } from "./http-harness.js";

/**
 * Fault test: `serve` on real RGW + Redis, reaching RGW through a TCP forwarder that the test
 * stops for 6 s under a bounded load of uploads and reads (the shared RGW itself is never
 * restarted). While it is down, uploads fail fast with a typed backend error and readiness says
 * unavailable; afterwards nothing acknowledged is lost and no listed artifact is torn.
 */

const env = s3RedisEnv();
const OUTAGE_MS = 6_000;

describe.skipIf(!env)("serve while RGW is unreachable", () => {
  let proxy: TcpForwarder;
  let server: RunningServer;

  beforeAll(async () => {
    const rgw = new URL(env!.S3_ENDPOINT_URL!);
    proxy = await startTcpForwarder({ host: rgw.hostname, port: Number(rgw.port) });
    server = await startServer({
      env: {
        ...KEY_ENV,
        ...env,
        S3_ENDPOINT_URL: `http://127.0.0.1:${proxy.port}`,
        ARTIFACT_SANDBOX_ID: uniqueSandbox("fault"),
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await proxy?.stop();
  });

  it("fails uploads fast while storage is down and loses or tears nothing", async () => {
    const key = KEYS.alice;
    const sessions = [undefined, "storage-fault"];
    const existing: Acknowledged[] = [];
    for (let i = 0; i < 10; i++) {
      const { ack } = await upload(
        server.url,
        key,
        sessions[i % 2],
        Buffer.from(`existing ${i} `.repeat(80)),
      );
      existing.push(ack!);
    }

    const started = Date.now();
    let downAt = 0;
    let upAt = 0;
    let readiness: { status: number; body: unknown } | null = null;
    const fault = (async () => {
      await new Promise((r) => setTimeout(r, 3000));
      await proxy.stop(); // refuses new connections and cuts the open ones, requests in flight too
      downAt = Date.now();
      await new Promise((r) => setTimeout(r, 2000));
      const ready = await json(`${server.url}/readyz`, "GET", null);
      readiness = { status: ready.status, body: ready.body };
      await new Promise((r) => setTimeout(r, OUTAGE_MS - (Date.now() - downAt)));
      upAt = Date.now();
      await proxy.start();
    })();
    const load = await runLoad({
      server: () => server.url,
      key,
      sessions,
      existing,
      writers: 2,
      readers: 2,
      pauseMs: 40,
      untilMs: started + 3000 + OUTAGE_MS + 4000,
      maxPerWorker: 500,
    });
    await fault;

    expect(readiness).toMatchObject({
      status: 503,
      body: { status: "unavailable", storage: { status: "error" } },
    });
    const uploadsDown = load.outcomes.filter(
      (o) => o.kind === "upload" && o.startedAt >= downAt && o.startedAt < upAt,
    );
    const slowest = Math.max(...uploadsDown.map((o) => o.ms));
    console.log(
      `rgw unreachable ${upAt - downAt} ms: ${uploadsDown.length} uploads, answers ${JSON.stringify(
        Object.fromEntries(uploadsDown.map((o) => [`${o.status} ${o.code}`, 0])),
      )}, slowest ${slowest.toFixed(0)} ms`,
    );
    expect(uploadsDown.length).toBeGreaterThanOrEqual(10);
    expect(slowest).toBeLessThan(2000);
    for (const o of uploadsDown) {
      // A backend failure, typed: never a hang, a 500 or an acknowledgement that did not happen.
      expect([502, 503]).toContain(o.status);
      expect(o.code).toBe("PROVIDER_ERROR");
    }
    expect(load.wrongBytes).toEqual([]);

    // Storage is back: readiness recovers, and the service with it.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await json(`${server.url}/readyz`, "GET", null)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);

    const acknowledged = [...existing, ...load.acknowledged];
    for (const ack of acknowledged) {
      const back = await readBack(server.url, key, ack.artifactId);
      expect(back.status, ack.artifactId).toBe(200);
      expect(back.bytes.equals(ack.bytes), ack.artifactId).toBe(true);
    }
    for (const sessionId of new Set(acknowledged.map((a) => a.sessionId))) {
      const items = await listed(server.url, key, sessionId);
      const ids = items.map((m) => m.artifactId);
      expect(new Set(ids).size).toBe(ids.length);
      const mine = acknowledged.filter((a) => a.sessionId === sessionId).map((a) => a.artifactId);
      expect(mine.filter((id) => !ids.includes(id))).toEqual([]);
      // Whatever is listed (an upload cut off mid-way included) reads back whole, matching its sha256.
      for (const item of items) {
        const back = await readBack(server.url, key, item.artifactId);
        expect(back.status, item.artifactId).toBe(200);
        expect(sha256(back.bytes), item.artifactId).toBe(item.sha256);
      }
    }
  }, 120_000);
});
