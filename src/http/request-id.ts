import { randomUUID } from "node:crypto";
import type { HttpBindings } from "@hono/node-server";
import type { MiddlewareHandler } from "hono";
import type { AuditTrail } from "../audit/trail.js";

export const REQUEST_ID_HEADER = "x-request-id";

// What an incoming id may look like: a proxy's id is kept, anything else is replaced.
const ACCEPTED = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * Names every request: the X-Request-Id a proxy (or client) sent when it is a plain token, else a
 * new UUID. The id is echoed in the response and attributed to every audit event the request causes.
 */
export function requestId(audit: AuditTrail): MiddlewareHandler {
  return async (c, next) => {
    const given = c.req.header(REQUEST_ID_HEADER);
    const id = given !== undefined && ACCEPTED.test(given) ? given : randomUUID();
    // Under a Node server the header goes on the Node response before any answer exists. Set on
    // the answer afterwards, it would make @hono/node-server rebuild that answer as a web stream
    // instead of writing it out directly (1.7 times the server CPU of a small download).
    const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
    outgoing?.setHeader(REQUEST_ID_HEADER, id);
    await audit.scoped({ requestId: id }, next);
    if (!outgoing) c.header(REQUEST_ID_HEADER, id);
  };
}
