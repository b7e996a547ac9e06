import type { BackendsGetter } from "./backends.js";
import { SharedRuns } from "./concurrency.js";
import type { ResolvedConfig } from "./config.js";
import {
  AccessDeniedError,
  ConflictError,
  SessionError,
  SessionUnavailableError,
  ValidationError,
} from "./errors.js";
import { implicitOwner, newSessionId, sessionPrefix, userSessionId, validateSegment } from "./grid.js";
import { type ArtifactRecord, isExpired, validateMeta } from "./metadata.js";
import { unlessSessionsUnavailable } from "./sessions/breaker.js";
import { CallQueues } from "./sessions/call-queue.js";
import type { SessionRecord } from "./sessions/provider.js";

/** Who is asking. With `userId`, the session must belong to that user. */
export interface AccessContext {
  sessionId?: string;
  userId?: string;
}

/** A session a write may go to now, and the check that it still may once the write is done. */
export interface WriteTarget {
  session: SessionRecord;
  /**
   * Settles when the session provider has confirmed `session` (created it, or still has it with the
   * same owner); rejects when the write must not stand (the caller removes what it wrote).
   */
  confirmed: Promise<void>;
}

/** How long a resolved session is used for new writes without waiting for the provider first. */
const RECENT_MS = 60_000;
const RECENT_MAX = 10_000;

/**
 * Sessions as security boundaries: which session a write goes to, who owns it, and what survives
 * the loss of the session provider (ownership is rebuilt from the records storage keeps).
 */
export class SessionRules {
  /** Sessions this process resolved for a write lately, by id (insertion order = age). */
  private readonly recent = new Map<string, { session: SessionRecord; at: number }>();
  /**
   * resolve() calls in flight for a write, by session and caller: a burst of writes into a session
   * this process has not seen shares one lookup (and creation) instead of each reading storage.
   */
  private readonly resolving = new SharedRuns<SessionRecord>();
  /**
   * The session reads that check writes into remembered sessions (a shared session provider).
   * Each write's check is a read sent after the write began; writes that begin while a read of
   * their session is in flight share the next one, so a burst of writes costs a few reads rather
   * than one each.
   */
  private readonly checks = new CallQueues<"read", string, SessionRecord | null>(
    async (_kind, [sessionId]) => {
      const { sessions } = await this.backends();
      return sessions.get(this.sandboxId, sessionId!);
    },
    new Set(["read"]),
    Number.POSITIVE_INFINITY,
  );

  constructor(
    private readonly config: ResolvedConfig,
    private readonly backends: BackendsGetter,
  ) {}

  get sandboxId(): string {
    return this.config.sandboxId;
  }

  /** Creates a session (an unguessable id unless one is given). Fails with ConflictError if it exists. */
  async create(
    options: { sessionId?: string; userId?: string; ttlHours?: number; meta?: Record<string, unknown> } = {},
  ): Promise<SessionRecord> {
    const sessionId =
      options.sessionId === undefined ? newSessionId() : validateSegment(options.sessionId, "sessionId");
    const userId =
      options.userId === undefined ? implicitOwner(sessionId) : validateSegment(options.userId, "userId");
    const record = this.newSession(sessionId, userId, options.ttlHours, validateMeta(options.meta));
    const { sessions } = await this.backends();
    if (!(await sessions.create(record))) throw new ConflictError(`session ${sessionId} already exists`);
    await this.keep(record);
    return record;
  }

  /** The session, checked against `userId`; null when it does not exist. */
  async info(sessionId: string, userId?: string): Promise<SessionRecord | null> {
    validateSegment(sessionId, "sessionId");
    const session = await this.find(sessionId);
    if (session) this.checkOwner(session, userId);
    return session;
  }

  /** Pushes a session's expiry `hours` (default: the session TTL) from now. */
  async extend(sessionId: string, options: { hours?: number; userId?: string }): Promise<SessionRecord> {
    validateSegment(sessionId, "sessionId");
    const session = await this.find(sessionId);
    if (!session) throw new SessionError(`session ${sessionId} does not exist`);
    this.checkOwner(session, options.userId);
    const hours = options.hours ?? this.config.sessionTtlHours;
    if (!(hours > 0)) throw new ValidationError("hours must be positive");
    const extended = { ...session, expiresAt: new Date(Date.now() + hours * 3600_000).toISOString() };
    const { sessions } = await this.backends();
    this.recent.delete(sessionId);
    await sessions.update(extended);
    await this.keep(extended);
    return extended;
  }

  /** Forgets a session (its artifacts are the caller's to remove first). */
  async forget(sessionId: string): Promise<void> {
    this.recent.delete(sessionId);
    const { sessions, storage } = await this.backends();
    await storage.deleteSession(this.sandboxId, sessionId);
    await sessions.delete(this.sandboxId, sessionId);
  }

  /**
   * The session a write goes to: the named one (created on first use, owned by `userId`), else the
   * user's own `user_{userId}`, else a new anonymous one. Someone else's session is AccessDenied.
   */
  async resolve(context: AccessContext): Promise<SessionRecord> {
    const userId = context.userId === undefined ? undefined : validateSegment(context.userId, "userId");
    if (context.sessionId === undefined && userId === undefined) {
      const record = this.newSession(newSessionId(), null);
      const { sessions } = await this.backends();
      // Sessions unavailable: a fresh random id is nobody else's, so the write goes ahead; once
      // sessions are back, find() rebuilds this session from its artifacts.
      await unlessSessionsUnavailable(sessions.create(record), true);
      return record;
    }
    const sessionId =
      context.sessionId === undefined
        ? userSessionId(userId!)
        : validateSegment(context.sessionId, "sessionId");
    const existing = await this.find(sessionId).catch((err) => this.ownedByItsName(err, sessionId));
    if (existing) {
      this.checkOwner(existing, userId);
      if (!isExpired(existing.expiresAt)) return existing;
      // An expired session is renewed for its owner; its old artifacts keep their own expiry.
      const renewed = this.newSession(sessionId, existing.userId);
      const { sessions } = await this.backends();
      // Sessions unavailable: renewed for this write only; rebuilt from storage later.
      await unlessSessionsUnavailable(sessions.update(renewed), undefined);
      await this.keep(renewed);
      return renewed;
    }
    const owner = userId ?? implicitOwner(sessionId);
    if (userId !== undefined && implicitOwner(sessionId) !== null && implicitOwner(sessionId) !== userId) {
      throw new AccessDeniedError(`session ${sessionId} belongs to another user`, { subject: { sessionId } });
    }
    if (
      this.config.requireExplicitSessions &&
      (userId === undefined || implicitOwner(sessionId) !== userId)
    ) {
      throw new SessionError(`session ${sessionId} does not exist; create it first`);
    }
    const record = this.newSession(sessionId, owner);
    const { sessions } = await this.backends();
    if (await sessions.create(record)) {
      await this.keep(record);
      return record;
    }
    // Lost a creation race: use the winner's record, with the same owner check.
    const winner = await sessions.get(this.sandboxId, sessionId);
    if (!winner) throw new SessionError(`session ${sessionId} could not be created`);
    this.checkOwner(winner, userId);
    return winner;
  }

  /**
   * resolve() for a write of a new artifact, without a session-provider round trip before the
   * bytes go up: a new anonymous session is created, and a session this process resolved in the
   * last minute is checked again, while the write runs. `confirmed` is that check; the caller
   * awaits it with its write and removes what it wrote when it rejects, so a write is only ever
   * acknowledged into a session its caller may use at the time of the write (a session deleted and
   * taken by another user meanwhile rejects with AccessDeniedError, exactly as resolve() would).
   */
  async resolveForWrite(context: AccessContext): Promise<WriteTarget> {
    const userId = context.userId === undefined ? undefined : validateSegment(context.userId, "userId");
    if (context.sessionId === undefined && userId === undefined) {
      const session = this.newSession(newSessionId(), null);
      const { sessions } = await this.backends();
      // A fresh random id is nobody else's: the write needs no answer first. Unavailable sessions
      // do not stop it (see resolve()).
      const confirmed = unlessSessionsUnavailable(sessions.create(session), true).then((created) => {
        if (!created) throw new ConflictError(`session ${session.sessionId} already exists`);
      });
      return { session, confirmed };
    }
    const sessionId =
      context.sessionId === undefined
        ? userSessionId(userId!)
        : validateSegment(context.sessionId, "sessionId");
    const seen = this.recent.get(sessionId);
    if (seen && Date.now() - seen.at < RECENT_MS && !isExpired(seen.session.expiresAt)) {
      this.checkOwner(seen.session, userId);
      const confirmed = this.confirm(seen.session, context).then((now) => {
        if (now.userId !== seen.session.userId) {
          // Deleted and taken by someone else while this write ran (a caller with a userId has
          // already been refused by resolve()'s own owner check).
          this.recent.delete(sessionId);
          throw new ConflictError(`session ${sessionId} changed owner during the write; nothing was stored`);
        }
        this.remember(now);
      });
      return { session: seen.session, confirmed };
    }
    const session = await this.resolveShared(sessionId, userId);
    this.remember(session);
    return { session, confirmed: Promise.resolve() };
  }

  /** resolve() for the session and caller, shared with the same call already in flight. */
  private resolveShared(sessionId: string, userId: string | undefined): Promise<SessionRecord> {
    return this.resolving.run(`${sessionId}/${userId ?? ""}`, () =>
      this.resolve({ sessionId, ...(userId !== undefined && { userId }) }),
    );
  }

  /**
   * The session as resolve() would give it now. While sessions are unavailable, a session owned by
   * its name (`user_{id}`) is confirmed by that name alone, without the storage reads resolve()
   * would make to rebuild it.
   */
  private async confirm(seen: SessionRecord, context: AccessContext): Promise<SessionRecord> {
    const { sessions } = await this.backends();
    try {
      // Sessions held in this process answer at once: nothing to share.
      const current = sessions.shared
        ? await this.checks.call(seen.sessionId, "read", seen.sessionId)
        : await sessions.get(this.sandboxId, seen.sessionId);
      if (current && !isExpired(current.expiresAt)) {
        this.checkOwner(current, context.userId);
        return current;
      }
    } catch (err) {
      if (!(err instanceof SessionUnavailableError)) throw err;
      const owner = implicitOwner(seen.sessionId);
      if (owner !== null && owner === seen.userId) return seen;
    }
    return this.resolve(context);
  }

  private remember(session: SessionRecord): void {
    this.recent.delete(session.sessionId);
    if (this.recent.size >= RECENT_MAX) this.recent.delete(this.recent.keys().next().value!);
    this.recent.set(session.sessionId, { session, at: Date.now() });
  }

  /**
   * A session from the session provider or, if that lost it (a Redis flush), rebuilt from what
   * storage keeps: the session's own owner record, else one of its artifacts. So ownership
   * survives the loss, even of a session that has no artifact yet.
   *
   * While the session provider is unavailable (SessionUnavailableError) the same rebuild answers
   * without writing it back (from `known`, an artifact of the session the caller has already read,
   * when storage keeps no owner record); with nothing to rebuild from there is no answer: the error
   * is rethrown rather than reporting a session that may exist as absent.
   */
  async find(sessionId: string, known?: ArtifactRecord): Promise<SessionRecord | null> {
    const { sessions, storage } = await this.backends();
    let unavailable: SessionUnavailableError | null = null;
    const found = await sessions.get(this.sandboxId, sessionId).catch((err: unknown) => {
      if (!(err instanceof SessionUnavailableError)) throw err;
      unavailable = err;
      return null;
    });
    if (found) return found;
    // The artifacts are asked for alongside the kept owner record, not after it: a new session
    // (the common case here) needs both answers, and one after the other doubled the wait.
    const listing =
      unavailable && known?.sessionId === sessionId
        ? null
        : storage.list(sessionPrefix(this.sandboxId, sessionId), { limit: 1 });
    listing?.catch(() => {}); // unread when a kept record answers; awaited (and thrown) otherwise
    let rebuilt: SessionRecord;
    const kept = await storage.getSession(this.sandboxId, sessionId);
    if (kept) {
      rebuilt = {
        ...this.newSession(sessionId, kept.userId),
        createdAt: kept.createdAt,
        expiresAt: kept.expiresAt,
      };
    } else {
      // Kept by an older version, or its creator died before keeping it: the artifacts say whose.
      const sample = listing === null ? known : (await listing).records[0];
      if (!sample) {
        if (unavailable) throw unavailable;
        return null;
      }
      rebuilt = this.newSession(sessionId, sample.userId ?? implicitOwner(sessionId));
      if (sample.sessionExpiresAt && !isExpired(sample.sessionExpiresAt))
        rebuilt.expiresAt = sample.sessionExpiresAt;
    }
    if (unavailable) return rebuilt;
    await sessions.create(rebuilt);
    return (await sessions.get(this.sandboxId, sessionId)) ?? rebuilt;
  }

  /**
   * resolve()'s answer when find() has none because sessions are unavailable: a `user_{id}`
   * session belongs to that user by its name, so it is usable (not written to the session
   * store); any other session fails closed, since only the session store knows whether someone
   * else owns it (SessionUnavailableError, HTTP 503).
   */
  private ownedByItsName(err: unknown, sessionId: string): SessionRecord {
    const owner = implicitOwner(sessionId);
    if (!(err instanceof SessionUnavailableError) || owner === null) throw err;
    return this.newSession(sessionId, owner);
  }

  /**
   * Keeps a named session's owner and expiry in storage, so a session outlives a session-store
   * loss even before it holds an artifact. Written by the creator that won, after winning.
   * Anonymous sessions have no owner to protect and are not kept.
   */
  private async keep(session: SessionRecord): Promise<void> {
    if (session.userId === null) return;
    const { storage } = await this.backends();
    await storage.putSession(this.sandboxId, session.sessionId, {
      userId: session.userId,
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
    });
  }

  /** The user an artifact belongs to (its session's owner, else what the record says). */
  async ownerOf(record: ArtifactRecord): Promise<string | null> {
    const session = await this.find(record.sessionId, record);
    return session?.userId ?? implicitOwner(record.sessionId) ?? record.userId;
  }

  checkOwner(session: SessionRecord, userId: string | undefined): void {
    if (userId === undefined) return;
    const owner = session.userId ?? implicitOwner(session.sessionId);
    if (owner !== userId) {
      throw new AccessDeniedError(`session ${session.sessionId} belongs to another user`, {
        subject: { sessionId: session.sessionId },
      });
    }
  }

  newSession(
    sessionId: string,
    userId: string | null,
    ttlHours?: number,
    meta: Record<string, unknown> = {},
  ): SessionRecord {
    const hours = ttlHours ?? this.config.sessionTtlHours;
    if (!(hours > 0)) throw new ValidationError("ttlHours must be positive");
    const now = Date.now();
    return {
      sessionId,
      sandboxId: this.sandboxId,
      userId,
      createdAt: new Date(now).toISOString(),
      lastAccessedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + hours * 3600_000).toISOString(),
      meta,
    };
  }
}
