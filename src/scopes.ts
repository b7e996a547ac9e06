import type { Placement } from "./artifacts.js";
import { AccessDeniedError, ValidationError } from "./errors.js";
import { type Scope, validateScope, validateSegment } from "./grid.js";
import type { AccessContext, SessionRules } from "./session-rules.js";

/**
 * Where a new artifact goes. "session" (the default): the session the rules resolve, as always.
 * "user": the user's own scope, which outlives every session; needs `userId`, and a named session
 * must be one of that user's. "sandbox": shared by every user; only a trusted call (no `userId`)
 * writes there.
 */
export async function placeArtifact(
  sessions: SessionRules,
  options: AccessContext & { scope?: Scope | undefined },
): Promise<Placement> {
  const scope = validateScope(options.scope);
  if (scope === "session") {
    const target = await sessions.resolveForWrite(options);
    return { scope, session: target.session, userId: options.userId ?? null, confirmed: target.confirmed };
  }
  if (scope === "user") {
    if (options.userId === undefined) throw new ValidationError('scope "user" needs a userId');
    const userId = validateSegment(options.userId, "userId");
    if (options.sessionId !== undefined) await sessions.info(options.sessionId, userId);
    return { scope, session: null, userId, confirmed: Promise.resolve() };
  }
  if (options.userId !== undefined) {
    throw new AccessDeniedError('only trusted calls (no userId) write artifacts of scope "sandbox"');
  }
  return { scope, session: null, userId: null, confirmed: Promise.resolve() };
}
