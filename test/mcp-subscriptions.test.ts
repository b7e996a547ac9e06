import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/client";
import type { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArtifactStore } from "../src/store.js";
import { uniqueSandbox } from "./fixtures.js";
import { bearer, CLI, KEY_ENV, KEYS, type RunningServer, s3RedisEnv, startServer } from "./http-harness.js";
import {
  connectHttp,
  connectStdio,
  type McpClient,
  ok,
  startTestFront,
  type TestFront,
} from "./mcp-helpers.js";

/**
 * Resource change notifications: `subscriptions/listen` (2026-07-28, v2 client) over HTTP and
 * stdio, `resources/subscribe` (2025, v1 client) over stdio; across two `serve` processes that
 * share RGW and Redis, a change made through one reaches a client listening on the other.
 */

interface Heard {
  updated: string[];
  listChanged: number;
  /** Resolves once `predicate` holds, or rejects after `ms`. */
  until(predicate: () => boolean, ms: number): Promise<number>;
}

/** Records the change notifications a v2 client receives. */
function hear(client: Client): Heard {
  const heard: Heard = {
    updated: [],
    listChanged: 0,
    until: async (predicate, ms) => {
      const started = Date.now();
      while (!predicate()) {
        if (Date.now() - started > ms) throw new Error(`not heard within ${ms} ms: ${JSON.stringify(heard)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return Date.now() - started;
    },
  };
  client.setNotificationHandler("notifications/resources/updated", (n) => {
    heard.updated.push(n.params.uri);
  });
  client.setNotificationHandler("notifications/resources/list_changed", () => {
    heard.listChanged++;
  });
  return heard;
}

describe("subscriptions through handleMcpHttp (one process)", () => {
  let front: TestFront;
  let store: ArtifactStore;
  const clients: McpClient[] = [];

  beforeAll(async () => {
    front = await startTestFront();
    store = new ArtifactStore({ sandboxId: uniqueSandbox("subs"), publicUrl: front.baseUrl });
    front.attach(store);
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await store?.close();
    await front?.close();
  });

  it("a listening v2 client hears updates of its URI and new files, and nothing of other users", async () => {
    const alice = (await connectHttp("v2", `${front.baseUrl}/mcp`, bearer(front.keyFor("alice")))) as Client;
    const bob = (await connectHttp("v2", `${front.baseUrl}/mcp`, bearer(front.keyFor("bob")))) as Client;
    clients.push(alice, bob);
    const { artifact } = await ok<{ artifact: { uri: string; artifactId: string } }>(alice, "write_file", {
      content: "v1",
      filename: "watched.txt",
    });
    const aliceHeard = hear(alice);
    const bobHeard = hear(bob);
    const sub = await alice.listen({ resourceSubscriptions: [artifact.uri], resourcesListChanged: true });
    expect(sub.honoredFilter.resourceSubscriptions).toEqual([artifact.uri]);
    // Bob asks for alice's URI: his stream is his session's, so it never fires.
    const bobSub = await bob.listen({ resourceSubscriptions: [artifact.uri], resourcesListChanged: true });

    // A change through the store itself, as REST or the CLI make it.
    await store.updateFile(artifact.artifactId, { userId: "alice", data: "v2" });
    await aliceHeard.until(() => aliceHeard.updated.includes(artifact.uri), 1000);
    await store.store(Buffer.from("new"), { userId: "alice", mime: "text/plain" });
    await aliceHeard.until(() => aliceHeard.listChanged > 0, 1000);
    await new Promise((r) => setTimeout(r, 200));
    expect(bobHeard.updated).toEqual([]);
    expect(bobHeard.listChanged).toBe(0);
    await sub.close();
    await bobSub.close();
  });

  it("completes the template's arguments: the caller's session, artifact ids by id or filename", async () => {
    const carol = await connectHttp("v2", `${front.baseUrl}/mcp`, bearer(front.keyFor("carol")));
    clients.push(carol);
    const { artifact } = await ok<{ artifact: { artifactId: string } }>(carol, "write_file", {
      content: "x",
      filename: "report-2026.md",
    });
    const ref = { type: "ref/resource" as const, uri: "artifact://{sessionId}/{artifactId}" };
    const session = await carol.complete({ ref, argument: { name: "sessionId", value: "user_c" } });
    expect(session.completion.values).toEqual(["user_carol"]);
    const byName = await carol.complete({ ref, argument: { name: "artifactId", value: "report-" } });
    expect(byName.completion.values).toEqual([artifact.artifactId]);
    const byId = await carol.complete({
      ref,
      argument: { name: "artifactId", value: artifact.artifactId.slice(0, 6) },
    });
    expect(byId.completion.values).toContain(artifact.artifactId);
    expect(
      (await carol.complete({ ref, argument: { name: "sessionId", value: "user_a" } })).completion.values,
    ).toEqual([]);
  });
});

describe("subscriptions over stdio (chuk-artifacts mcp)", () => {
  let dir: string;
  const clients: McpClient[] = [];
  const params = () => ({
    command: process.execPath,
    args: [CLI, "mcp", "--provider", "memory", "--user", "dana"],
    env: { PATH: process.env.PATH ?? "", ARTIFACT_SANDBOX_ID: uniqueSandbox("stdio-subs") },
    cwd: dir,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "chuk-mcp-subs-"));
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("v1 client: resources/subscribe, then an update of that file is notified", async () => {
    const { client } = await connectStdio("v1", params());
    clients.push(client);
    const v1 = client as unknown as V1Client;
    const updated: string[] = [];
    v1.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updated.push(n.params.uri);
    });
    const { artifact } = await ok<{ artifact: { uri: string; artifactId: string } }>(client, "write_file", {
      content: "one",
    });
    const other = await ok<{ artifact: { uri: string; artifactId: string } }>(client, "write_file", {
      content: "other",
    });
    await v1.subscribeResource({ uri: artifact.uri });
    await ok(client, "write_file", { artifactId: artifact.artifactId, content: "two" });
    await ok(client, "write_file", { artifactId: other.artifact.artifactId, content: "not subscribed" });
    const started = Date.now();
    while (!updated.includes(artifact.uri) && Date.now() - started < 1000)
      await new Promise((r) => setTimeout(r, 10));
    expect(updated).toEqual([artifact.uri]);
  });

  it("v2 client: subscriptions/listen on the stdio connection", async () => {
    const { client } = await connectStdio("v2", params());
    clients.push(client);
    const v2 = client as Client;
    const heard = hear(v2);
    const { artifact } = await ok<{ artifact: { uri: string; artifactId: string } }>(client, "write_file", {
      content: "one",
    });
    const sub = await v2.listen({ resourceSubscriptions: [artifact.uri] });
    await ok(client, "update_metadata", { artifactId: artifact.artifactId, summary: "changed" });
    await heard.until(() => heard.updated.includes(artifact.uri), 1000);
    await sub.close();
  });
});

const shared = s3RedisEnv();
describe.skipIf(!shared)("subscriptions across two serve processes on one RGW + Redis", () => {
  let a: RunningServer;
  let b: RunningServer;
  let client: Client;

  beforeAll(async () => {
    const env = { ...KEY_ENV, ...shared!, ARTIFACT_SANDBOX_ID: uniqueSandbox("subs-pair") };
    [a, b] = await Promise.all([
      startServer({ args: ["--no-console"], env }),
      startServer({ args: ["--no-console"], env }),
    ]);
    client = (await connectHttp("v2", `${a.url}/mcp`, bearer(KEYS.alice))) as Client;
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it("a client listening through A hears a change made through B's REST API within 1 s", async () => {
    const { artifact } = await ok<{ artifact: { uri: string; artifactId: string } }>(client, "write_file", {
      content: "first",
      filename: "shared.txt",
    });
    const heard = hear(client);
    const sub = await client.listen({ resourceSubscriptions: [artifact.uri], resourcesListChanged: true });

    const put = await fetch(`${b.url}/v1/artifacts/${artifact.artifactId}`, {
      method: "PUT",
      headers: bearer(KEYS.alice, { "content-type": "text/plain" }),
      body: "second, through B",
    });
    expect(put.status).toBe(200);
    const ms = await heard.until(() => heard.updated.includes(artifact.uri), 1000);
    console.log(`update through B heard through A after ${ms} ms`);

    const created = await fetch(`${b.url}/v1/artifacts`, {
      method: "POST",
      headers: bearer(KEYS.alice, { "content-type": "text/plain" }),
      body: "a new file through B",
    });
    expect(created.status).toBe(201);
    await heard.until(() => heard.listChanged > 0, 1000);

    const before = heard.listChanged;
    const removed = await fetch(`${b.url}/v1/artifacts/${artifact.artifactId}`, {
      method: "DELETE",
      headers: bearer(KEYS.alice),
    });
    expect(removed.ok).toBe(true);
    await heard.until(() => heard.listChanged > before, 1000);
    await sub.close();
  });
});
