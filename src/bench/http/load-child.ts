import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import { pipeline } from "node:stream/promises";
import { generated } from "../large.js";
import type { LoadJob, LoadResult, RequestSpec } from "./protocol.js";

/**
 * The load generator of the HTTP benchmark, in a process of its own so its work never shares a
 * core's time slice with the server it measures: autocannon for the many-request workloads, a
 * plain streaming request for the large ones.
 */

type Cannon = typeof import("autocannon");

function bodyOf(spec: RequestSpec, pool: Map<number, Buffer>): string | Buffer | undefined {
  if (spec.body === undefined || typeof spec.body === "string") return spec.body;
  let body = pool.get(spec.body);
  if (!body) {
    body = randomBytes(spec.body);
    pool.set(spec.body, body);
  }
  return body;
}

async function cannon(job: Extract<LoadJob, { type: "cannon" }>): Promise<LoadResult> {
  const autocannon = ((await import("autocannon")) as unknown as { default: Cannon }).default;
  const pool = new Map<number, Buffer>();
  const asRequest = (spec: RequestSpec) => ({
    method: spec.method,
    path: spec.path,
    headers: spec.headers,
    ...(spec.body !== undefined && { body: bodyOf(spec, pool) }),
  });
  let next = 0;
  // Every request (or two-request flow) is handed out once, in turn, across all connections.
  const requests = job.flows
    ? [
        {
          setupRequest: (req: object, context: Record<string, unknown>) => {
            const flow = job.flows![next++ % job.flows!.length]!;
            context.flow = flow;
            return { ...req, ...asRequest(flow[0]!) };
          },
        },
        {
          setupRequest: (req: object, context: Record<string, unknown>) => ({
            ...req,
            ...asRequest((context.flow as RequestSpec[])[1]!),
          }),
        },
      ]
    : [
        {
          setupRequest: (req: object) => ({
            ...req,
            ...asRequest(job.requests![next++ % job.requests!.length]!),
          }),
        },
      ];
  const result = await autocannon({
    url: `http://127.0.0.1:${job.port}`,
    connections: job.connections,
    ...(job.seconds !== null ? { duration: job.seconds } : { amount: job.amount! }),
    requests: requests as never,
  });
  const r = result as unknown as Record<string, number> & typeof result;
  const wrong = job.expect === 2 ? result.non2xx : r["1xx"]! + r["2xx"]! + r["4xx"]! + r["5xx"]!;
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000;
  const out: LoadResult = {
    requests: result.requests.total,
    seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
  };
  if (wrong > 0 || result.errors > 0 || result.timeouts > 0) {
    out.error = `${wrong} responses not ${job.expect}xx, ${result.errors} errors, ${result.timeouts} timeouts of ${result.requests.total}`;
  }
  return out;
}

/** One large request: the body streamed up from a generator, or the response consumed as it arrives. */
async function large(job: Extract<LoadJob, { type: "large-put" | "large-get" }>): Promise<LoadResult> {
  const started = process.hrtime.bigint();
  const { status, received } = await new Promise<{ status: number; received: number }>((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port: job.port,
        method: job.request.method,
        path: job.request.path,
        headers: { ...job.request.headers, ...(job.type === "large-put" && { "content-length": job.bytes }) },
      },
      (res) => {
        let received = 0;
        res.on("data", (chunk: Buffer) => {
          received += chunk.byteLength;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, received }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (job.type === "large-put") pipeline(generated(job.bytes), req).catch(reject);
    else req.end();
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const out: LoadResult = { requests: 1, seconds, p50: seconds * 1000, p99: seconds * 1000 };
  if (status !== 200) out.error = `status ${status}`;
  else if (job.type === "large-get" && received !== job.bytes)
    out.error = `received ${received} of ${job.bytes} bytes`;
  return out;
}

process.on("message", (job: LoadJob) => {
  (job.type === "cannon" ? cannon(job) : large(job)).then(
    (result) => process.send!(result),
    (err: unknown) =>
      process.send!({
        requests: 0,
        seconds: 0,
        p50: 0,
        p99: 0,
        error: err instanceof Error ? err.message : String(err),
      }),
  );
});
