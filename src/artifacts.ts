import { createHash } from "node:crypto";
import type { BackendsGetter, OpenBackends } from "./backends.js";
import { sha256Hex } from "./body.js";
import { KeyedMutex, mapLimit } from "./concurrency.js";
import type { ResolvedConfig } from "./config.js";
import {
  AccessDeniedError,
  ArtifactCorruptedError,
  ArtifactExpiredError,
  ArtifactNotFoundError,
  ConflictError,
  ValidationError,
} from "./errors.js";
import {
  buildKey,
  isSegment,
  lookupKey,
  newArtifactId,
  parseGridKey,
  type Scope,
  scopePrefix,
  scopeSegment,
  validateSegment,
} from "./grid.js";
import {
  type ArtifactMetadata,
  type ArtifactRecord,
  copyMetadata,
  copyRecord,
  expiryFrom,
  isExpired,
  isoOf,
  newEtag,
  recordWith,
  toMetadata,
  validateFilename,
  validateMeta,
  validateMime,
  validateSummary,
  validateTtl,
} from "./metadata.js";
import type { AccessContext, SessionRules, WriteTarget } from "./session-rules.js";
import { unlessSessionsUnavailable } from "./sessions/breaker.js";
import type { SessionRecord } from "./sessions/provider.js";
import type { ByteRange, OpenedBody, PutOptions, RecordView, StorageProvider } from "./storage/provider.js";
import type { VersionEntry } from "./versions.js";

/**
 * Chooses the byte range to open once the artifact's metadata is known (a server's Range header
 * needs the size). Return undefined for the whole body; throw to refuse the request.
 */
export type RangeChooser = (metadata: ArtifactMetadata) => ByteRange | undefined;

export interface NewFields {
  mime: string;
  summary: string;
  filename: string | null;
  meta: Record<string, unknown>;
  ttl: number | null;
}

/** Where a new artifact goes: a session, or a user's or the sandbox's own scope. */
export interface Placement {
  scope: Scope;
  session: SessionRecord | null;
  userId: string | null;
  /** Settles when the session the write goes to is confirmed (see SessionRules.resolveForWrite). */
  confirmed: Promise<void>;
}

/** Flags of a read: what it tolerates, and whether the caller means to write (stricter for shared artifacts). */
export interface ReadFlags {
  allowExpired?: boolean;
  allowPending?: boolean;
  write?: boolean;
  /** The etag the caller expects (`ifMatch`); anything else is a ConflictError. */
  ifMatch?: string | undefined;
}

export interface ChangeOptions {
  summary?: string;
  meta?: Record<string, unknown>;
  filename?: string | null;
  mime?: string;
  ttl?: number | null;
  merge?: boolean;
}

const CACHE_SECONDS_MAX = 3600;
/** No flags, shared: a default `{}` is a new object on every read. */
const NO_FLAGS: ReadFlags = Object.freeze({});
export const LIST_PAGE_MAX = 1000;

const UPDATABLE_FIELDS = new Set([
  "summary",
  "meta",
  "filename",
  "mime",
  "ttl",
  "merge",
  "sessionId",
  "userId",
  "ifMatch",
]);

/**
 * Artifact records as the store sees them: read through the session provider's cache with the
 * access and expiry rules applied, committed to storage (then cached), rewritten one update at a
 * time, opened with their sha256 checked. Storage holds the truth; the cache only saves reads.
 */
export class Artifacts {
  /** Serialises this process's read-modify-write updates of one artifact. */
  private readonly updates = new KeyedMutex();
  /**
   * Cache writes of committed records, by artifact id, not yet awaited: the store awaits each
   * together with the search-index write that follows it (settled()), so both go to Redis in one
   * pipelined round trip rather than one after the other.
   */
  private readonly caching = new Map<string, Promise<void>>();

  constructor(
    private readonly config: ResolvedConfig,
    private readonly backends: BackendsGetter,
    private readonly backendsNow: OpenBackends,
    private readonly sessions: SessionRules,
    private readonly storageName: () => string,
    private readonly sessionName: () => string,
    /** Told of every artifact removed (quotas release what it counted). */
    /** Told of every removal, with the bytes of the earlier versions that went with it (when quotas count them). */
    private readonly onRemoved: (
      record: ArtifactRecord,
      retainedBytes: number,
    ) => Promise<void> = async () => {},
  ) {}

  get sandboxId(): string {
    return this.config.sandboxId;
  }

  /** Loads an artifact's record (cache, then storage) and applies expiry and access rules. */
  async read(
    artifactId: string,
    context: AccessContext,
    flags: ReadFlags = NO_FLAGS,
  ): Promise<ArtifactRecord> {
    const cached = await this.cached(artifactId, context);
    const record =
      cached ?? (await this.fromStorage(artifactId, context, (storage, key) => storage.getRecord(key)));
    if (!cached && record?.status === "ready") await this.cachePut(record);
    return this.allowed(artifactId, record, context, flags);
  }

  /**
   * read() answered in the same turn when all it needs is in process: in-memory storage, no shared
   * cache, access rules that need no session lookup. Undefined otherwise, and also where read()
   * would throw: read() then gives that error. Most of an in-memory read's cost is the promise of
   * each step, not the work.
   */
  readNow(
    artifactId: string,
    context: AccessContext,
    flags: ReadFlags = NO_FLAGS,
  ): ArtifactRecord | undefined {
    const view = this.viewNow(artifactId, context, flags);
    if (!view) return undefined;
    const record = copyRecord(view.record);
    record.storage = view.storage;
    return record;
  }

  /** read() for a write, checked against `ifMatch`: in the same turn where it can be (readNow). */
  private async readForWrite(
    artifactId: string,
    context: AccessContext & { ifMatch?: string | undefined },
  ): Promise<ArtifactRecord> {
    const flags = { write: true, ifMatch: context.ifMatch };
    return this.readNow(artifactId, context, flags) ?? (await this.read(artifactId, context, flags));
  }

  /** readNow()'s public metadata, copied from the stored record in one step. */
  metadataNow(artifactId: string, context: AccessContext): ArtifactMetadata | undefined {
    const view = this.viewNow(artifactId, context);
    if (!view) return undefined;
    return copyMetadata(view.record);
  }

  /**
   * The current bytes (a copy), checked against the record's sha256, in the same turn where
   * storage is in process (see readNow); undefined otherwise, also on a mismatch (the async read
   * reports it).
   */
  bytesNow(artifactId: string, context: AccessContext): Buffer | undefined {
    const view = this.viewNow(artifactId, context);
    const chunks = view && this.backendsNow()?.storage.chunksNow?.(view);
    if (!view || !chunks) return undefined;
    const bytes = Buffer.concat(chunks);
    const { record } = view;
    return bytes.byteLength === record.bytes && sha256Hex(bytes) === record.sha256 ? bytes : undefined;
  }

  /** The stored record, shared (read it in place), once the read rules allow it (see readNow). */
  private viewNow(
    artifactId: string,
    context: AccessContext,
    flags: ReadFlags = NO_FLAGS,
  ): RecordView | undefined {
    const backends = this.backendsNow();
    if (!backends || backends.sessions.shared) return undefined;
    const { storage } = backends;
    if (!storage.viewNow || !storage.viewOfIdNow) return undefined;
    try {
      // Ids are proven here rather than matched against a pattern (a regex per id was a fifth of
      // an in-memory read): lookups by an unchecked id are map reads, and a view is used only
      // when its record carries this very artifact id (and session id, when one is given), ids
      // that were validated when the record was written. Any other id is validated before use;
      // read() reports what is wrong with it.
      const { sessionId, userId } = context;
      if (userId !== undefined && !isSegment(userId)) return undefined;
      let view =
        sessionId === undefined ? null : storage.viewNow(lookupKey(this.sandboxId, sessionId, artifactId));
      if (view === null) view = storage.viewOfIdNow(this.sandboxId, artifactId) ?? undefined;
      if (!view || view.record.artifactId !== artifactId) return undefined;
      if (sessionId !== undefined && sessionId !== view.record.sessionId && !isSegment(sessionId)) {
        return undefined;
      }
      if (!this.accessKnown(view.record, context, flags.write === true)) return undefined;
      usable(artifactId, view.record, flags);
      return view;
    } catch {
      return undefined;
    }
  }

  /**
   * read() and the whole body opened. Without a cached record, one storage read returns both where
   * the layout allows, rather than the record and then the bytes.
   */
  async readOpen(
    artifactId: string,
    context: AccessContext,
  ): Promise<{ record: ArtifactRecord; body: OpenedBody }> {
    const cached = await this.cached(artifactId, context);
    if (cached) {
      const record = await this.allowed(artifactId, cached, context);
      return { record, body: await this.openBody(record) };
    }
    const found = await this.fromStorage(artifactId, context, (storage, key) => storage.openArtifact(key));
    if (!found) throw new ArtifactNotFoundError(`artifact ${artifactId} not found`);
    try {
      const record = await this.allowed(artifactId, found.record, context);
      if (record.status === "ready") await this.cachePut(record);
      return { record, body: found.body };
    } catch (err) {
      releaseStream(found.body);
      throw err;
    }
  }

  private async cached(artifactId: string, context: AccessContext): Promise<ArtifactRecord | null> {
    validateIds(artifactId, context);
    // Open backends are taken as they are (here and in the reads below): awaiting backends()
    // would cost every read another promise and turn.
    const { sessions } = this.backendsNow() ?? (await this.backends());
    // Sessions unavailable (Redis down): a cache read that fails is a miss; storage has the record.
    return sessions.shared
      ? await unlessSessionsUnavailable(sessions.cacheGet(this.sandboxId, artifactId), null)
      : null;
  }

  /**
   * `load` at the artifact's key: in the caller's session first, else wherever the id index says.
   * Found by id when not in the named session, so another session's artifact is denied by the
   * access rules exactly as when its record comes from the cache, rather than reported missing.
   */
  private async fromStorage<T>(
    artifactId: string,
    context: AccessContext,
    load: (storage: StorageProvider, key: string) => Promise<T | null>,
  ): Promise<T | null> {
    const { storage } = this.backendsNow() ?? (await this.backends());
    const inSession =
      context.sessionId !== undefined ? buildKey(this.sandboxId, context.sessionId, artifactId) : null;
    const here = inSession ? await load(storage, inSession) : null;
    if (here) return here;
    const key = await storage.locate(this.sandboxId, artifactId);
    return key && key !== inSession ? load(storage, key) : null;
  }

  /** The expiry and access rules: the record when the caller may have it, else the error why not. */
  private async allowed(
    artifactId: string,
    record: ArtifactRecord | null,
    context: AccessContext,
    flags: ReadFlags = NO_FLAGS,
  ): Promise<ArtifactRecord> {
    if (!record) throw new ArtifactNotFoundError(`artifact ${artifactId} not found`);
    if (!this.accessKnown(record, context, flags.write === true)) await this.checkOwner(record, context);
    return usable(artifactId, record, flags);
  }

  /**
   * Who may use an artifact. A session artifact: callers of its session (and its owner). A user
   * artifact: its user, from any of their sessions. A sandbox artifact: read by anyone; written
   * only by trusted calls (no userId). Throws when denied; true when allowed; false when the answer
   * is a session's owner, which checkOwner looks up.
   */
  private accessKnown(record: ArtifactRecord, context: AccessContext, write: boolean): boolean {
    const scope = record.scope ?? "session";
    const id = record.artifactId;
    if (scope === "sandbox") {
      if (write && context.userId !== undefined) {
        throw new AccessDeniedError(`artifact ${id} is shared by the sandbox: only trusted calls change it`, {
          subject: subjectOf(record),
        });
      }
      return true;
    }
    if (scope === "user") {
      const owner = parseGridKey(record.key)?.scopeUserId ?? null;
      if (context.userId !== undefined && context.userId !== owner) {
        throw new AccessDeniedError(`artifact ${id} belongs to another user`, { subject: subjectOf(record) });
      }
      // From a session only: one of the owner's sessions.
      return context.userId !== undefined || context.sessionId === undefined;
    }
    if (context.sessionId !== undefined && record.sessionId !== context.sessionId) {
      throw new AccessDeniedError(`artifact ${id} belongs to another session`, {
        subject: subjectOf(record),
      });
    }
    return context.userId === undefined;
  }

  /** The rest of accessKnown: the owner of the caller's session (user scope) or of the artifact's. */
  private async checkOwner(record: ArtifactRecord, context: AccessContext): Promise<void> {
    const id = record.artifactId;
    if ((record.scope ?? "session") === "user") {
      const owner = parseGridKey(record.key)?.scopeUserId ?? null;
      const session = await this.sessions.info(context.sessionId!);
      if ((session?.userId ?? null) !== owner)
        throw new AccessDeniedError(`artifact ${id} belongs to another user`, { subject: subjectOf(record) });
      return;
    }
    const owner = await this.sessions.ownerOf(record);
    if (owner !== context.userId)
      throw new AccessDeniedError(`artifact ${id} belongs to another user`, { subject: subjectOf(record) });
  }

  /** A new record with a fresh unguessable id: in `place.session`, or in a user's or the sandbox's scope. */
  newRecord(place: SessionRecord | Placement, fields: NewFields): ArtifactRecord {
    const { scope, session, userId } =
      "scope" in place && "session" in place
        ? place
        : {
            scope: "session" as const,
            session: place as SessionRecord,
            userId: (place as SessionRecord).userId,
          };
    const now = Date.now();
    const artifactId = newArtifactId();
    const iso = isoOf(now);
    const owner = scope === "session" ? session!.sessionId : scopeSegment(scope, { userId });
    return {
      artifactId,
      sessionId: owner,
      sandboxId: this.sandboxId,
      key: scopePrefix(this.sandboxId, scope, { sessionId: owner, userId }) + artifactId,
      mime: fields.mime,
      summary: fields.summary,
      filename: fields.filename,
      meta: fields.meta,
      ttl: fields.ttl,
      bytes: 0,
      sha256: "",
      storedAt: iso,
      updatedAt: iso,
      expiresAt: expiryFrom(now, fields.ttl),
      storageProvider: this.storageName(),
      sessionProvider: this.sessionName(),
      userId: session?.userId ?? userId,
      status: "ready",
      // Only session artifacts end with their session; the others have their own ttl alone.
      sessionExpiresAt: scope === "session" ? session!.expiresAt : null,
      scope,
      version: 1,
      etag: newEtag(1),
    };
  }

  validateNewFields(
    options: {
      mime?: string;
      summary?: string;
      filename?: string | null;
      meta?: Record<string, unknown>;
      ttl?: number | null;
    },
    defaultMime: string,
    ttl = options.ttl,
  ): NewFields {
    return {
      mime: validateMime(options.mime ?? defaultMime),
      summary: validateSummary(options.summary ?? ""),
      filename: validateFilename(options.filename),
      meta: validateMeta(options.meta),
      ttl: validateTtl(ttl, this.config.defaultTtl),
    };
  }

  /** Writes bytes with their record: a new artifact, or new content for the version read. */
  async commit(
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
    options: { replacing?: boolean; previous?: ArtifactRecord; exact?: boolean } = {},
  ): Promise<ArtifactRecord> {
    const { storage, sessions } = await this.backends();
    // Only a shared session provider caches records (cacheEvict and cachePut do nothing otherwise).
    if (options.replacing && sessions.shared) await this.cacheEvict(record);
    const putOptions: PutOptions = { fresh: !options.replacing };
    if (options.previous) putOptions.previous = options.previous;
    if (options.exact) putOptions.exact = true;
    const committed = await storage.put(record, body, putOptions);
    // Without a storage version it was kept as an earlier version: a newer one is current.
    if (committed.storage && sessions.shared) this.cacheSoon(committed);
    return committed;
  }

  /** Writes the cache now; settled() waits for it. Ordered before later commands of this process. */
  private cacheSoon(record: ArtifactRecord): void {
    const id = record.artifactId;
    const pending = this.cachePut(record).finally(() => {
      if (this.caching.get(id) === pending) this.caching.delete(id);
    });
    this.caching.set(id, pending);
  }

  /** Waits for the cache write of an artifact's last commit (cachePut never rejects). */
  settled(artifactId: string): Promise<void> {
    return this.caching.get(artifactId) ?? Promise.resolve();
  }

  /**
   * Commits a new artifact into a session resolved for a write while the session provider
   * confirms it (SessionRules.resolveForWrite); if that refuses, the artifact is removed again and
   * the refusal thrown, so only writes into a confirmed session are acknowledged.
   */
  async commitInto(
    target: Pick<WriteTarget, "confirmed">,
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
  ): Promise<ArtifactRecord> {
    const [committed, confirmed] = await Promise.allSettled([this.commit(record, body), target.confirmed]);
    if (confirmed.status === "rejected") {
      if (committed.status === "fulfilled") await this.undo(committed.value);
      throw confirmed.reason;
    }
    if (committed.status === "rejected") throw committed.reason;
    return committed.value;
  }

  /** Replaces content: read, build, commit, one update of an artifact at a time in this process. */
  async replaceContent(
    artifactId: string,
    context: AccessContext & { ifMatch?: string | undefined },
    build: (current: ArtifactRecord) => ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
  ): Promise<ArtifactRecord> {
    return this.updates.run(artifactId, async () => {
      const current = await this.readForWrite(artifactId, context);
      const next = build(current);
      // With ifMatch the write replaces exactly the version checked, or fails.
      return this.commit(next, body, {
        replacing: true,
        previous: current,
        exact: context.ifMatch !== undefined,
      });
    });
  }

  /**
   * Makes a kept version held in a revision current again by naming that revision in a new version
   * (no bytes copied), one update of an artifact at a time in this process.
   */
  async restoreShared(
    artifactId: string,
    context: AccessContext,
    entry: VersionEntry,
  ): Promise<ArtifactRecord> {
    return this.updates.run(artifactId, async () => {
      const current = await this.read(artifactId, context, { write: true });
      const { storage } = await this.backends();
      await this.cacheEvict(current);
      const committed = await storage.restoreShared(
        { ...current, updatedAt: new Date().toISOString() },
        entry,
        { previous: current },
      );
      if (committed.storage) await this.cachePut(committed);
      return committed;
    });
  }

  /**
   * A metadata-only change: reads the record, builds the new one and commits it, one update of an
   * artifact at a time in this process. Storage refuses the commit (ConflictError) if the artifact
   * changed meanwhile (another process); then it is read and built again.
   */
  async rewrite(
    artifactId: string,
    context: AccessContext & { ifMatch?: string | undefined },
    build: (current: ArtifactRecord) => ArtifactRecord,
  ): Promise<ArtifactRecord> {
    return this.updates.run(artifactId, async () => {
      for (let attempt = 1; ; attempt++) {
        const next = build(await this.readForWrite(artifactId, context));
        try {
          const { storage } = await this.backends();
          await this.cacheEvict(next);
          const committed = await storage.putRecord(next);
          this.cacheSoon(committed);
          return committed;
        } catch (err) {
          if (!(err instanceof ConflictError) || attempt >= 3) throw err;
          await this.cacheEvict(next);
        }
      }
    });
  }

  /** Applies caller changes to a record; system fields (key, sessionId, sha256, …) are refused. */
  applyUpdate(
    current: ArtifactRecord,
    options: ChangeOptions,
    hasData: boolean,
    merge = options.merge,
  ): ArtifactRecord {
    const refused = Object.keys(options).filter((k) => !UPDATABLE_FIELDS.has(k) && k !== "data");
    if (refused.length > 0) {
      throw new ValidationError(
        `cannot update ${refused.join(", ")}: only summary, meta, filename, mime and ttl are writable`,
      );
    }
    const changes =
      options.summary !== undefined ||
      options.meta !== undefined ||
      options.filename !== undefined ||
      options.mime !== undefined ||
      options.ttl !== undefined;
    if (!changes && !hasData)
      throw new ValidationError("nothing to update: give data, summary, meta, filename, mime or ttl");
    const now = Date.now();
    const next = recordWith(current, current.storage);
    next.updatedAt = isoOf(now);
    if (options.summary !== undefined) next.summary = validateSummary(options.summary);
    if (options.filename !== undefined) next.filename = validateFilename(options.filename);
    if (options.mime !== undefined) next.mime = validateMime(options.mime);
    if (options.meta !== undefined) {
      const meta = validateMeta(options.meta);
      next.meta = merge === false ? meta : validateMeta({ ...current.meta, ...meta });
    }
    if (options.ttl !== undefined) {
      next.ttl = validateTtl(options.ttl, current.ttl);
      next.expiresAt = expiryFrom(now, next.ttl);
    }
    return next;
  }

  /** Takes back a write that must not stand; the bytes go even when the cache cannot be reached. */
  private async undo(record: ArtifactRecord): Promise<void> {
    const { storage, sessions } = await this.backends();
    if (sessions.shared) await sessions.cacheDelete(this.sandboxId, record.artifactId).catch(() => {});
    await storage.delete(record.key);
  }

  /**
   * Deletes an artifact. With `exact`, only while storage still holds the very version `record`
   * was read at (ConflictError otherwise, nothing deleted): the check and the delete are one step.
   */
  async remove(record: ArtifactRecord, options: { exact?: boolean } = {}): Promise<boolean> {
    const { storage, sessions } = await this.backends();
    let ifMatch: string | undefined;
    if (options.exact) {
      // A record from the cache may not carry its storage version: read it, and check it is that one.
      const stored = record.storage ? record : await storage.getRecord(record.key);
      if (!stored?.storage || stored.etag !== record.etag) {
        throw new ConflictError(
          `artifact ${record.artifactId} has changed: its etag is no longer ${record.etag}`,
        );
      }
      ifMatch = stored.storage.etag;
    }
    // Quotas count earlier versions too: what goes with the artifact is looked up while it is there.
    const retained =
      this.config.quotas !== null && this.config.keepVersions > 0 ? await storage.retainedBytes(record) : 0;
    if (sessions.shared) await sessions.cacheDelete(this.sandboxId, record.artifactId);
    const removed = await storage.delete(record.key, { ...(ifMatch !== undefined && { ifMatch }) });
    if (removed) await this.onRemoved(record, retained);
    return removed;
  }

  /** Removes every artifact under `prefix` that `shouldDelete` picks; returns how many. */
  async removeUnder(
    prefix: string,
    shouldDelete: (r: ArtifactRecord) => boolean | Promise<boolean>,
    onRemoved?: (r: ArtifactRecord) => void,
  ): Promise<number> {
    const { storage } = await this.backends();
    let removed = 0;
    let cursor: string | null = null;
    do {
      const page = await storage.list(prefix, { limit: LIST_PAGE_MAX, cursor });
      cursor = page.cursor;
      const results = await mapLimit(page.records, 16, async (r) => {
        const removedNow = (await shouldDelete(r)) && (await this.remove(r));
        if (removedNow) onRemoved?.(r);
        return removedNow;
      });
      removed += results.filter(Boolean).length;
    } while (cursor !== null);
    return removed;
  }

  /** Opens the whole body by id for a server, checked against sha256 as it streams. */
  async openVerifiedWhole(
    artifactId: string,
    context: AccessContext,
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    const { record, body } = await this.readOpen(artifactId, context);
    return { metadata: toMetadata(record), body: verified(body, artifactId) };
  }

  /** Opens for a server: a range picked from the metadata, and a full read checked against sha256. */
  async openVerified(
    record: ArtifactRecord,
    range: ByteRange | RangeChooser | undefined,
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    const metadata = toMetadata(record);
    const chosen = typeof range === "function" ? range(metadata) : range;
    const body = await this.openBody(record, chosen);
    if (chosen) return { metadata, body };
    return { metadata, body: verified(body, record.artifactId) };
  }

  async openBody(record: ArtifactRecord, range?: ByteRange): Promise<OpenedBody> {
    const { storage } = this.backendsNow() ?? (await this.backends());
    if (range) {
      if (
        !(
          Number.isSafeInteger(range.start) &&
          Number.isSafeInteger(range.end) &&
          range.start >= 0 &&
          range.end >= range.start
        )
      ) {
        throw new ValidationError("range must satisfy 0 <= start <= end");
      }
      if (range.end >= record.bytes)
        throw new ValidationError(`range ends beyond the artifact's ${record.bytes} bytes`);
    }
    const expected: { sha256: string; rev?: string | null } = { sha256: record.sha256 };
    if (record.storage) expected.rev = record.storage.rev;
    const opened = await storage.openBody(record.key, range, expected);
    if (!opened) throw new ArtifactNotFoundError(`the bytes of artifact ${record.artifactId} are missing`);
    return opened;
  }

  /** A grid key of this sandbox (from a verified signed URL); anything else is "no such artifact". */
  parseOwnKey(key: string) {
    const parsed = parseGridKey(key);
    if (!parsed || parsed.sandboxId !== this.sandboxId) throw new ArtifactNotFoundError("no such artifact");
    return parsed;
  }

  async cachePut(record: ArtifactRecord): Promise<void> {
    const { sessions } = await this.backends();
    if (!sessions.shared) return;
    const remaining =
      record.expiresAt === null
        ? CACHE_SECONDS_MAX
        : Math.floor((Date.parse(record.expiresAt) - Date.now()) / 1000);
    if (remaining <= 0) return;
    // Storage already holds the truth: a cache that cannot be written (Redis down) costs a later
    // storage read, and must not fail — or leave half-acknowledged — a write that has succeeded.
    await sessions.cacheSet(record, Math.min(remaining, CACHE_SECONDS_MAX)).catch(() => {});
  }

  /**
   * Drops a cached record before its artifact is replaced or removed: if that fails nothing has
   * changed yet, and a failed cachePut afterwards leaves no entry rather than the old version.
   *
   * Deliberately not skipped while sessions are unavailable: an update that went ahead without
   * the eviction would leave the old record in a Redis that comes back unflushed (a partition, a
   * stalled server), served as current until its TTL ran out. So updates, moves and deletes of
   * existing artifacts fail with SessionUnavailableError (HTTP 503) during an outage and change
   * nothing; new artifacts need no eviction and keep being stored.
   */
  async cacheEvict(record: ArtifactRecord): Promise<void> {
    const { sessions } = await this.backends();
    if (sessions.shared) await sessions.cacheDelete(this.sandboxId, record.artifactId);
  }
}

/** The body with its stream checked as it is read (built field by field: spreads are slow on Node 20). */
function verified(body: OpenedBody, artifactId: string): OpenedBody {
  return {
    stream: verifiedStream(body, artifactId),
    length: body.length,
    totalBytes: body.totalBytes,
    sha256: body.sha256,
  };
}

/**
 * Passes a full body through, checking it against its size and sha256. The last chunk is held
 * back until the check passes, so a reader of corrupted bytes gets an error, never a complete body.
 */
export async function* verifiedStream(body: OpenedBody, artifactId: string): AsyncIterable<Uint8Array> {
  const hash = createHash("sha256");
  let bytes = 0;
  let held: Uint8Array | null = null;
  for await (const chunk of body.stream) {
    hash.update(chunk);
    bytes += chunk.byteLength;
    if (held) yield held;
    held = chunk;
  }
  if (bytes !== body.totalBytes || hash.digest("hex") !== body.sha256) {
    throw new ArtifactCorruptedError(`artifact ${artifactId} does not match its recorded sha256`);
  }
  if (held) yield held;
}

/** Lets go of a body that will not be read (its connection or file handle). */
function releaseStream(body: OpenedBody): void {
  const stream = body.stream as { destroy?: () => void; return?: () => unknown };
  if (typeof stream.destroy === "function") stream.destroy();
  else void stream.return?.();
}

function validateIds(artifactId: string, context: AccessContext): void {
  validateSegment(artifactId, "artifactId");
  if (context.sessionId !== undefined) validateSegment(context.sessionId, "sessionId");
  if (context.userId !== undefined) validateSegment(context.userId, "userId");
}

function subjectOf(record: ArtifactRecord): { sessionId: string; artifactId: string } {
  return { sessionId: record.sessionId, artifactId: record.artifactId };
}

/** The rules after access: registered, not expired, and the etag the caller expects. */
function usable(artifactId: string, record: ArtifactRecord, flags: ReadFlags): ArtifactRecord {
  if (record.status === "pending" && !flags.allowPending)
    throw new ArtifactNotFoundError(`artifact ${artifactId} has not been uploaded and registered`);
  if (!flags.allowExpired && isExpired(record.expiresAt))
    throw new ArtifactExpiredError(`artifact ${artifactId} expired at ${record.expiresAt}`);
  if (flags.ifMatch !== undefined && flags.ifMatch !== record.etag) {
    throw new ConflictError(`artifact ${artifactId} has changed: its etag is no longer ${flags.ifMatch}`);
  }
  return record;
}
