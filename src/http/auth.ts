import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AuditTrail } from "../audit/trail.js";
import { validateSegment } from "../grid.js";
import { HttpError } from "./errors.js";

/** Who a request acts for. An admin reaches every session; anyone else only their own. */
export interface Principal {
  userId: string;
  admin: boolean;
  /** Names the API key in audit events (never the key itself). */
  keyId?: string;
}

/** One API key: the bearer token and the user it acts for. */
export interface ApiKey {
  key: string;
  userId: string;
  admin?: boolean;
  /** Its name in audit events. Default: apiKeyId(key), a short digest that cannot be turned back into the key. */
  id?: string;
}

/** `key_` and the first 12 hex digits of the key's sha256: names a key in logs without revealing it. */
export function apiKeyId(key: string): string {
  return keyIdOfDigest(digest(key).toString("hex"));
}

export function keyIdOfDigest(sha256Hex: string): string {
  return `key_${sha256Hex.slice(0, 12)}`;
}

export const MIN_KEY_LENGTH = 16;

/**
 * The configured keys, held as sha256 digests. A presented key is hashed and compared with every
 * digest in constant time, so neither its content nor its length shows in the timing.
 */
export class ApiKeyring {
  private readonly entries: { digest: Buffer; principal: Principal }[];

  constructor(keys: ApiKey[]) {
    const seen = new Set<string>();
    this.entries = keys.map((k) => {
      if (typeof k.key !== "string" || k.key.length < MIN_KEY_LENGTH || /\s/.test(k.key)) {
        throw new Error(`API keys must be at least ${MIN_KEY_LENGTH} characters without spaces`);
      }
      if (seen.has(k.key)) throw new Error("the same API key is configured twice");
      seen.add(k.key);
      return {
        digest: digest(k.key),
        principal: {
          userId: validateSegment(k.userId, "userId"),
          admin: k.admin === true,
          keyId: k.id ?? apiKeyId(k.key),
        },
      };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  lookup(presented: string): Principal | null {
    const given = digest(presented);
    let found: Principal | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(given, entry.digest)) found = entry.principal;
    }
    return found;
  }
}

function digest(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/**
 * Counts failed authentications per client address in a fixed window. Past the limit, requests
 * from that address that fail authentication get 429 instead of 401 until the window ends. It
 * never refuses a request that authenticates: a valid key is always served, whoever else failed
 * from the same address (a shared proxy, a hostile page in the user's browser). Bounded in memory.
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    readonly limit = 10,
    readonly windowMs = 60_000,
    private readonly maxClients = 10_000,
  ) {}

  /** Seconds until `client` is no longer limited, or 0 when it is not. */
  retryAfter(client: string, now = Date.now()): number {
    const w = this.windows.get(client);
    if (!w || w.resetAt <= now) return 0;
    return w.count >= this.limit ? Math.ceil((w.resetAt - now) / 1000) : 0;
  }

  fail(client: string, now = Date.now()): void {
    let w = this.windows.get(client);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= this.maxClients) this.prune(now);
      w = { count: 0, resetAt: now + this.windowMs };
      this.windows.set(client, w);
    }
    w.count++;
  }

  private prune(now: number): void {
    for (const [client, w] of this.windows) if (w.resetAt <= now) this.windows.delete(client);
    // Still full: forget the oldest entries rather than grow without bound.
    for (const client of this.windows.keys()) {
      if (this.windows.size < this.maxClients) break;
      this.windows.delete(client);
    }
  }
}

/** The client's address for rate limiting; null when it cannot be told (then nothing is limited). */
export type ClientAddress = (request: Request, env: unknown) => string | null;

/**
 * The peer address as @hono/node-server (or any Node adapter passing `incoming`) exposes it.
 * Elsewhere (edge runtimes, app.request) it is unknown: rather than lump every client into one
 * bucket, such requests are not limited; pass `clientAddress`.
 */
export const socketAddress: ClientAddress = (_request, env) => {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  const address = incoming?.socket?.remoteAddress;
  return address === undefined ? null : plainAddress(address);
};

/**
 * The client address behind reverse proxies: `X-Forwarded-For` is believed only when the peer is
 * one of `trusted`, and then read from the right, skipping further trusted hops, so a client
 * cannot choose its own address by sending the header itself.
 */
export function forwardedAddress(trusted: string[]): ClientAddress {
  const proxies = new Set(trusted.map(plainAddress));
  return (request, env) => {
    let address = socketAddress(request, env);
    if (address === null || !proxies.has(address)) return address;
    const hops = (request.headers.get("x-forwarded-for") ?? "")
      .split(",")
      .map((hop) => plainAddress(hop.trim()))
      .filter((hop) => hop !== "");
    while (hops.length > 0 && proxies.has(address)) address = hops.pop()!;
    return address;
  };
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are one client. */
function plainAddress(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
}

/** Custom authentication for apps that mount the handler behind their own login. */
export type Authenticate = (request: Request) => Principal | null | Promise<Principal | null>;

export type AuthEnv = { Variables: { principal: Principal } };

/**
 * Bearer authentication; sets `principal` for the routes behind it. CORS preflights (OPTIONS)
 * carry no credentials by design: they pass through unauthenticated and never count as failures.
 */
export function bearerAuth(options: {
  keyring: ApiKeyring;
  authenticate?: Authenticate | undefined;
  limiter: FailureLimiter;
  clientAddress: ClientAddress;
  audit: AuditTrail;
}): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    if (c.req.method === "OPTIONS") return next();
    let principal: Principal | null = null;
    const header = c.req.header("authorization");
    const match = header === undefined ? null : /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
    if (match) principal = options.keyring.lookup(match[1]!);
    if (!principal && options.authenticate) principal = await options.authenticate(c.req.raw);
    if (!principal) {
      const client = options.clientAddress(c.req.raw, c.env);
      if (client !== null) {
        const wait = options.limiter.retryAfter(client);
        options.limiter.fail(client);
        if (wait > 0) {
          throw new HttpError(
            429,
            "TOO_MANY_REQUESTS",
            "too many failed authentication attempts; try later",
            {
              "retry-after": String(wait),
            },
          );
        }
      }
      throw new HttpError(
        401,
        "UNAUTHORIZED",
        header === undefined ? "an API key is required: Authorization: Bearer <key>" : "invalid API key",
        { "www-authenticate": 'Bearer realm="chuk-artifacts"' },
      );
    }
    c.set("principal", principal);
    await options.audit.scoped({ userId: principal.userId, keyId: principal.keyId ?? null }, next);
  };
}
