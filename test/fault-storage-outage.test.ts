import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTcpForwarder, type TcpForwarder } from "../src/bench/tcp-forwarder.js";
import { uniqueSandbox } from "./fixtures.js";
import {
  type Acknowledged,
  expectNothingLostOrTorn,
  outage,
  readyAgain,
  runLoad,
  upload,
} from "./helpers/load.js";
import { KEY_ENV, KEYS, type RunningServer, s3RedisEnv, startServer } from "./http-harness.js";

/**
 * Fault test: `serve` on real RGW + Redis, reaching RGW through a TCP forwarder that the test
 * stops for 6 s under a bounded load of uploads and reads (the shared RGW itself is never
 * restarted). While it is down, uploads fail fast with a typed backend error and readiness says
 * unavailable; afterwards nothing acknowledged is lost and no listed artifact is torn.
 */

const env = s3RedisEnv();
const OUTAGE_MS = 6_000;

describe.skipIf(!env)("serve while RGW is unreachable", () => {
  let forwarder: TcpForwarder;
  let server: RunningServer;

  beforeAll(async () => {
    const rgw = new URL(env!.S3_ENDPOINT_URL!);
    forwarder = await startTcpForwarder({ host: rgw.hostname, port: Number(rgw.port) });
    server = await startServer({
      env: {
        ...KEY_ENV,
        ...env,
        S3_ENDPOINT_URL: `http://127.0.0.1:${forwarder.port}`,
        ARTIFACT_SANDBOX_ID: uniqueSandbox("fault"),
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await forwarder?.stop();
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
    const [window, load] = await Promise.all([
      outage({
        afterMs: 3000,
        outageMs: OUTAGE_MS,
        probeAfterMs: 2000,
        readyz: `${server.url}/readyz`,
        down: () => forwarder.stop(), // refuses new connections and cuts open ones, mid-request too
        up: () => forwarder.start(),
      }),
      runLoad({
        server: () => server.url,
        key,
        sessions,
        existing,
        writers: 2,
        readers: 2,
        pauseMs: 40,
        untilMs: started + 3000 + OUTAGE_MS + 4000,
        maxPerWorker: 500,
      }),
    ]);

    expect(window.readiness).toMatchObject({
      status: 503,
      body: { status: "unavailable", storage: { status: "error" } },
    });
    // Uploads that began and ended while RGW was away (one that began just before it returned
    // may rightly succeed on the SDK's retry).
    const uploadsDown = load.outcomes.filter(
      (o) => o.kind === "upload" && o.startedAt >= window.downAt && o.startedAt + o.ms < window.upAt,
    );
    const slowest = Math.max(...uploadsDown.map((o) => o.ms));
    const answers = [...new Set(uploadsDown.map((o) => `${o.status} ${o.code}`))];
    console.log(
      `rgw unreachable: ${uploadsDown.length} uploads, answers ${answers.join(", ")}, slowest ${slowest.toFixed(0)} ms`,
    );
    expect(uploadsDown.length).toBeGreaterThanOrEqual(10);
    expect(slowest).toBeLessThan(2000);
    for (const o of uploadsDown) {
      // A backend failure, typed: never a hang, a 500 or an acknowledgement that did not happen.
      expect([502, 503]).toContain(o.status);
      expect(o.code).toBe("PROVIDER_ERROR");
    }
    expect(load.wrongBytes).toEqual([]);

    // Storage is back: readiness recovers, and nothing acknowledged is lost or torn.
    expect(await readyAgain(server.url)).toBe("ready");
    await expectNothingLostOrTorn(server.url, key, [...existing, ...load.acknowledged]);
  }, 120_000);
});
