import type { MiddlewareHandler } from "hono";
import { HttpError } from "./errors.js";

/**
 * The DNS-rebinding guard. A page on evil.example whose name is made to resolve to 127.0.0.1 talks
 * to a loopback server as "evil.example": its requests carry `Host: evil.example` (and an Origin
 * of that site). `hostCheck` runs before routing, so every route (/mcp included) must be asked
 * for by an allowed name. `originCheck` guards the routes a key or session reaches (/v1, /mcp, the
 * console): a request that carries an Origin must come from an allowed one. Signed URLs skip it,
 * since any origin may use them (the signature is the credential, as with S3).
 */

/** The names a loopback server answers to by default (any port). */
export const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

/**
 * A host allow-list: entries are host names or addresses (`files.example.com`, `[::1]`), any
 * port, or `host:port` for that port only.
 */
export class AllowedHosts {
  private readonly entries: { hostname: string; port: string | null }[];

  constructor(hosts: string[]) {
    this.entries = hosts.map((entry) => {
      const parsed = parseAuthority(entry.trim());
      if (!parsed) throw new Error(`not a host name or host:port: ${JSON.stringify(entry)}`);
      return { hostname: parsed.hostname, port: entry.trim().match(/:\d+$/) ? parsed.port : null };
    });
  }

  allows(authority: string): boolean {
    const given = parseAuthority(authority);
    if (!given) return false;
    return this.entries.some(
      (e) => e.hostname === given.hostname && (e.port === null || e.port === given.port),
    );
  }
}

/** `host[:port]` as the URL parser reads it (lower-cased, IPv6 in brackets); null when malformed. */
function parseAuthority(authority: string): { hostname: string; port: string } | null {
  if (authority === "" || /[/?#@\s]/.test(authority)) return null;
  try {
    const url = new URL(`http://${authority}`);
    return { hostname: url.hostname, port: url.port };
  } catch {
    return null;
  }
}

export function hostCheck(allowed: AllowedHosts): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    if (!allowed.allows(host)) {
      throw new HttpError(403, "HOST_NOT_ALLOWED", "this server does not answer to that Host name");
    }
    await next();
  };
}

export function originCheck(allowed: AllowedHosts): MiddlewareHandler {
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && !originAllowed(origin, allowed)) {
      throw new HttpError(403, "ORIGIN_NOT_ALLOWED", "requests from that Origin are not allowed");
    }
    await next();
  };
}

function originAllowed(origin: string, allowed: AllowedHosts): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file://) and anything malformed
  }
  return (url.protocol === "http:" || url.protocol === "https:") && allowed.allows(url.host);
}
