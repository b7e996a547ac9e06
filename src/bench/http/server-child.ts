import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { mapLimit } from "../../concurrency.js";
import { createHttpHandler } from "../../http/app.js";
import { createNodeServer } from "../../http/node-server.js";
import { ArtifactStore } from "../../store.js";
import { memoryStatus, resetPeak } from "../large.js";
import { RawFilesystem } from "../raw-filesystem.js";
import { RawMemory } from "../raw-memory.js";
import { RawS3Redis } from "../raw-s3.js";
import { storeOptions } from "../setup.js";
import { collectGarbage } from "../stats.js";
import {
  BENCH_API_KEY,
  BENCH_SIGNING_SECRET,
  BENCH_UPLOAD_LIMIT,
  BENCH_USER,
  type HttpWorkloadId,
  type RequestSpec,
  type ServerReply,
  type ServerRequest,
} from "./protocol.js";
import {
  filesystemBackend,
  memoryBackend,
  type RawHttpBackend,
  rawServer,
  rawSignedPath,
  s3Backend,
} from "./raw-server.js";

/**
 * A child process serving one side of the HTTP benchmark: the library's server exactly as
 * `chuk-artifacts serve` runs it ("ours"), or the bare node:http baseline ("raw"). It prepares the
 * artifacts and URLs each workload requests (untimed) and reports its peak memory on request.
 */

const AUTH = { authorization: `Bearer ${BENCH_API_KEY}` };
const SIGNED_SECONDS = 3600;
/** Fixtures are made this many at a time (an S3 server refuses a thousand at once). */
const FIXTURE_CONCURRENCY = 32;

interface Side {
  server: Server;
  /** Stores `count` artifacts of `size` random bytes; their keys (raw) or ids (ours), and the ETag each server gives them. */
  fixtures(count: number, size: number): Promise<{ handle: string; etag: string }[]>;
  signedGet(handle: string): Promise<string>;
  restGet(handle: string): string;
  /** A pending upload slot: the PUT path and the register path. */
  slot(): Promise<{ put: string; register: string; handle: string }>;
  register(handle: string): Promise<void>;
  close(): Promise<void>;
}

async function openOurs(request: Extract<ServerRequest, { type: "start" }>): Promise<Side> {
  let app: ReturnType<typeof createHttpHandler> | null = null;
  const server = createNodeServer(() => app);
  const port = await listen(server);
  const store = new ArtifactStore({
    ...storeOptions(request.settings),
    signingSecret: BENCH_SIGNING_SECRET,
    publicUrl: `http://127.0.0.1:${port}`,
  });
  await store.backends();
  app = createHttpHandler(store, {
    apiKeys: [{ key: BENCH_API_KEY, userId: BENCH_USER }],
    // One key drives all 32 connections: as `serve --max-uploads-per-key 256` (default 16).
    maxUploads: { perKey: 256, total: 256 },
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const pathOf = (url: string) => {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  };
  return {
    server,
    fixtures: (count, size) =>
      mapLimit(Array.from({ length: count }), FIXTURE_CONCURRENCY, async () => {
        const id = await store.store(randomBytes(size), {
          userId: BENCH_USER,
          mime: "application/octet-stream",
        });
        return { handle: id, etag: (await store.metadata(id)).etag };
      }),
    signedGet: async (id) => pathOf(await store.presign(id, { expires: SIGNED_SECONDS })),
    restGet: (id) => `/v1/artifacts/${id}`,
    slot: async () => {
      const upload = await store.presignUpload({
        userId: BENCH_USER,
        expires: SIGNED_SECONDS,
        maxBytes: BENCH_UPLOAD_LIMIT,
      });
      return {
        // On S3 the URL goes straight to the S3 server, not to this one.
        put: upload.url.startsWith(`http://127.0.0.1:${port}/`) ? pathOf(upload.url) : upload.url,
        register: `/v1/uploads/${upload.artifactId}/register`,
        handle: upload.artifactId,
      };
    },
    register: async (id) => {
      await store.registerUploadedArtifact(id, { userId: BENCH_USER });
    },
    close: () => store.close(),
  };
}

async function openRaw(request: Extract<ServerRequest, { type: "start" }>): Promise<Side> {
  const { settings } = request;
  let backend: RawHttpBackend;
  let close = async () => {};
  let s3: RawS3Redis | null = null;
  if (settings.provider === "memory") {
    backend = memoryBackend(new RawMemory());
  } else if (settings.provider === "filesystem") {
    const raw = await RawFilesystem.open(join(settings.root!, `raw-http-${randomBytes(4).toString("hex")}`));
    backend = filesystemBackend(raw);
    close = () => raw.destroy();
  } else {
    const raw = await RawS3Redis.open(settings.s3!, settings.redisUrl!, settings.concurrency);
    backend = s3Backend(raw);
    close = async () => {
      await raw.destroy();
      await raw.close();
    };
    s3 = raw;
  }
  const server = rawServer(backend);
  await listen(server);
  return {
    server,
    fixtures: (count, size) =>
      mapLimit(Array.from({ length: count }), FIXTURE_CONCURRENCY, async () => {
        const record = await backend.receive(backend.newKey(), once(randomBytes(size)), null, false);
        return { handle: record.key, etag: record.sha256 };
      }),
    signedGet: async (key) => rawSignedPath("GET", key, SIGNED_SECONDS),
    restGet: (key) => `/v1/artifacts/${key}`,
    slot: async () => {
      const key = backend.newKey();
      return {
        put: s3 ? await s3.presignPut(key) : rawSignedPath("PUT", key, SIGNED_SECONDS, BENCH_UPLOAD_LIMIT),
        register: `/v1/uploads/${key}/register`,
        handle: key,
      };
    },
    register: async (key) => {
      await backend.register(key);
    },
    close,
  };
}

async function* once(chunk: Uint8Array): AsyncIterable<Uint8Array> {
  yield chunk;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

async function prepare(
  side: Side,
  workload: HttpWorkloadId,
  count: number,
  size: number,
): Promise<ServerReply> {
  const uploadHeaders = { ...AUTH, "content-type": "application/octet-stream" };
  switch (workload) {
    case "http-rest-upload":
      return { requests: [{ method: "POST", path: "/v1/artifacts", headers: uploadHeaders, body: size }] };
    case "http-presigned-put": {
      const flows: RequestSpec[][] = [];
      const registers: RequestSpec[] = [];
      for (let i = 0; i < count; i += 32) {
        const slots = await Promise.all(Array.from({ length: Math.min(32, count - i) }, () => side.slot()));
        for (const s of slots) {
          if (s.put.startsWith("http")) {
            // Straight to S3: the client's PUT is none of this server's work; only the register is.
            const put = await fetch(s.put, { method: "PUT", body: randomBytes(size) });
            if (!put.ok) throw new Error(`PUT to S3 answered ${put.status}`);
            registers.push({
              method: "POST",
              path: s.register,
              headers: { ...AUTH, "content-type": "application/json" },
              body: "{}",
            });
            continue;
          }
          flows.push([
            {
              method: "PUT",
              path: s.put,
              headers: { "content-type": "application/octet-stream" },
              body: size,
            },
            {
              method: "POST",
              path: s.register,
              headers: { ...AUTH, "content-type": "application/json" },
              body: "{}",
            },
          ]);
        }
      }
      return registers.length > 0 ? { requests: registers, once: true } : { flows, once: true };
    }
    default: {
      const made = await side.fixtures(count, size);
      const requests = await Promise.all(
        made.map(async ({ handle, etag }): Promise<RequestSpec> => {
          if (workload === "http-rest-get")
            return { method: "GET", path: side.restGet(handle), headers: AUTH };
          const path = await side.signedGet(handle);
          if (workload === "http-head-inm")
            return { method: "HEAD", path, headers: { "if-none-match": `"${etag}"` } };
          if (workload === "http-range-get") {
            const end = Math.min(size - 1, Math.floor(size / 4) + 511);
            return { method: "GET", path, headers: { range: `bytes=${Math.floor(size / 4)}-${end}` } };
          }
          return { method: "GET", path, headers: {} };
        }),
      );
      return { requests };
    }
  }
}

let side: Side | null = null;

async function answer(message: ServerRequest): Promise<ServerReply> {
  switch (message.type) {
    case "start":
      side = message.side === "ours" ? await openOurs(message) : await openRaw(message);
      return { port: (side.server.address() as AddressInfo).port };
    case "prepare":
      return prepare(side!, message.workload, message.count, message.size);
    case "large-put": {
      const slot = await side!.slot();
      return {
        requests: [
          { method: "PUT", path: slot.put, headers: { "content-type": "application/octet-stream" } },
        ],
        upload: slot.handle,
      };
    }
    case "large-get":
      await side!.register(message.upload);
      return { requests: [{ method: "GET", path: await side!.signedGet(message.upload), headers: {} }] };
    case "peak-reset":
      collectGarbage();
      collectGarbage();
      return {
        peakMethod: resetPeak() ? "VmHWM" : "sampled",
        peakBytes: memoryStatus()?.rss ?? process.memoryUsage.rss(),
      };
    case "peak-read":
      return { peakBytes: memoryStatus()?.hwm ?? process.memoryUsage.rss() };
    case "cpu": {
      const { user, system } = process.cpuUsage();
      return { cpuMicros: user + system };
    }
    case "stop":
      side?.server.closeAllConnections();
      side?.server.close();
      await side?.close();
      return {};
  }
}

process.on("message", (message: ServerRequest) => {
  answer(message).then(
    (reply) => process.send!(reply, () => message.type === "stop" && process.exit(0)),
    (err: unknown) =>
      process.send!({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
  );
});
