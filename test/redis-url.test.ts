import { describe, expect, it } from "vitest";
import { ValidationError } from "../src/errors.js";
import { parseRedisUrl } from "../src/sessions/redis-url.js";

describe("redis session URL", () => {
  it("reads host, port, credentials and database, and redacts the password", () => {
    const t = parseRedisUrl("redis://app:p%40ss%2Fw0rd@cache.internal:6380/3");
    expect(t).toMatchObject({
      cluster: false,
      tls: false,
      nodes: [{ host: "cache.internal", port: 6380 }],
      username: "app",
      password: "p@ss/w0rd",
      db: 3,
    });
    expect(t.redacted).toBe("redis://app:***@cache.internal:6380/3");
  });

  it("defaults to port 6379 and database 0; rediss:// means TLS", () => {
    const t = parseRedisUrl("rediss://:secret@[::1]");
    expect(t).toMatchObject({ tls: true, nodes: [{ host: "::1", port: 6379 }], db: 0, password: "secret" });
    expect(t.username).toBeUndefined();
    expect(t.redacted).toBe("rediss://:***@[::1]:6379/0");
  });

  it("accepts a cluster as redis+cluster:// with several seed nodes", () => {
    const t = parseRedisUrl("rediss+cluster://u:topsecret@10.0.0.1:7000,10.0.0.2:7001,node3");
    expect(t).toMatchObject({
      cluster: true,
      tls: true,
      username: "u",
      password: "topsecret",
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7001 },
        { host: "node3", port: 6379 },
      ],
    });
    expect(t.redacted).toBe("rediss+cluster://u:***@10.0.0.1:7000,10.0.0.2:7001,node3:6379");
    expect(t.redacted).not.toContain("topsecret");
  });

  it("refuses bad URLs with a ValidationError that never echoes the password", () => {
    const bad = [
      "http://:leakme@host:6379",
      "redis://:leakme@h1:1,h2:2",
      "redis+cluster://:leakme@h1:1/2",
      "redis://:leakme@host/notanumber",
      "redis://:leak%E0me@host",
      "localhost:6379",
    ];
    for (const url of bad) {
      let caught: unknown;
      try {
        parseRedisUrl(url);
      } catch (err) {
        caught = err;
      }
      expect(caught, url).toBeInstanceOf(ValidationError);
      expect((caught as Error).message).not.toContain("leak");
    }
  });
});
