import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A private redis-server for tests that kill, restart, flush or reconfigure Redis, so suites
 * sharing the main test Redis are never disturbed. Runs in the foreground as a child of the test
 * worker: it is stopped by its own pid, never by name.
 */
export interface PrivateRedis {
  port: number;
  /** redis://127.0.0.1:port/0 (without a password). */
  url: string;
  dir: string;
  /** SIGKILL, as a crash would; the data is gone (no persistence). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same settings. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  stop(): Promise<void>;
}

export async function startPrivateRedis(
  options: { extraArgs?: string[]; port?: number; tlsPort?: boolean } = {},
): Promise<PrivateRedis> {
  const port = options.port ?? (await freePort());
  const dir = await mkdtemp(join(tmpdir(), "chuk-redis-"));
  const listen = options.tlsPort ? ["--port", "0", "--tls-port", String(port)] : ["--port", String(port)];
  const args = [
    ...listen,
    ...["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | null = null;

  const start = async () => {
    const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      let output = "";
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`redis-server on port ${port} not ready in 10 s:\n${output}`));
      }, 10_000);
      const onData = (data: Buffer) => {
        output += data.toString();
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout!.on("data", onData);
      proc.stderr!.on("data", onData);
      proc.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on port ${port} exited with ${code}:\n${output}`));
      });
    });
  };

  const halt = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    await exited;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    kill: () => halt("SIGKILL"),
    start,
    async stop() {
      await halt("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP port nobody listens on right now (optionally with port + offset free too). */
export async function freePort(alsoFreeAtOffset?: number): Promise<number> {
  for (;;) {
    const port = await listenOnce(0);
    if (alsoFreeAtOffset === undefined) return port;
    if (port + alsoFreeAtOffset < 65536 && (await isFree(port + alsoFreeAtOffset))) return port;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : port));
    });
  });
}

async function isFree(port: number): Promise<boolean> {
  try {
    await listenOnce(port);
    return true;
  } catch {
    return false;
  }
}
