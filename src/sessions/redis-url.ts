import { redactUrl } from "../config.js";
import { ValidationError } from "../errors.js";

/**
 * Where the redis session provider connects, parsed from its URL. Free of ioredis so it can be
 * tested and used (e.g. for redaction) without loading the client.
 *
 *   redis://[user:password@]host[:port][/db]       one server
 *   rediss://…                                      the same over TLS
 *   redis+cluster://[user:password@]host:port[,host:port…]   Redis Cluster (seed nodes; db 0 only)
 *   rediss+cluster://…                              Redis Cluster over TLS
 *
 * A scheme, not a `?cluster=true` flag, marks a cluster because a cluster URL lists several seed
 * nodes, which a plain URL cannot spell.
 */
export interface RedisTarget {
  cluster: boolean;
  tls: boolean;
  nodes: { host: string; port: number }[];
  username: string | undefined;
  password: string | undefined;
  db: number;
  /** The URL with its password replaced by `***`: safe for logs, errors and `describe()`. */
  redacted: string;
}

const DEFAULT_PORT = 6379;
const SCHEMES = ["redis", "rediss", "redis+cluster", "rediss+cluster"];
const HINT = "set SESSION_REDIS_URL to redis://[user:password@]host:port/db (rediss:// for TLS)";

export function parseRedisUrl(url: string): RedisTarget {
  const match = /^([a-z+]+):\/\/([^/?#]*)([^?#]*)/i.exec(url.trim());
  const scheme = match?.[1]?.toLowerCase();
  if (!match || scheme === undefined || !SCHEMES.includes(scheme)) {
    // The URL itself is not echoed: it may hold a password.
    throw new ValidationError(
      `the Redis URL must start with redis://, rediss://, redis+cluster:// or rediss+cluster://: ${HINT}`,
    );
  }
  const cluster = scheme.endsWith("+cluster");
  const tls = scheme.startsWith("rediss");
  const authority = match[2]!;
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at) : "";
  const hostList = at >= 0 ? authority.slice(at + 1) : authority;
  const hosts = hostList.split(",");
  if (!cluster && hosts.length > 1) {
    throw new ValidationError(`several hosts need a redis+cluster:// URL: ${HINT}`);
  }

  // Parse each host (and the credentials once) with the WHATWG parser on a single-host URL.
  let username: string | undefined;
  let password: string | undefined;
  let db = 0;
  const nodes = hosts.map((host, i) => {
    const single = `redis://${i === 0 && userinfo ? `${userinfo}@` : ""}${host}${match[3]!}`;
    let parsed: URL;
    try {
      parsed = new URL(single);
    } catch {
      throw new ValidationError(`the Redis URL is malformed: ${HINT}`);
    }
    if (!parsed.hostname) throw new ValidationError(`the Redis URL has no host: ${HINT}`);
    if (i === 0) {
      username = parsed.username ? decode(parsed.username) : undefined;
      password = parsed.password ? decode(parsed.password) : undefined;
      db = parseDb(parsed.pathname);
    }
    return {
      host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: parsed.port ? Number(parsed.port) : DEFAULT_PORT,
    };
  });
  if (cluster && db !== 0) throw new ValidationError("Redis Cluster has only database 0: drop the /db part");

  const hostsText = nodes.map((n) => `${n.host.includes(":") ? `[${n.host}]` : n.host}:${n.port}`);
  const redacted = cluster
    ? `${scheme}://${username ? encodeURIComponent(username) : ""}${password ? ":***" : ""}${username || password ? "@" : ""}${hostsText.join(",")}`
    : redactUrl(`${scheme}://${userinfo ? `${userinfo}@` : ""}${hostsText[0]}/${db}`);
  return { cluster, tls, nodes, username, password, db, redacted };
}

function parseDb(pathname: string): number {
  const text = pathname.replace(/^\//, "");
  if (text === "") return 0;
  const db = Number(text);
  if (!Number.isInteger(db) || db < 0) {
    throw new ValidationError(`the Redis database must be a whole number (redis://host:6379/0): ${HINT}`);
  }
  return db;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ValidationError(`the Redis URL has a badly percent-encoded user or password: ${HINT}`);
  }
}
