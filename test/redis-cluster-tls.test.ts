import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mapLimit } from "../src/concurrency.js";
import { ProviderError } from "../src/errors.js";
import type { ArtifactChange } from "../src/events.js";
import type { SessionRecord } from "../src/sessions/provider.js";
import { RedisSessionProvider } from "../src/sessions/redis.js";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { heardBy, until, untilListening } from "./helpers/events.js";
import { makeRecord } from "./helpers/records.js";
import { type PrivateCluster, startPrivateCluster } from "./helpers/redis-cluster.js";
import { freePort, type PrivateRedis, startPrivateRedis } from "./helpers/redis-server.js";

/**
 * The redis session provider against a real three-node Redis Cluster and a real TLS-only
 * redis-server, both private to this file.
 */

const enabled = inject("services").redisUrl !== null;

function session(sandboxId: string, sessionId: string): SessionRecord {
  const now = Date.now();
  return {
    sessionId,
    sandboxId,
    userId: `owner-of-${sessionId}`,
    createdAt: new Date(now).toISOString(),
    lastAccessedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3_600_000).toISOString(),
    meta: {},
  };
}

describe.skipIf(!enabled)("redis session provider on Redis Cluster", () => {
  let cluster: PrivateCluster;
  let nodes: PrivateRedis[] = [];
  let url = "";

  beforeAll(async () => {
    cluster = await startPrivateCluster();
    nodes = cluster.nodes;
    url = cluster.url;
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("stores, lists and caches across sandboxes that live on different shards", async () => {
    const provider = await RedisSessionProvider.open(url);
    const other = await RedisSessionProvider.open(url);
    try {
      expect(provider.describe()).toMatchObject({ cluster: true, url });
      expect((await provider.health()).ok).toBe(true);
      const sandboxes = Array.from({ length: 12 }, () => uniqueSandbox("cl"));
      // Spread over the cluster: these hash tags must not all fall on one node.
      const probe = new Redis(nodes[0]!.port, "127.0.0.1");
      const slots = await Promise.all(sandboxes.map((sb) => probe.cluster("KEYSLOT", `{${sb}}`)));
      probe.disconnect();
      expect(new Set(slots.map((s) => Math.floor(Number(s) / 5462))).size).toBeGreaterThan(1);

      const records = [];
      for (const sb of sandboxes) {
        const results = await Promise.all(
          Array.from({ length: 10 }, () =>
            [provider, other][Math.floor(Math.random() * 2)]!.create(session(sb, "race")),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        for (let i = 0; i < 5; i++) await provider.create(session(sb, `s${i}`));
        records.push(...Array.from({ length: 5 }, () => makeRecord({ sandboxId: sb, sessionId: "s0" })));
      }
      await provider.cacheSetMany(records, 60);

      for (const sb of sandboxes) {
        const first = await other.list(sb, { limit: 4 });
        const rest = await other.list(sb, { limit: 4, cursor: first.cursor });
        expect([...first.sessions, ...rest.sessions].map((s) => s.sessionId)).toEqual([
          "race",
          "s0",
          "s1",
          "s2",
          "s3",
          "s4",
        ]);
        expect(rest.cursor).toBeNull();
        const mine = records.filter((r) => r.sandboxId === sb);
        expect(
          await other.cacheGetMany(
            sb,
            mine.map((r) => r.artifactId),
          ),
        ).toEqual(mine);
        expect(await other.get(sb, "s3")).toEqual(expect.objectContaining({ userId: "owner-of-s3" }));
        expect(await other.delete(sb, "s3")).toBe(true);
        expect(await provider.get(sb, "s3")).toBeNull();
      }
    } finally {
      await provider.close();
      await other.close();
    }
  });

  it("spreads the sessions and cached records of one sandbox over all three masters", async () => {
    const provider = await RedisSessionProvider.open(url);
    try {
      const sb = uniqueSandbox("spread");
      const ids = Array.from({ length: 1000 }, (_, i) => `s-${i}`);
      await mapLimit(ids, 32, (id) => provider.create(session(sb, id)));
      await provider.cacheSetMany(
        ids.map(() => makeRecord({ sandboxId: sb, sessionId: "s-0" })),
        60,
      );
      // Every key of this sandbox, counted on the master that holds it.
      const perNode = await Promise.all(
        nodes.map(async (node) => {
          const client = new Redis(node.port, "127.0.0.1");
          try {
            const sessions = (await client.keys(`chuk:{${sb}/*}:session`)).length;
            const records = (await client.keys(`chuk:{${sb}/*}:rec`)).length;
            return { sessions, records };
          } finally {
            client.disconnect();
          }
        }),
      );
      for (const kind of ["sessions", "records"] as const) {
        const counts = perNode.map((n) => n[kind]);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(1000);
        for (const count of counts) {
          expect(count).toBeGreaterThan(0);
          expect(count).toBeLessThanOrEqual(500);
        }
      }
      const listed: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await provider.list(sb, { limit: 300, cursor });
        listed.push(...page.sessions.map((s) => s.sessionId));
        cursor = page.cursor;
      } while (cursor !== null);
      expect(listed.sort()).toEqual([...ids].sort());
    } finally {
      await provider.close();
    }
  });

  it("carries change events between two stores", async () => {
    const sandboxId = uniqueSandbox("cl-events");
    const open = () => new ArtifactStore({ sessionProvider: "redis", redisUrl: url, sandboxId });
    const [writer, reader] = [open(), open()];
    try {
      const made = heardBy(writer);
      const seen = heardBy(reader);
      await untilListening(writer, seen);
      // Five in one turn (one message), then twenty made one at a time (a message each): a
      // cluster client would send each PUBLISH to any node, and the bus could reorder them.
      const ids = await Promise.all(
        Array.from({ length: 5 }, (_, i) => writer.store(`x${i}`, { sessionId: "s" })),
      );
      for (let i = 0; i < 20; i++) ids.push(await writer.store(`y${i}`, { sessionId: "s" }));
      await writer.delete(ids[0]!);
      const inS = (changes: ArtifactChange[]) => changes.filter((c) => c.sessionId === "s");
      await until(() => inS(seen).length === 26);
      expect(
        inS(made)
          .map((c) => c.artifactId)
          .sort(),
      ).toEqual([...ids, ids[0]].sort());
      expect(inS(made).at(-1)).toMatchObject({ artifactId: ids[0], kind: "deleted" });
      expect(inS(seen)).toEqual(inS(made));
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it("fails fast with a ProviderError when no seed node answers", async () => {
    const started = Date.now();
    const port = await freePort();
    await expect(
      RedisSessionProvider.open(`redis+cluster://:seed-secret@127.0.0.1:${port}`),
    ).rejects.toSatisfy((err) => err instanceof ProviderError && !err.message.includes("seed-secret"));
    expect(Date.now() - started).toBeLessThan(7000);
  });
});

describe.skipIf(!enabled)("redis session provider over TLS (rediss://)", () => {
  let server: PrivateRedis;
  let certs = "";
  let ca: Buffer;

  beforeAll(async () => {
    certs = await mkdtemp(join(tmpdir(), "chuk-tls-"));
    const run = (...args: string[]) => execFileSync("openssl", args, { cwd: certs, stdio: "ignore" });
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=chuk test CA",
    );
    run("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
    writeFileSync(join(certs, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    run(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "1",
      "-extfile",
      "san.ext",
    );
    ca = readFileSync(join(certs, "ca.crt"));
    server = await startPrivateRedis({
      tlsPort: true,
      extraArgs: [
        ...["--tls-cert-file", join(certs, "server.crt"), "--tls-key-file", join(certs, "server.key")],
        ...["--tls-ca-cert-file", join(certs, "ca.crt"), "--tls-auth-clients", "no"],
        ...["--requirepass", "tls-secret"],
      ],
    });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(certs, { recursive: true, force: true });
  });

  it("connects over TLS, verifying the server against the given CA", async () => {
    const provider = await RedisSessionProvider.open(`rediss://:tls-secret@127.0.0.1:${server.port}/0`, {
      tls: { ca },
    });
    try {
      const sb = uniqueSandbox("tls");
      expect(await provider.create(session(sb, "s"))).toBe(true);
      expect((await provider.get(sb, "s"))?.userId).toBe("owner-of-s");
      expect(provider.describe().url).toBe(`rediss://:***@127.0.0.1:${server.port}/0`);
    } finally {
      await provider.close();
    }
  });

  it("refuses a server certificate it cannot verify, and plain text to a TLS port", async () => {
    for (const url of [
      `rediss://:tls-secret@127.0.0.1:${server.port}/0`,
      `redis://:tls-secret@127.0.0.1:${server.port}/0`,
    ]) {
      const started = Date.now();
      await expect(
        RedisSessionProvider.open(url, { connectTimeoutMs: 1000, commandTimeoutMs: 1000 }),
      ).rejects.toSatisfy((err) => err instanceof ProviderError && !err.message.includes("tls-secret"));
      expect(Date.now() - started).toBeLessThan(4000);
    }
  });
});
