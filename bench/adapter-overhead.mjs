// The adapter alone: one Hono route under @hono/node-server answering 1 KiB with the nine headers
// of a signed download, against bare node:http answering the same. Each server in a child process,
// autocannon (32 connections) in this one; prints requests/s and the server's CPU per request.
// Run from the repository: node bench/adapter-overhead.mjs [seconds]
import { fork } from "node:child_process";
import { createServer } from "node:http";

const [, , mode, kind] = process.argv;
if (mode === "server") {
  const body = Buffer.alloc(1024, 7);
  const headers = {
    "content-type": "application/octet-stream",
    etag: '"e3b0c44298fc1c149afbf4c8996fb924"',
    "last-modified": new Date().toUTCString(),
    "accept-ranges": "bytes",
    "cache-control": "private, no-cache",
    "content-disposition": "inline",
    "x-content-type-options": "nosniff",
    "content-security-policy": "sandbox; default-src 'none'",
    "content-length": "1024",
  };
  let server;
  if (kind === "raw") {
    server = createServer((_req, res) => {
      res.writeHead(200, headers);
      res.end(body);
    });
  } else {
    const { Hono } = await import("hono");
    const { createAdaptorServer } = await import("@hono/node-server");
    const app = new Hono();
    app.get("/signed/*", async () => new Response(body, { status: 200, headers }));
    server = createAdaptorServer({ fetch: app.fetch });
  }
  server.listen(0, "127.0.0.1", () => process.send(server.address().port));
  process.on("message", () => {
    const { user, system } = process.cpuUsage();
    process.send(user + system);
  });
} else {
  const seconds = Number(mode ?? 4);
  const { default: autocannon } = await import("autocannon");
  for (const rep of [1, 2, 3]) {
    for (const side of rep % 2 ? ["raw", "hono"] : ["hono", "raw"]) {
      const child = fork(new URL(import.meta.url).pathname, ["server", side]);
      const port = await new Promise((resolve) => child.once("message", resolve));
      const cpu = () =>
        new Promise((resolve) => {
          child.once("message", resolve);
          child.send("cpu");
        });
      const url = `http://127.0.0.1:${port}/signed/a/b`;
      await autocannon({ url, connections: 32, duration: 1 });
      const before = await cpu();
      const result = await autocannon({ url, connections: 32, duration: seconds });
      const after = await cpu();
      const n = result.requests.total;
      console.log(
        `${side.padEnd(4)} ${Math.round(n / seconds)} req/s, server CPU ${Math.round((after - before) / n)} µs/req, p99 ${result.latency.p99} ms`,
      );
      child.kill();
    }
  }
}
