import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP forwarder in front of a real server, to take that server "down" for one client and bring
 * it back without touching the server itself (a fault injection, for the bench's Redis-stopped row
 * and the fault tests): stop() refuses new connections and cuts open ones; start() listens again
 * on the same port.
 */
export interface TcpForwarder {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startTcpForwarder(target: { host: string; port: number }): Promise<TcpForwarder> {
  const open = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;

  const start = async () => {
    const next = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        open.add(socket);
        socket.once("close", () => open.delete(socket));
      }
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => resolve());
    });
    const address = next.address();
    if (typeof address === "object" && address) port = address.port;
    server = next;
  };

  await start();
  return {
    get port() {
      return port;
    },
    start,
    async stop() {
      const current = server;
      server = null;
      if (!current) return;
      const closed = new Promise<void>((resolve) => current.close(() => resolve()));
      for (const socket of open) socket.destroy();
      await closed;
    },
  };
}
