import { createConfig, lintFromString } from "@redocly/openapi-core";
import { describe, expect, it } from "vitest";
import { createHttpHandler } from "../src/http/app.js";
import { ArtifactMetadata, Page, PresignedUpload } from "../src/http/schemas.js";
import { ArtifactStore } from "../src/store.js";

/**
 * /openapi.json is generated from the route definitions; it is honest and complete (exactly the
 * handler's routes, every $ref resolving) and clean under an independent linter (Redocly's
 * recommended-strict rules, every warning an error).
 */

const normalise = (path: string) =>
  path
    .replace(/:[A-Za-z]+/g, "{}")
    .replace(/\{[A-Za-z]+\}/g, "{}")
    .replace(/\*$/, "{}");

describe("the OpenAPI document", () => {
  const store = new ArtifactStore({ sandboxId: "openapi" });
  const app = createHttpHandler(store, { apiKeys: [] });

  it("is served at /openapi.json", async () => {
    const res = await app.request("/openapi.json");
    expect(res.status).toBe(200);
    expect((await res.json()).openapi).toBe("3.1.0");
  });

  it("describes every route of the handler, and no route it does not have", async () => {
    const doc = (await (await app.request("/openapi.json")).json()) as { paths: Record<string, object> };
    // Middleware (auth, CORS) is registered for ALL methods on prefix/*; /mcp is the one real ALL route.
    const routes = app.routes
      .filter((r) => !(r.method === "ALL" && r.path.endsWith("/*")))
      .map((r) => `${r.method === "ALL" ? "POST" : r.method} ${normalise(r.path)}`);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => ["get", "put", "post", "patch", "delete"].includes(k))
        .map((method) => `${method.toUpperCase()} ${normalise(path)}`),
    );
    expect(new Set(documented)).toEqual(new Set(routes));
    expect(routes.length).toBeGreaterThan(20);
  });

  it("has no dangling $ref", async () => {
    const doc = await (await app.request("/openapi.json")).json();
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(10);
    for (const r of refs) {
      const path = r.slice('"$ref":"#/'.length, -1).split("/");
      let node: unknown = doc;
      for (const part of path) node = (node as Record<string, unknown> | undefined)?.[part];
      expect(node, r).toBeDefined();
    }
  });

  it("passes Redocly's recommended-strict lint with no problem", async () => {
    const source = await (await app.request("/openapi.json")).text();
    const config = await createConfig({ extends: ["recommended-strict"] });
    const problems = await lintFromString({ source, absoluteRef: "openapi.json", config });
    const report = problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
    expect(report).toEqual([]);
  });

  it("describes the request bodies the routes check, from the same schemas", async () => {
    const doc = await (await app.request("/openapi.json")).json();
    const schemas = doc.components.schemas;
    // The update body refuses unknown (system) fields, and the document says so.
    expect(schemas.MetadataUpdate.additionalProperties).toBe(false);
    expect(Object.keys(schemas.MetadataUpdate.properties)).toEqual([
      "summary",
      "meta",
      "filename",
      "mime",
      "ttl",
      "merge",
    ]);
    const store2 = new ArtifactStore({ sandboxId: "openapi" });
    const keyed = createHttpHandler(store2, { apiKeys: [{ key: "k".repeat(20), userId: "u" }] });
    const refused = await keyed.request("/v1/uploads", {
      method: "POST",
      headers: { authorization: `Bearer ${"k".repeat(20)}`, "content-type": "application/json" },
      body: JSON.stringify({ sha256: "x" }),
    });
    expect(refused.status).toBe(400);
    expect(schemas.UploadRequest.properties.sha256).toBeUndefined();
    expect(schemas.UploadRequest.additionalProperties).toBe(false);
  });

  it("describes what the routes really answer: live responses parse with the documented schemas", async () => {
    const key = "r".repeat(20);
    const live = createHttpHandler(new ArtifactStore({ sandboxId: "openapi" }), {
      apiKeys: [{ key, userId: "u" }],
    });
    const call = async (path: string, init: RequestInit = {}) =>
      (
        await live.request(path, { ...init, headers: { authorization: `Bearer ${key}`, ...init.headers } })
      ).json();
    const stored = await call("/v1/artifacts?filename=a.txt", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "hello",
    });
    // Strict: a field the document does not name fails the parse.
    expect(ArtifactMetadata.strict().parse(stored).bytes).toBe(5);
    const page = Page.strict().parse(await call("/v1/artifacts"));
    expect(page.items.map((m) => m.artifactId)).toEqual([stored.artifactId]);
    const slot = await call("/v1/uploads", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(PresignedUpload.strict().parse(slot).url).toContain("/signed/");
  });
});
