import { ArtifactVersions, validateVersion } from "./artifact-versions.js";
import { Artifacts, LIST_PAGE_MAX, type RangeChooser } from "./artifacts.js";
import type { AuditEventType } from "./audit/event.js";
import { type AuditSubject, AuditTrail } from "./audit/trail.js";
import type { Backends } from "./backends.js";
import { type ArtifactData, collect, sha256Hex, toChunks } from "./body.js";
import { type Checkpoint, type CheckpointRestore, Checkpoints } from "./checkpoints.js";
import { mapLimit } from "./concurrency.js";
import { type ArtifactStoreOptions, type ResolvedConfig, resolveConfig } from "./config.js";
import {
  AccessDeniedError,
  ArtifactCorruptedError,
  ArtifactExpiredError,
  ArtifactNotFoundError,
  ArtifactStoreError,
  asProviderError,
  ValidationError,
} from "./errors.js";
import { type ArtifactChangeKind, type ArtifactEvents, createArtifactEvents, Listeners } from "./events.js";
import {
  keyBeside,
  newArtifactId,
  type ParsedGridKey,
  parseGridKey,
  type Scope,
  scopePrefix,
  sessionPrefix,
  validateSegment,
} from "./grid.js";
import { IdLocator } from "./id-locator.js";
import {
  type ArtifactMetadata,
  type ArtifactRecord,
  copyMetadata,
  isExpired,
  toMetadata,
  validateFilename,
  validateMeta,
  validateSummary,
} from "./metadata.js";
import type { MultipartPart, PartReceipt } from "./multipart.js";
import { sessionFactory, storageFactory } from "./providers.js";
import { knownSize, Quotas, type Usage } from "./quotas.js";
import { RecordStore } from "./records.js";
import { placeArtifact } from "./scopes.js";
import type { SearchOptions, SearchQuery } from "./search/query.js";
import { Search, type SearchPage } from "./search/search.js";
import { type AccessContext, SessionRules } from "./session-rules.js";
import { unlessSessionsUnavailable } from "./sessions/breaker.js";
import type { SessionRecord } from "./sessions/provider.js";
import type { UsageScope } from "./sessions/usage.js";
import { type SignedGrant, UrlSigner } from "./signing.js";
import type { ByteRange, OpenedBody } from "./storage/provider.js";
import {
  type MultipartUploadInfo,
  nowSeconds,
  PRESIGN_LONG,
  PRESIGN_MEDIUM,
  PRESIGN_SHORT,
  type PresignedUpload,
  type PresignUploadOptions,
  type RegisterUploadOptions,
  Uploads,
  validateExpires,
} from "./uploads.js";
import type { VersionInfo } from "./versions.js";

export type { RangeChooser } from "./artifacts.js";
export type { Checkpoint, CheckpointRestore } from "./checkpoints.js";
export type { Scope } from "./grid.js";
export type { AccessContext } from "./session-rules.js";
export {
  type MultipartUploadInfo,
  PRESIGN_LONG,
  PRESIGN_MEDIUM,
  PRESIGN_SHORT,
  type PresignedUpload,
  type PresignUploadOptions,
  type RegisterUploadOptions,
} from "./uploads.js";
export type { VersionInfo } from "./versions.js";

export interface StoreOptions extends AccessContext {
  /** "session" (default), "user" (the user's own, across sessions; needs userId) or "sandbox" (shared; trusted calls only). */
  scope?: Scope;
  mime?: string;
  summary?: string;
  filename?: string | null;
  meta?: Record<string, unknown>;
  /** Seconds until the artifact expires; null for never. Default: the store's defaultTtl (900). */
  ttl?: number | null;
}

export interface BatchItem {
  data: ArtifactData;
  mime?: string;
  summary?: string;
  filename?: string | null;
  meta?: Record<string, unknown>;
  ttl?: number | null;
}

/** Only if the artifact's etag is still this one; otherwise a ConflictError and nothing is written. */
export interface IfMatch {
  ifMatch?: string;
}

/** Read an earlier version (1, 2, …) instead of the current one. */
export interface AtVersion {
  version?: number;
}

export interface UpdateFileOptions extends AccessContext, IfMatch {
  data?: ArtifactData;
  summary?: string;
  meta?: Record<string, unknown>;
  filename?: string | null;
  mime?: string;
  ttl?: number | null;
}

export interface UpdateMetadataOptions extends AccessContext, IfMatch {
  summary?: string;
  meta?: Record<string, unknown>;
  filename?: string | null;
  mime?: string;
  ttl?: number | null;
  /** Merge `meta` into the existing meta (default) or replace it. */
  merge?: boolean;
}

/** A page of artifacts; iterate it like an array. `cursor` fetches the next page (null: no more). */
export type ArtifactPage = ArtifactMetadata[] & { cursor: string | null };

/**
 * Session-scoped artifact storage: the public API. It validates input, checks access and
 * delegates — sessions to SessionRules (session-rules.ts), records to Artifacts (artifacts.ts),
 * presigned and multipart uploads to Uploads (uploads.ts), and storage to the record layer over a
 * driver (records.ts, storage/). Anything untyped that escapes becomes a ProviderError.
 */
export class ArtifactStore implements AsyncDisposable {
  readonly config: ResolvedConfig;
  readonly sandboxId: string;
  /** Signs URLs for providers without native presigning; the HTTP handler verifies with it. */
  readonly signer: UrlSigner;
  /** Announces every visible write ("artifact changed"); across processes with Redis sessions. */
  readonly events: ArtifactEvents;
  /** Audit events of this process (the `onEvent` hook; sinks and webhooks subscribe here). */
  readonly audit: AuditTrail;
  private readonly uploadHooks = new Listeners<ArtifactMetadata>();
  private backendsPromise: Promise<Backends> | null = null;
  /** What backendsPromise resolved to, for reads answered in the same turn (Artifacts.readNow). */
  private openBackends: Backends | null = null;
  private closed = false;
  private readonly sessions: SessionRules;
  private readonly artifacts: Artifacts;
  private readonly uploads: Uploads;
  private readonly quotas: Quotas;
  private readonly finder: Search;
  private readonly versions: ArtifactVersions;
  private readonly checkpoints: Checkpoints;

  constructor(options: ArtifactStoreOptions = {}) {
    this.config = resolveConfig(options);
    this.sandboxId = this.config.sandboxId;
    this.signer = new UrlSigner(this.config.signingSecret, this.config.publicUrl);
    this.events = createArtifactEvents(this.config, () => this.openBackends?.sessions ?? null);
    this.audit = new AuditTrail(this.sandboxId, options.onEvent);
    if (options.onUploadRegistered) this.uploadHooks.add(options.onUploadRegistered);
    const backends = () => this.backends();
    this.sessions = new SessionRules(this.config, backends);
    this.quotas = new Quotas(this.config.quotas, this.sandboxId, backends, this.config.keepVersions > 0);
    this.finder = new Search(this.sandboxId, backends, this.sessions);
    this.artifacts = new Artifacts(
      this.config,
      backends,
      () => this.openBackends,
      this.sessions,
      () => this.storageProviderName,
      () => this.sessionProviderName,
      async (removed, retainedBytes) => {
        await this.quotas.release(removed, retainedBytes);
        await this.finder.removed(removed);
      },
    );
    this.uploads = new Uploads(
      this.config,
      backends,
      this.sessions,
      this.artifacts,
      this.signer,
      this.quotas,
    );
    this.versions = new ArtifactVersions(backends, this.artifacts, this.quotas);
    this.checkpoints = new Checkpoints(
      this.sandboxId,
      backends,
      this.sessions,
      this.artifacts,
      this.versions,
    );
  }

  get storageProviderName(): string {
    const p = this.config.storageProvider;
    return typeof p === "string" ? p : p.name;
  }

  get sessionProviderName(): string {
    const p = this.config.sessionProvider;
    return typeof p === "string" ? p : p.name;
  }

  /** The providers, created on first use so heavy SDKs load only when chosen. */
  async backends(): Promise<Backends> {
    if (this.closed) throw new ArtifactStoreError("the store is closed");
    this.backendsPromise ??= (async () => {
      const [driver, sessions] = await Promise.all([
        storageFactory(this.config).open(),
        sessionFactory(this.config).open(),
      ]);
      const storage = new RecordStore(driver, new IdLocator(driver, async () => sessions), {
        keepVersions: this.config.keepVersions,
        keepVersionsDays: this.config.keepVersionsDays,
      });
      // Earlier versions count toward quotas: what retention drops is given back.
      storage.versions.onDropped = (owner, entry) => this.quotas.versionDropped(owner, entry.bytes);
      // Awaited (briefly) so the check sees storage before this store's first write. A slow or
      // unreachable backend does not hold the store up: the check goes on, and is safe whenever
      // it lands, as a write its listing misses is indexed like any other.
      await withinMs(this.finder.checkEmpty({ storage, sessions }), EMPTY_CHECK_WAIT_MS);
      this.openBackends = this.closed ? null : { storage, sessions, driver };
      return { storage, sessions, driver };
    })();
    this.backendsPromise.catch(() => {
      this.backendsPromise = null;
    });
    return this.backendsPromise;
  }

  // ---- sessions -------------------------------------------------------------------------------

  /** Creates a session (an unguessable id unless one is given). Fails with ConflictError if it exists. */
  async createSession(
    options: { sessionId?: string; userId?: string; ttlHours?: number; meta?: Record<string, unknown> } = {},
  ): Promise<SessionRecord> {
    return this.guard("create session", () => this.sessions.create(options));
  }

  async getSessionInfo(
    sessionId: string,
    context: Pick<AccessContext, "userId"> = {},
  ): Promise<SessionRecord | null> {
    return this.guard("get session", () => this.sessions.info(sessionId, context.userId));
  }

  /** Pushes a session's expiry `hours` (default: the session TTL) from now. */
  async extendSession(
    sessionId: string,
    options: { hours?: number; userId?: string } = {},
  ): Promise<SessionRecord> {
    return this.guard("extend session", () => this.sessions.extend(sessionId, options));
  }

  /** Deletes a session and all its artifacts; returns how many artifacts were removed. */
  async deleteSession(sessionId: string, context: Pick<AccessContext, "userId"> = {}): Promise<number> {
    return this.guard("delete session", async () => {
      await this.sessions.info(sessionId, context.userId);
      const removed = await this.artifacts.removeUnder(
        sessionPrefix(this.sandboxId, sessionId),
        () => true,
        (r) => this.audit.emit("artifact.deleted", r, context),
      );
      await this.checkpoints.removeAll(sessionId);
      await this.sessions.forget(sessionId);
      return removed;
    });
  }

  // ---- writing --------------------------------------------------------------------------------

  /** Stores `data` and returns the new artifact's id. */
  async store(data: ArtifactData, options: StoreOptions = {}): Promise<string> {
    return this.guard("store", async () => {
      const fields = this.artifacts.validateNewFields(options, "application/octet-stream");
      const body = toChunks(data);
      const place = await placeArtifact(this.sessions, options);
      const record = this.artifacts.newRecord(place, fields);
      const committed = await this.quotas.write(record, knownSize(data), null, body, (capped) =>
        this.artifacts.commitInto(place, record, capped),
      );
      await this.committed(committed, "created", options);
      return record.artifactId;
    });
  }

  /** Stores text (UTF-8) as a file; mime defaults to text/plain. */
  async writeFile(content: string | ArtifactData, options: StoreOptions = {}): Promise<string> {
    return this.store(content, { ...options, mime: options.mime ?? "text/plain" });
  }

  /**
   * Stores many artifacts in one session with bounded concurrency. Each item succeeds or fails on
   * its own: the result has the id, or null where that item failed (its error is not thrown).
   */
  async storeBatch(
    items: BatchItem[],
    options: AccessContext & { ttl?: number | null; concurrency?: number; scope?: Scope } = {},
  ): Promise<(string | null)[]> {
    if (!Array.isArray(items)) throw new ValidationError("items must be an array");
    // The session is settled before any item is written, as each item stands alone.
    const session = await this.guard("store batch", async () => {
      const place = await placeArtifact(this.sessions, options);
      await place.confirmed;
      return place;
    });
    return mapLimit(items, options.concurrency ?? 16, async (item) => {
      try {
        const ttl = item.ttl === undefined ? options.ttl : item.ttl;
        const fields = this.artifacts.validateNewFields(item, "application/octet-stream", ttl);
        const record = this.artifacts.newRecord(session, fields);
        const committed = await this.quotas.write(
          record,
          knownSize(item.data),
          null,
          toChunks(item.data),
          (body) => this.artifacts.commit(record, body),
        );
        await this.committed(committed, "created", options);
        return record.artifactId;
      } catch (err) {
        this.refused("store batch", err);
        return null;
      }
    });
  }

  /**
   * Replaces content and/or metadata. Content changes recompute size and sha256. An artifact
   * deleted meanwhile stays deleted: the update is then an ArtifactNotFoundError.
   */
  async updateFile(artifactId: string, options: UpdateFileOptions): Promise<ArtifactMetadata> {
    return this.guard("update file", async () => {
      const { data } = options;
      // New meta replaces the old here (merge: false); `data` itself is not a field to check.
      const build = (current: ArtifactRecord) =>
        this.artifacts.applyUpdate(current, options, data !== undefined, false);
      const updated =
        data === undefined
          ? await this.artifacts.rewrite(artifactId, options, build)
          : await this.replaceContent(artifactId, options, build, data);
      return toMetadata(await this.committed(updated, "updated", options));
    });
  }

  /** Changes summary, meta, filename, mime or ttl. System fields (key, sessionId, sha256, …) are refused. */
  async updateMetadata(artifactId: string, options: UpdateMetadataOptions): Promise<ArtifactMetadata> {
    return this.guard("update metadata", async () =>
      toMetadata(
        await this.committed(
          await this.artifacts.rewrite(artifactId, options, (current) =>
            this.artifacts.applyUpdate(current, options, false),
          ),
          "updated",
          options,
        ),
      ),
    );
  }

  /** Copies within the same session; a target in another session is an AccessDeniedError. */
  async copyFile(
    artifactId: string,
    options: AccessContext & {
      newFilename?: string;
      targetSessionId?: string;
      newMeta?: Record<string, unknown>;
      summary?: string;
    } = {},
  ): Promise<string> {
    return this.guard("copy", async () => {
      if (options.targetSessionId !== undefined) validateSegment(options.targetSessionId, "sessionId");
      const source = await this.artifacts.read(artifactId, options);
      if (options.targetSessionId !== undefined && options.targetSessionId !== source.sessionId) {
        throw new AccessDeniedError(
          "copy across sessions is not allowed: an artifact never leaves its session",
        );
      }
      const filename =
        options.newFilename === undefined ? source.filename : validateFilename(options.newFilename);
      const meta =
        options.newMeta === undefined
          ? source.meta
          : validateMeta({ ...source.meta, ...validateMeta(options.newMeta) });
      const summary = options.summary === undefined ? source.summary : validateSummary(options.summary);
      const now = new Date().toISOString();
      const copyId = newArtifactId();
      const { storage: _sourceVersion, ...rest } = source;
      const record: ArtifactRecord = {
        ...rest,
        artifactId: copyId,
        key: keyBeside(source.key, copyId),
        filename,
        meta: { ...meta, copiedFrom: source.artifactId },
        summary,
        storedAt: now,
        updatedAt: now,
      };
      const { storage } = await this.backends();
      const hold = await this.quotas.reserve(source, { bytes: source.bytes, artifacts: 1 });
      const committed = await storage.copy(source.key, record).catch(async (err: unknown) => {
        await hold.release();
        throw err;
      });
      await hold.settle({ bytes: committed.bytes, artifacts: 1 });
      await this.artifacts.cachePut(committed);
      return (await this.committed(committed, "created", options)).artifactId;
    });
  }

  /** Renames an artifact (and optionally replaces meta keys) within its session; saved at once. */
  async moveFile(
    artifactId: string,
    options: AccessContext & {
      newFilename?: string;
      newMeta?: Record<string, unknown>;
      targetSessionId?: string;
    },
  ): Promise<ArtifactMetadata> {
    return this.guard("move", async () => {
      if (options.targetSessionId !== undefined) validateSegment(options.targetSessionId, "sessionId");
      if (options.newFilename === undefined && options.newMeta === undefined) {
        throw new ValidationError("moveFile needs newFilename or newMeta");
      }
      const moved = await this.artifacts.rewrite(artifactId, options, (current) => {
        if (options.targetSessionId !== undefined && options.targetSessionId !== current.sessionId) {
          throw new AccessDeniedError(
            "move across sessions is not allowed: an artifact never leaves its session",
          );
        }
        return {
          ...current,
          filename:
            options.newFilename === undefined ? current.filename : validateFilename(options.newFilename),
          meta:
            options.newMeta === undefined
              ? current.meta
              : validateMeta({ ...current.meta, ...validateMeta(options.newMeta) }),
          updatedAt: new Date().toISOString(),
        };
      });
      return toMetadata(await this.committed(moved, "updated", options));
    });
  }

  /**
   * Deletes an artifact and every version of it; false when it did not exist. A delete wins over a
   * concurrent update. With `ifMatch`, only while its etag is that one (ConflictError otherwise).
   */
  async delete(artifactId: string, context: AccessContext & IfMatch = {}): Promise<boolean> {
    return this.guard("delete", async () => {
      let record: ArtifactRecord;
      try {
        record = await this.artifacts.read(artifactId, context, {
          allowExpired: true,
          allowPending: true,
          write: true,
          ifMatch: context.ifMatch,
        });
      } catch (err) {
        if (err instanceof ArtifactNotFoundError) return false;
        throw err;
      }
      const removed = await this.artifacts.remove(record, { exact: context.ifMatch !== undefined });
      if (removed && record.status === "ready") this.changed(record, "deleted", context);
      return removed;
    });
  }

  // ---- reading --------------------------------------------------------------------------------

  /** The artifact's metadata; with `version`, that earlier version's (its bytes, sha256, etag, mime). */
  async metadata(
    artifactId: string,
    context: AccessContext & AtVersion = NO_CONTEXT,
  ): Promise<ArtifactMetadata> {
    const now = context.version === undefined ? this.artifacts.metadataNow(artifactId, context) : undefined;
    if (now) return now;
    return this.guard("metadata", async () => {
      const record = await this.artifacts.read(artifactId, context);
      if (context.version === undefined || context.version === record.version) return toMetadata(record);
      return this.versions.metadataAt(
        record,
        await this.versions.entry(record, validateVersion(context.version)),
      );
    });
  }

  /** True when the artifact exists and has not expired. */
  async exists(artifactId: string, context: AccessContext = {}): Promise<boolean> {
    return this.guard("exists", async () => {
      try {
        await this.artifacts.read(artifactId, context);
        return true;
      } catch (err) {
        if (err instanceof ArtifactNotFoundError || err instanceof ArtifactExpiredError) return false;
        throw err;
      }
    });
  }

  /** The whole content (or that of an earlier `version`), checked against its sha256. */
  async retrieve(artifactId: string, context: AccessContext & AtVersion = NO_CONTEXT): Promise<Buffer> {
    const now = context.version === undefined ? this.artifacts.bytesNow(artifactId, context) : undefined;
    if (now) return now;
    return this.guard("retrieve", async () => {
      // The current version: record and bytes from one storage read where the layout allows.
      const opened =
        context.version === undefined
          ? (await this.artifacts.readOpen(artifactId, context)).body
          : await this.earlierBody(artifactId, context, validateVersion(context.version));
      const bytes = await collect(opened.stream);
      if (bytes.byteLength !== opened.totalBytes || sha256Hex(bytes) !== opened.sha256) {
        throw new ArtifactCorruptedError(`artifact ${artifactId} does not match its recorded sha256`);
      }
      return bytes;
    });
  }

  private async earlierBody(
    artifactId: string,
    context: AccessContext,
    version: number,
  ): Promise<OpenedBody> {
    const record = await this.artifacts.read(artifactId, context);
    return version === record.version ? this.artifacts.openBody(record) : this.versions.body(record, version);
  }

  /** Content as text (UTF-8 unless `encoding` says otherwise), or as bytes with `asText: false`. */
  async readFile(artifactId: string, options: AccessContext & AtVersion & { asText: false }): Promise<Buffer>;
  async readFile(
    artifactId: string,
    options?: AccessContext & AtVersion & { asText?: true; encoding?: BufferEncoding },
  ): Promise<string>;
  async readFile(
    artifactId: string,
    options: AccessContext & AtVersion & { asText?: boolean; encoding?: BufferEncoding } = {},
  ): Promise<string | Buffer> {
    const bytes = await this.retrieve(artifactId, options);
    return options.asText === false ? bytes : bytes.toString(options.encoding ?? "utf8");
  }

  /**
   * Opens the content as a stream (optionally a byte range) for servers. A full read is checked
   * against the recorded sha256 as it streams: a mismatch errors the stream at its end.
   */
  async openStream(
    artifactId: string,
    options: AccessContext & AtVersion & { range?: ByteRange | RangeChooser } = {},
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    return this.guard("open", async () => {
      if (options.range === undefined && options.version === undefined) {
        return this.artifacts.openVerifiedWhole(artifactId, options);
      }
      const record = await this.artifacts.read(artifactId, options);
      if (options.version !== undefined && options.version !== record.version) {
        return this.versions.open(record, validateVersion(options.version), options.range);
      }
      return this.artifacts.openVerified(record, options.range);
    });
  }

  // ---- versions and checkpoints ---------------------------------------------------------------

  /** The versions kept of an artifact, newest first (the current one included). */
  async listVersions(artifactId: string, context: AccessContext = {}): Promise<VersionInfo[]> {
    return this.guard("list versions", async () =>
      this.versions.list(await this.artifacts.read(artifactId, context)),
    );
  }

  /** Makes a new version with the content of `version` (history is kept); returns the new metadata. */
  async restoreVersion(
    artifactId: string,
    version: number,
    context: AccessContext = {},
  ): Promise<ArtifactMetadata> {
    return this.guard("restore version", async () => {
      const restored = await this.versions.restore(artifactId, validateVersion(version), context);
      return toMetadata(await this.committed(restored, "updated", context, "artifact.restored"));
    });
  }

  /** Records the current version of every artifact of a session. */
  async createCheckpoint(
    sessionId: string,
    options: { name?: string; userId?: string } = {},
  ): Promise<Checkpoint> {
    return this.guard("create checkpoint", () => this.checkpoints.create(sessionId, options));
  }

  /** A session's checkpoints, newest first. */
  async listCheckpoints(sessionId: string, options: { userId?: string } = {}): Promise<Checkpoint[]> {
    return this.guard("list checkpoints", () => this.checkpoints.list(sessionId, options));
  }

  /**
   * Brings every artifact of a checkpoint back to its recorded version (new versions, so history is
   * kept) and deletes the session's artifacts created after it.
   */
  async restoreCheckpoint(
    sessionId: string,
    checkpointId: string,
    options: { userId?: string } = {},
  ): Promise<CheckpointRestore> {
    return this.guard("restore checkpoint", async () => {
      const result = await this.checkpoints.restore(sessionId, checkpointId, options);
      for (const artifactId of result.restored)
        this.changed(
          { sandboxId: this.sandboxId, sessionId, artifactId },
          "updated",
          options,
          "artifact.restored",
        );
      for (const artifactId of result.deleted)
        this.changed({ sandboxId: this.sandboxId, sessionId, artifactId }, "deleted", options);
      return result;
    });
  }

  /** Artifacts of a session in key order. Without `limit` every page is read; with it, one page. */
  listBySession(
    sessionId: string,
    options: { limit?: number; cursor?: string | null; userId?: string } = {},
  ): Promise<ArtifactPage> {
    return this.guard("list", () => {
      validateSegment(sessionId, "sessionId");
      const listed = () => this.listUnder(sessionPrefix(this.sandboxId, sessionId), options);
      if (options.userId === undefined) return listed();
      validateSegment(options.userId, "userId");
      // Sessions unavailable and nothing in storage names an owner: the listing is empty anyway.
      return unlessSessionsUnavailable(this.sessions.info(sessionId, options.userId), null).then(listed);
    });
  }

  /** A user's own artifacts (scope "user"), from any of their sessions; pages like listBySession. */
  async listByUser(
    userId: string,
    options: { limit?: number; cursor?: string | null } = {},
  ): Promise<ArtifactPage> {
    return this.guard("list", () => this.listUnder(scopePrefix(this.sandboxId, "user", { userId }), options));
  }

  /** The sandbox's shared artifacts (scope "sandbox"), readable by every user; pages like listBySession. */
  async listShared(options: { limit?: number; cursor?: string | null } = {}): Promise<ArtifactPage> {
    return this.guard("list", () => this.listUnder(scopePrefix(this.sandboxId, "sandbox", {}), options));
  }

  private async listUnder(
    prefix: string,
    options: { limit?: number; cursor?: string | null },
  ): Promise<ArtifactPage> {
    const { storage } = this.openBackends ?? (await this.backends());
    const now = Date.now();
    // Records come as kept (see listAs): what is handed out is a copy, of the visible ones only.
    const shown = (r: ArtifactRecord) =>
      r.status === "ready" && !isExpired(r.expiresAt, now) ? copyMetadata(r) : null;
    if (options.limit === undefined) {
      let page = await storage.listAs(
        prefix,
        { limit: LIST_PAGE_MAX, cursor: options.cursor ?? null },
        shown,
      );
      const all = page.items;
      while (page.cursor !== null) {
        page = await storage.listAs(prefix, { limit: LIST_PAGE_MAX, cursor: page.cursor }, shown);
        for (const m of page.items) all.push(m);
      }
      return asPage(all, null);
    }
    const limit = options.limit;
    if (!Number.isInteger(limit) || limit < 1 || limit > LIST_PAGE_MAX) {
      throw new ValidationError(`limit must be a whole number from 1 to ${LIST_PAGE_MAX}`);
    }
    const page = await storage.listAs(prefix, { limit, cursor: options.cursor ?? null }, shown);
    return asPage(page.items, page.cursor);
  }

  /** Artifacts of a session whose filename starts with `directoryPrefix` (e.g. "docs/"). */
  async getDirectoryContents(
    sessionId: string,
    directoryPrefix = "",
    options: { userId?: string } = {},
  ): Promise<ArtifactMetadata[]> {
    if (typeof directoryPrefix !== "string") throw new ValidationError("directoryPrefix must be a string");
    const all = await this.listBySession(sessionId, options);
    return all.filter((m) => (m.filename ?? "").startsWith(directoryPrefix));
  }

  // ---- signed URLs ----------------------------------------------------------------------------

  /** A URL that downloads the artifact for `expires` seconds (default 3600). */
  async presign(
    artifactId: string,
    options: AccessContext & AtVersion & { expires?: number } = {},
  ): Promise<string> {
    return this.guard("presign", async () => {
      const expires = validateExpires(options.expires ?? PRESIGN_MEDIUM);
      const record =
        this.artifacts.readNow(artifactId, options) ?? (await this.artifacts.read(artifactId, options));
      const { storage } = this.openBackends ?? (await this.backends());
      const expiresAt = nowSeconds() + expires;
      let url: string;
      if (options.version !== undefined && options.version !== record.version) {
        const entry = await this.versions.entry(record, validateVersion(options.version));
        url =
          storage.capabilities.nativePresign && storage.presignGet
            ? await storage.presignGet(record.key, {
                expires,
                filename: record.filename,
                mime: entry.mime,
                sha256: entry.sha256,
                rev: storage.versionRevOf(entry),
              })
            : this.signer.sign({
                method: "GET",
                key: record.key,
                expires: expiresAt,
                version: entry.version,
              });
      } else {
        url =
          storage.capabilities.nativePresign && storage.presignGet
            ? await storage.presignGet(record.key, {
                expires,
                filename: record.filename,
                mime: record.mime,
                sha256: record.sha256,
                ...(record.storage && { rev: record.storage.rev }),
              })
            : this.signer.sign({ method: "GET", key: record.key, expires: expiresAt });
      }
      if (this.audit.listening) {
        const expiresIso = new Date(expiresAt * 1000).toISOString();
        this.audit.emit("artifact.presigned", record, { userId: options.userId, expiresAt: expiresIso });
      }
      return url;
    });
  }

  presignShort(artifactId: string, context: AccessContext = {}): Promise<string> {
    return this.presign(artifactId, { ...context, expires: PRESIGN_SHORT });
  }

  presignMedium(artifactId: string, context: AccessContext = {}): Promise<string> {
    return this.presign(artifactId, { ...context, expires: PRESIGN_MEDIUM });
  }

  presignLong(artifactId: string, context: AccessContext = {}): Promise<string> {
    return this.presign(artifactId, { ...context, expires: PRESIGN_LONG });
  }

  /**
   * Reserves an artifact id and returns a URL the client PUTs the bytes to. Afterwards call
   * `registerUploadedArtifact(artifactId, …)` to make it visible with its real size and sha256.
   */
  async presignUpload(options: PresignUploadOptions = {}): Promise<PresignedUpload> {
    return this.guard("presign upload", async () =>
      this.uploadIssued(await this.uploads.presign(options), options),
    );
  }

  /** Makes a presigned upload visible, recording the size and sha256 of what was actually uploaded. */
  async registerUploadedArtifact(
    artifactId: string,
    options: RegisterUploadOptions = {},
  ): Promise<ArtifactMetadata> {
    return this.guard("register upload", async () => {
      const registered = await this.uploads.register(artifactId, options);
      await this.committed(registered, "created", options, "upload.registered");
      this.uploadHooks.notify(registered);
      return registered;
    });
  }

  /**
   * For the HTTP handler: receives the body of a signed PUT into its pending slot. Refuses a slot
   * that is registered already or has received a body (the URL is single-use), and a body past the
   * signed limit.
   */
  async receiveSignedUpload(grant: SignedGrant, body: AsyncIterable<Uint8Array>): Promise<ArtifactMetadata> {
    return this.guard("upload", () => this.uploads.receive(grant, body));
  }

  /** For the HTTP handler: opens the body behind a verified signed GET. */
  async openSigned(
    key: string,
    range?: ByteRange | RangeChooser,
    version?: number | null,
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    return this.guard("open", async () => {
      const record = await this.signedRecord(key);
      if (version != null && version !== record.version) return this.versions.open(record, version, range);
      return this.artifacts.openVerified(record, range);
    });
  }

  /** For the HTTP handler: the metadata behind a verified signed GET (HEAD, conditional GET). */
  async signedMetadata(key: string, version?: number | null): Promise<ArtifactMetadata> {
    return this.guard("metadata", async () => {
      const record = await this.signedRecord(key);
      if (version != null && version !== record.version) {
        return this.versions.metadataAt(record, await this.versions.entry(record, version));
      }
      return toMetadata(record);
    });
  }

  /** The artifact a verified signed URL names: at exactly that key (its session or scope). */
  private async signedRecord(key: string): Promise<ArtifactRecord> {
    const parsed = this.artifacts.parseOwnKey(key);
    const record = await this.artifacts.read(parsed.artifactId, {});
    if (record.key !== key) throw new ArtifactNotFoundError("no such artifact");
    return record;
  }

  // ---- multipart uploads ----------------------------------------------------------------------

  /**
   * Starts a large upload in parts: S3-native on S3, spooled server-side (under a reserved area)
   * elsewhere. Get a URL per part with `presignUploadPart`, PUT each part, then
   * `completeMultipartUpload`; afterwards `registerUploadedArtifact` works as for a single PUT.
   */
  async createMultipartUpload(options: PresignUploadOptions = {}): Promise<MultipartUploadInfo> {
    return this.guard("create multipart upload", async () =>
      this.uploadIssued(await this.uploads.createMultipart(options), options),
    );
  }

  /** A URL the client PUTs part `partNumber` (1–10000) to; valid until the upload expires (at most `expires`). */
  async presignUploadPart(
    artifactId: string,
    uploadId: string,
    partNumber: number,
    options: AccessContext & { expires?: number } = {},
  ): Promise<{ url: string; expiresAt: string }> {
    return this.guard("presign upload part", () =>
      this.uploads.partUrl(artifactId, uploadId, partNumber, options),
    );
  }

  /** Joins the uploaded parts (in `partNumber` order, with the ETags the PUTs returned) into the artifact's body. */
  async completeMultipartUpload(
    artifactId: string,
    uploadId: string,
    parts: MultipartPart[],
    context: AccessContext = {},
  ): Promise<void> {
    return this.guard("complete multipart upload", () =>
      this.uploads.completeMultipart(artifactId, uploadId, parts, context),
    );
  }

  /** Abandons a multipart upload: its parts and its reserved artifact are removed. */
  async abortMultipartUpload(
    artifactId: string,
    uploadId: string,
    context: AccessContext = {},
  ): Promise<void> {
    return this.guard("abort multipart upload", () =>
      this.uploads.abortMultipart(artifactId, uploadId, context),
    );
  }

  /** For the HTTP handler: receives one part behind a verified signed part URL. */
  async receiveSignedPart(grant: SignedGrant, body: AsyncIterable<Uint8Array>): Promise<PartReceipt> {
    return this.guard("upload part", () => this.uploads.receivePart(grant, body));
  }

  // ---- search ---------------------------------------------------------------------------------

  /**
   * Finds artifacts of a session (`sessionId`) or of a user (`userId`: every session they own),
   * newest first: `mime` ("image/*"), `filename` glob ("reports/*.pdf"), `meta` values,
   * `storedAfter` / `storedBefore`, and `text` in filename, summary and meta values. With both ids,
   * the session must be the user's. Pages of `limit` (default 100) with `cursor`.
   */
  async search(query: SearchQuery, options: SearchOptions = {}): Promise<SearchPage> {
    return this.guard("search", () => this.finder.search(query, options));
  }

  /**
   * Builds the search index from storage now, where the first search would otherwise do it: with
   * the index in this process (memory sessions) over persistent storage, a new process's first
   * search reads every artifact of the sandbox. `serve` and `mcp` call this in the background as
   * they start, on filesystem storage.
   * Resolves true when it filled the index; false when there was nothing to fill, or when a delete
   * during the fill left some areas to be built at their first search.
   * With Redis sessions it turns the sandbox's index on, as its first search would, and resolves
   * (false) once every process indexes its writes: about 3 s the first time, at once after.
   */
  async warmSearchIndex(): Promise<boolean> {
    return this.guard("warm the search index", () => this.finder.warm());
  }

  /** The same search by listing storage, without the index (for comparison and benchmarks). */
  async searchByScan(query: SearchQuery, options: SearchOptions = {}): Promise<SearchPage> {
    return this.guard("search", () => this.finder.scan(query, options));
  }

  // ---- usage and quotas ----------------------------------------------------------------------

  /**
   * What a user (every session they own) or one session holds: `{ bytes, artifacts }`, pending
   * uploads counting their `maxBytes`. With `sessionId`, a `userId` given too must own it.
   */
  async getUsage(
    who: { userId: string; sessionId?: undefined } | { sessionId: string; userId?: string },
  ): Promise<Usage> {
    return this.guard("usage", async () => this.quotas.usage(await this.usageScope(who)));
  }

  /** Recounts a user's or session's usage from storage, replacing its counter. */
  async recountUsage(
    who: { userId: string; sessionId?: undefined } | { sessionId: string; userId?: string },
  ): Promise<Usage> {
    return this.guard("recount usage", async () => this.quotas.recount(await this.usageScope(who)));
  }

  /** The quotas in force (null: none). */
  get quotaLimits(): ResolvedConfig["quotas"] {
    return this.config.quotas;
  }

  // ---- operations -----------------------------------------------------------------------------

  /** Checks both providers with a real round trip. */
  async validateConfiguration(): Promise<{
    storage: { status: "ok" | "error"; provider: string; detail: string };
    session: { status: "ok" | "error"; provider: string; detail: string };
  }> {
    const check = async (provider: string, fn: () => Promise<{ ok: boolean; detail: string }>) => {
      try {
        const { ok, detail } = await fn();
        return { status: ok ? ("ok" as const) : ("error" as const), provider, detail };
      } catch (err) {
        return {
          status: "error" as const,
          provider,
          detail: err instanceof Error ? err.message : String(err),
        };
      }
    };
    let backends: Backends | null = null;
    let failure = "";
    try {
      backends = await this.backends();
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    const storage = await check(this.storageProviderName, async () =>
      backends ? backends.storage.health() : { ok: false, detail: failure },
    );
    const session = await check(this.sessionProviderName, async () =>
      backends ? backends.sessions.health() : { ok: false, detail: failure },
    );
    return { storage, session };
  }

  /** Configuration and provider facts (no secrets). */
  async getStats(): Promise<Record<string, unknown>> {
    return this.guard("stats", async () => {
      const { storage, sessions } = await this.backends();
      const storageFacts = storage.describe();
      return {
        storageProvider: this.storageProviderName,
        sessionProvider: this.sessionProviderName,
        sandboxId: this.sandboxId,
        bucket: (storageFacts.bucket as string | undefined) ?? null,
        defaultTtl: this.config.defaultTtl,
        sessionTtlHours: this.config.sessionTtlHours,
        capabilities: storage.capabilities,
        storage: storageFacts,
        sessions: sessions.describe(),
      };
    });
  }

  /**
   * Deletes expired artifacts, abandoned upload slots and every artifact of an expired session
   * (bytes and metadata), then the expired sessions. Returns how many artifacts were removed.
   */
  async cleanupExpiredSessions(): Promise<number> {
    return this.guard("cleanup", async () => {
      const { sessions } = await this.backends();
      const now = Date.now();
      const expiredSessions = new Set<string>();
      let cursor: string | null = null;
      do {
        const page = await sessions.list(this.sandboxId, { limit: LIST_PAGE_MAX, cursor });
        for (const s of page.sessions) if (isExpired(s.expiresAt, now)) expiredSessions.add(s.sessionId);
        cursor = page.cursor;
      } while (cursor !== null);

      const sessionCache = new Map<string, Promise<SessionRecord | null>>();
      const sessionOf = (id: string) => {
        let found = sessionCache.get(id);
        if (!found) {
          found = sessions.get(this.sandboxId, id);
          sessionCache.set(id, found);
        }
        return found;
      };
      const { storage } = await this.backends();
      let removedBytes = 0;
      const expired = async (r: ArtifactRecord): Promise<boolean> => {
        if (isExpired(r.expiresAt, now)) return true;
        if (r.status === "pending" && r.upload && isExpired(r.upload.expiresAt, now)) return true;
        // User and sandbox artifacts outlive every session: only their own ttl applies.
        if (r.scope !== "session") return false;
        if (expiredSessions.has(r.sessionId)) return true;
        const session = await sessionOf(r.sessionId);
        // The session store may have lost the session: fall back to the expiry recorded with the artifact.
        return session === null && isExpired(r.sessionExpiresAt, now);
      };
      const removed = await this.artifacts.removeUnder(
        `grid/${this.sandboxId}/`,
        async (r) => {
          if (await expired(r)) return true;
          // Retention of earlier versions (by count and age) applies to the artifacts that stay.
          if (r.kept) await storage.pruneVersions(r);
          return false;
        },
        (r) => {
          removedBytes += r.bytes;
          this.audit.emit("artifact.expired", r);
        },
      );
      for (const id of expiredSessions) await this.sessions.forget(id);
      await this.uploads.multipart.sweep(now);
      // Bodies of writes that crashed before their commit (src/revision-sweep.ts).
      await storage.sweepOrphanRevisions(`grid/${this.sandboxId}/`, this.config.orphanGraceSeconds * 1000);
      this.audit.emit("cleanup.completed", null, { count: removed, bytes: removedBytes });
      return removed;
    });
  }

  parseGridKey(key: string): ParsedGridKey | null {
    return parseGridKey(key);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.events.close();
    this.audit.close();
    const pending = this.backendsPromise;
    this.backendsPromise = null;
    this.openBackends = null;
    if (!pending) return;
    const { storage, sessions } = await pending;
    await Promise.allSettled([storage.close(), sessions.close()]);
  }

  /** A visible write: indexed for search, then announced. */
  private async committed<T extends ArtifactMetadata>(
    artifact: T,
    kind: ArtifactChangeKind,
    context: AccessContext,
    type?: AuditEventType,
  ): Promise<T> {
    // The index write and the cache write of the commit, in one round trip.
    await Promise.all([this.finder.indexed(artifact), this.artifacts.settled(artifact.artifactId)]);
    return this.changed(artifact, kind, context, type);
  }

  /**
   * The one notify hook: every visible write of the public API announces itself here, to change
   * subscribers and to the audit trail (as `type`, by default the change's own audit type).
   */
  private changed<T extends AuditSubject & Pick<ArtifactRecord, "sandboxId" | "artifactId">>(
    artifact: T,
    kind: ArtifactChangeKind,
    context: AccessContext,
    type: AuditEventType = CHANGE_AUDIT_TYPES[kind],
  ): T {
    const { sandboxId, sessionId, artifactId } = artifact;
    this.events.publish({ sandboxId, sessionId, artifactId, kind });
    this.audit.emit(type, artifact, { userId: context.userId });
    return artifact;
  }

  /** Audits an issued upload slot (single PUT or multipart); the URLs themselves are never logged. */
  private uploadIssued<T extends { key: string; artifactId: string; expiresAt: string }>(
    issued: T,
    context: AccessContext,
  ): T {
    const sessionId = parseGridKey(issued.key)?.sessionId ?? null;
    if (sessionId !== null) {
      this.audit.emit(
        "upload.presigned",
        { sessionId, artifactId: issued.artifactId },
        { userId: context.userId, expiresAt: issued.expiresAt },
      );
    }
    return issued;
  }

  /** Audits a refusal (access denied, quota exceeded) once, however many layers it passes. */
  private refused(operation: string, err: unknown): void {
    if (!(err instanceof ArtifactStoreError) || reported.has(err)) return;
    const type: AuditEventType | null =
      err instanceof AccessDeniedError
        ? "access.denied"
        : (err.code as string) === "QUOTA_EXCEEDED"
          ? "quota.exceeded"
          : null;
    if (type === null) return;
    reported.add(err);
    this.audit.emit(type, err instanceof AccessDeniedError ? err.subject : null, {
      operation,
      code: err.code,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  private async usageScope(who: { userId?: string; sessionId?: string | undefined }): Promise<UsageScope> {
    if (typeof who !== "object" || who === null)
      throw new ValidationError("give { userId } or { sessionId }");
    if (who.sessionId !== undefined) {
      validateSegment(who.sessionId, "sessionId");
      if (who.userId !== undefined)
        await this.sessions.info(who.sessionId, validateSegment(who.userId, "userId"));
      return { kind: "session", id: who.sessionId };
    }
    if (who.userId === undefined) throw new ValidationError("give { userId } or { sessionId }");
    return { kind: "user", id: validateSegment(who.userId, "userId") };
  }

  /** New content for an artifact, within its quotas: only the growth over the old content counts. */
  private async replaceContent(
    artifactId: string,
    context: AccessContext,
    build: (current: ArtifactRecord) => ArtifactRecord,
    data: ArtifactData,
  ): Promise<ArtifactRecord> {
    if (!this.quotas.enabled)
      return this.artifacts.replaceContent(artifactId, context, build, toChunks(data));
    const current = await this.artifacts.read(artifactId, context);
    return this.quotas.write(current, knownSize(data), current.bytes, toChunks(data), (body) =>
      this.artifacts.replaceContent(artifactId, context, build, body),
    );
  }

  /** Runs `fn`, turning anything that is not already typed into a ProviderError. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      this.refused(what, err);
      throw asProviderError(err, what);
    }
  }
}

/** How long opening the providers waits for the indexed-from-empty check (Search.checkEmpty). */
const EMPTY_CHECK_WAIT_MS = 1000;

/** The context of a call that gives none, shared: a default `{}` is a new object on every read. */
const NO_CONTEXT: AccessContext & AtVersion = Object.freeze({});

/** Settles when `work` does or after `ms`, whichever is first (`work` goes on; it never rejects). */
function withinMs(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([work, waited]).finally(() => clearTimeout(timer));
}

const CHANGE_AUDIT_TYPES: Record<ArtifactChangeKind, AuditEventType> = {
  created: "artifact.stored",
  updated: "artifact.updated",
  deleted: "artifact.deleted",
};

/** Refusals already audited, so an error rethrown through nested calls is one event. */
const reported = new WeakSet<Error>();

function asPage(items: ArtifactMetadata[], cursor: string | null): ArtifactPage {
  // A plain property store: Object.assign onto an array costs about 0.2 µs more.
  const page = items as ArtifactPage;
  page.cursor = cursor;
  return page;
}
