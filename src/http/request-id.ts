import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { withAuditScope } from "../audit/event.js";

export const REQUEST_ID_HEADER = "x-request-id";

// What an incoming id may look like: a proxy's id is kept, anything else is replaced.
const ACCEPTED = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * Names every request: the X-Request-Id a proxy (or client) sent when it is a plain token, else a
 * new UUID. The id is echoed in the response and attributed to every audit event the request causes.
 */
export function requestId(): MiddlewareHandler {
  return async (c, next) => {
    const given = c.req.header(REQUEST_ID_HEADER);
    const id = given !== undefined && ACCEPTED.test(given) ? given : randomUUID();
    await withAuditScope({ requestId: id }, next);
    c.header(REQUEST_ID_HEADER, id);
  };
}
