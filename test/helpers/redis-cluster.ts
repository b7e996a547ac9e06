import { execFileSync } from "node:child_process";
import { Redis } from "ioredis";
import { freePort, type PrivateRedis, startPrivateRedis } from "./redis-server.js";

/**
 * A private Redis Cluster of three masters (no replicas): three `redis-server --cluster-enabled
 * yes` processes joined with `redis-cli --cluster create`, each stopped by its own pid.
 */
export interface PrivateCluster {
  nodes: PrivateRedis[];
  /** redis+cluster:// with two of the three nodes as seeds. */
  url: string;
  stop(): Promise<void>;
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  const nodes: PrivateRedis[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort(10_000); // the cluster bus listens on port + 10000
      nodes.push(
        await startPrivateRedis({
          port,
          extraArgs: ["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
        }),
      );
    }
    execFileSync(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { stdio: "ignore", timeout: 30_000 },
    );
    for (const node of nodes) {
      const client = new Redis(node.port, "127.0.0.1");
      try {
        for (let i = 0; i < 100 && !(await client.cluster("INFO")).includes("cluster_state:ok"); i++) {
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        client.disconnect();
      }
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    url: `redis+cluster://${nodes
      .slice(0, 2)
      .map((n) => `127.0.0.1:${n.port}`)
      .join(",")}`,
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
