import { subscribe, unsubscribe } from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConflictError } from "../src/errors.js";
import { ArtifactStore } from "../src/store.js";
import { storeConfigs } from "./fixtures.js";
import { sha256 } from "./s3-helpers.js";

/**
 * Registering a presigned upload on S3 + Redis, counted request by request against RGW: the slot's
 * record is cached with its storage version when it is issued, so registering reads the staged
 * bytes, writes the artifact and drops the staged object, with no HEAD of the slot first.
 */

const fixture = storeConfigs().find((f) => f.name === "s3+redis");

describe.skipIf(!fixture)("register after a presigned PUT on s3 + redis", () => {
  let store: ArtifactStore;

  beforeAll(async () => {
    store = new ArtifactStore(await fixture!.open());
  });
  afterAll(async () => {
    await store?.close();
    await fixture?.dispose();
  });

  /** The methods of the HTTP requests `fn` sends, in order. */
  async function requestsOf<T>(fn: () => Promise<T>): Promise<{ value: T; methods: string[] }> {
    const methods: string[] = [];
    const onRequest = (message: unknown) => {
      methods.push((message as { request: ClientRequest }).request.method);
    };
    subscribe("http.client.request.start", onRequest);
    try {
      return { value: await fn(), methods };
    } finally {
      unsubscribe("http.client.request.start", onRequest);
    }
  }

  it("reads the staged bytes, writes the artifact and drops the staged object: three requests", async () => {
    const upload = await store.presignUpload({ userId: "erin", filename: "a.txt", mimeType: "text/plain" });
    const data = Buffer.from("uploaded straight to storage");
    expect((await fetch(upload.url, { method: "PUT", body: data, headers: upload.headers })).status).toBe(
      200,
    );

    const { value: registered, methods } = await requestsOf(() =>
      store.registerUploadedArtifact(upload.artifactId, { userId: "erin" }),
    );
    expect(methods).toEqual(["GET", "PUT", "DELETE"]);
    expect(registered).toMatchObject({ bytes: data.byteLength, sha256: sha256(data), filename: "a.txt" });
    expect(await store.retrieve(upload.artifactId, { userId: "erin" })).toEqual(data);
  });

  it("registers a slot once: a second register of the same upload is refused", async () => {
    const upload = await store.presignUpload({ userId: "erin", filename: "b.txt" });
    await fetch(upload.url, { method: "PUT", body: "once", headers: upload.headers });
    const [first, second] = await Promise.allSettled([
      store.registerUploadedArtifact(upload.artifactId, { userId: "erin" }),
      store.registerUploadedArtifact(upload.artifactId, { userId: "erin" }),
    ]);
    const outcomes = [first, second].map((r) => r.status);
    expect(outcomes.sort()).toEqual(["fulfilled", "rejected"]);
    const refused = [first, second].find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(ConflictError);
    expect(await store.readFile(upload.artifactId, { userId: "erin", asText: true })).toBe("once");
  });
});
