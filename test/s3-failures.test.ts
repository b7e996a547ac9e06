import { describe, expect, it } from "vitest";
import { ProviderError } from "../src/errors.js";
import type { RecordStore } from "../src/records.js";
import { S3_LIMITS } from "../src/storage/s3/client.js";
import { once, openS3, record, s3Config, s3Services, sandbox } from "./s3-helpers.js";

/**
 * A misconfigured provider must fail fast with a ProviderError that says what to fix, and never
 * echo the secret key.
 */

async function failure(
  name: "s3" | "ibm_cos",
  config: ReturnType<typeof s3Config>,
  op: (p: RecordStore) => Promise<unknown>,
): Promise<{ error: ProviderError; ms: number }> {
  const provider = await openS3({}, name, config);
  const started = Date.now();
  try {
    const result = await op(provider).then(
      () => null,
      (e: unknown) => e,
    );
    expect(result).toBeInstanceOf(ProviderError);
    return { error: result as ProviderError, ms: Date.now() - started };
  } finally {
    await provider.close();
  }
}

describe.skipIf(!s3Services())("s3 provider misconfigured", () => {
  const sb = sandbox();
  const secret = () => s3Config().secretAccessKey;
  const store = (p: RecordStore) => p.put(record(sb, "sess"), once(Buffer.from("x")));

  it("a missing bucket says so and how to fix it", async () => {
    const config = { ...s3Config(), bucket: "no-such-bucket-chuk-test" };
    for (const op of [
      store,
      (p: RecordStore) => p.getRecord(record(sb, "s").key),
      (p: RecordStore) => p.health(),
    ]) {
      const { error, ms } = await failure("s3", config, op);
      expect(error.message).toContain('bucket "no-such-bucket-chuk-test" does not exist');
      expect(error.message).toContain("ARTIFACT_BUCKET");
      expect(ms).toBeLessThan(5000);
    }
  });

  it("wrong credentials are refused, named without the secret", async () => {
    for (const config of [
      { ...s3Config(), secretAccessKey: "wrong-secret-value-123" },
      { ...s3Config(), accessKeyId: "NOSUCHACCESSKEY00000" },
    ]) {
      for (const op of [
        store,
        (p: RecordStore) => p.health(),
        (p: RecordStore) => p.list(`grid/${sb}/`, { limit: 5 }),
      ]) {
        const { error, ms } = await failure("s3", config, op);
        expect(error.message).toMatch(
          /refused the credentials \((SignatureDoesNotMatch|InvalidAccessKeyId)\)/,
        );
        expect(error.message).toContain("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        expect(error.message).not.toContain(config.secretAccessKey);
        expect(error.message).not.toContain(secret());
        expect(ms).toBeLessThan(5000);
      }
    }
  });

  it("ibm_cos names its own settings", async () => {
    const { error } = await failure(
      "ibm_cos",
      { ...s3Config(), secretAccessKey: "wrong-secret-value-123" },
      store,
    );
    expect(error.message).toContain("IBM_COS_ACCESS_KEY and IBM_COS_SECRET_KEY");
    expect(error.message).toContain("ibm_cos endpoint");
  });

  it("an unreachable endpoint fails within seconds, pointing at the endpoint setting", async () => {
    const config = { ...s3Config(), endpoint: "http://127.0.0.1:1" };
    for (const op of [
      store,
      (p: RecordStore) => p.health(),
      (p: RecordStore) => p.openBody(record(sb, "s").key),
    ]) {
      const { error, ms } = await failure("s3", config, op);
      expect(error.message).toContain("cannot reach the s3 endpoint http://127.0.0.1:1 (ECONNREFUSED)");
      expect(error.message).toContain("S3_ENDPOINT_URL");
      expect(ms).toBeLessThan(5000);
    }
  });

  it("an endpoint that accepts connections but never answers times out, bounded", async () => {
    // A TCP server that never replies: the request timeout must end the wait. Short limits keep the
    // test quick; the defaults are 30 s per attempt, 3 attempts.
    const { createServer } = await import("node:net");
    const sockets = new Set<import("node:net").Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const limits = { ...S3_LIMITS, requestMs: 1500, maxAttempts: 2 };
      const provider = await openS3({ limits }, "s3", {
        ...s3Config(),
        endpoint: `http://127.0.0.1:${port}`,
      });
      const started = Date.now();
      const error = await provider.getRecord(record(sb, "s").key).then(
        () => null,
        (e: unknown) => e,
      );
      await provider.close();
      expect(error).toBeInstanceOf(ProviderError);
      expect((error as ProviderError).message).toContain("timed out");
      // Two attempts of 1.5 s plus a retry delay: bounded by the limits, not by the OS.
      expect(Date.now() - started).toBeLessThan(2 * 1500 + 3000);
      console.log(`silent endpoint: ProviderError after ${Date.now() - started} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  }, 120_000);
});
