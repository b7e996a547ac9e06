import { z } from "zod";
import { BodyTooLargeError, chunksOf, Measured } from "./body.js";
import { mapLimit } from "./concurrency.js";
import { ArtifactNotFoundError, ConflictError, ValidationError } from "./errors.js";
import { GRID_ROOT, isSegment, parseGridKey, validateSegment } from "./grid.js";
import type { IdLocator } from "./id-locator.js";
import { type ArtifactRecord, copyRecord, newEtag, recordWith, type StorageVersion } from "./metadata.js";
import { randomHex } from "./random.js";
import {
  decodeHeadMeta,
  decodeRecordBody,
  encodeHeadMeta,
  encodeRecordBody,
  isVersionRev,
  parsedSlotOf,
  revKey,
  sharedHead,
  slotHead,
  slotMeta,
} from "./record-codec.js";
import { sweepOrphanRevisions } from "./revision-sweep.js";
import { DELETED } from "./sessions/provider.js";
import {
  type ObjectBody,
  type ObjectHead,
  type PutObjectOptions,
  releaseBody,
  type StorageDriver,
  type WriteCondition,
} from "./storage/driver.js";
import { decodeCursor, encodeCursor } from "./storage/paging.js";
import type {
  ByteRange,
  ListPage,
  MultipartUpload,
  OpenedBody,
  PresignGetOptions,
  PresignPutOptions,
  PutOptions,
  RecordView,
  StorageCapabilities,
  StorageProvider,
  StoredSession,
} from "./storage/provider.js";
import {
  type RetentionPolicy,
  type VersionEntry,
  type VersionInfo,
  VersionLog,
  versionKey,
  versionRev,
} from "./versions.js";

/** What a head read says: its storage version, and the record's version number when in meta. */
interface HeadState extends StorageVersion {
  version: number | null;
  kept: boolean;
}

/**
 * Artifacts over any storage driver: the one place that knows how a record sits with its bytes.
 *
 * - Every artifact has a head object at its grid key. When the body is small enough for the driver
 *   to take in one write together with the record (`inlineBodyBytes`, and the record fits its
 *   `inlineMetaBytes`), the head object *is* the artifact: its bytes and, as its meta, the record
 *   with their sha256. One write, atomic for bytes and record; one read returns both.
 * - A larger body streams to an immutable revision object `{key}~{rev}` first; then the head object
 *   (the record, naming the revision) is written. That write is the commit point: a crash before it
 *   leaves an unreferenced revision and the previous artifact intact.
 * - Every write of an existing artifact is conditional on the head's etag as last read, so a
 *   delete always wins: an update racing a delete fails (ArtifactNotFoundError) rather than bring
 *   the artifact back. A content write that loses to another content write retries on the newer
 *   head (last writer wins); a metadata write that loses is a ConflictError (the store re-reads).
 * - The id → key index is the locator's (src/id-locator.ts), written while the bytes go up.
 *
 * Reads never see bytes that do not match their sha256: the record and the bytes it describes are
 * either one object or a record naming an immutable revision.
 */

const UPLOADS = "_uploads";
const LIST_PAGE_MAX = 1000;
const LIST_CONCURRENCY = 32;
/** A head whose body is the record (a record too large for meta) is never larger than this. */
const RECORD_BODY_MAX = 1024 * 1024;
/** Content writes that lose to a concurrent content write are retried this often. */
const CONTENT_RETRIES = 5;
/** Stands for a head's meta text until headOptions hands the driver a function making it (MetaSource). */
const FROM_SLOT = Symbol("meta made from the slot");
type HeadMeta = string | typeof FROM_SLOT;

export class RecordStore implements StorageProvider {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  private readonly background = new Set<Promise<unknown>>();
  /** The driver keeps slots and takes meta of any size: head meta is made only if it is read. */
  private readonly metaFromSlot: boolean;
  /** Earlier versions of every artifact (src/versions.ts). */
  readonly versions: VersionLog;

  constructor(
    private readonly driver: StorageDriver,
    private readonly locator: IdLocator,
    // The store passes its own (keepVersions defaults to 10 there); the bare record layer keeps none.
    retention: RetentionPolicy = { keepVersions: 0, keepVersionsDays: null },
  ) {
    this.versions = new VersionLog(driver, retention);
    this.name = driver.name;
    const c = driver.capabilities;
    this.metaFromSlot = c.parsedSlots === true && c.inlineMetaBytes === Number.POSITIVE_INFINITY;
    this.capabilities = {
      persistent: c.persistent,
      shared: c.shared,
      nativePresign: c.nativePresign,
      nativeMultipart: c.nativeMultipart,
    };
  }

  // ---- writing --------------------------------------------------------------------------------

  async put(
    record: ArtifactRecord,
    body: AsyncIterable<Uint8Array>,
    options: PutOptions = {},
  ): Promise<ArtifactRecord> {
    const key = record.key;
    const measured = new Measured(body, options.maxBytes ?? null);
    // A record read from storage carries the version it was read at: the write is conditional on
    // it, so it never lands on an artifact deleted meanwhile. A record without one (a new key, or
    // a caller's own) replaces whatever is there now, or creates it.
    let condition: WriteCondition = createCondition(options.fresh);
    let replaced: string | null = null;
    const state = options.fresh || record.storage ? null : await this.version(key);
    const current = options.fresh ? null : (record.storage ?? state);
    const readVersion = current ? (state?.version ?? record.version ?? 1) : 0;
    if (current) {
      condition = { ifMatch: current.etag };
      replaced = current.rev;
    } else if (record.storage) {
      throw new ArtifactNotFoundError(`artifact ${record.artifactId} no longer exists`);
    }
    if (current && this.versions.enabled && record.status === "ready" && record.sha256 !== "") {
      return this.putVersioned(record, measured, current, readVersion, options);
    }
    // A new artifact's index entry is written while its bytes go up.
    const indexed = current ? null : this.locator.add(record.sandboxId, record.artifactId, key);
    indexed?.catch(() => {});
    const stamp = (version: number) => withContent(record, measured.bytes, measured.sha256, version, false);
    try {
      const head = await readUpTo(measured, this.driver.capabilities.inlineBodyBytes);
      // The first attempt's record and meta, encoded once for the size check and the write.
      const first = head.ended ? stamp(readVersion + 1) : null;
      const firstMeta = first && this.headMeta(first, null);
      if (first && firstMeta && this.fits(firstMeta)) {
        const written = await this.withRetries(
          record,
          condition,
          replaced,
          readVersion,
          options.exact,
          async (cond, n) => {
            const committed = n === readVersion + 1 ? first : stamp(n);
            const meta = committed === first ? firstMeta : this.headMeta(committed, null);
            const put = await this.driver.put(
              key,
              chunksOf(head.chunks),
              this.headOptions(meta, cond, committed, null, record.mime),
            );
            return { etag: put.etag, committed };
          },
        );
        return this.finishWrite(written, null, indexed);
      }
      // The revision layout: bytes first, then the head that names them.
      const rev = newRev();
      await this.driver.put(revKey(key, rev), concat(head.chunks, head.rest), {
        meta: "",
        contentType: record.mime,
        ifNoneMatch: true,
      });
      try {
        const written = await this.withRetries(
          record,
          condition,
          replaced,
          readVersion,
          options.exact,
          async (cond, n) => {
            const committed = stamp(n);
            return { etag: await this.writeHead(committed, rev, cond), committed };
          },
        );
        return this.finishWrite(written, rev, indexed);
      } catch (err) {
        await this.driver.delete(revKey(key, rev)).catch(() => {});
        throw err;
      }
    } catch (err) {
      if (indexed) {
        await indexed.catch(() => {});
        await this.locator.remove(record.sandboxId, record.artifactId);
      }
      throw err;
    }
  }

  /**
   * New bytes for an artifact whose earlier versions are kept (src/versions.ts explains the
   * design): the version read is kept first if it is not yet, a number is claimed by creating its
   * version object, then the head moves to it. Returns the record written; without `storage` when a
   * newer version became current meanwhile (this one is kept, not current).
   */
  private async putVersioned(
    record: ArtifactRecord,
    measured: Measured,
    current: StorageVersion,
    readVersion: number,
    options: PutOptions,
  ): Promise<ArtifactRecord> {
    const key = record.key;
    await this.keepPrevious(record, current, readVersion, options.previous);
    const head = await readUpTo(measured, this.driver.capabilities.inlineBodyBytes);
    let rev: string | null = null;
    if (!head.ended) {
      rev = newRev();
      await this.driver.put(revKey(key, rev), concat(head.chunks, head.rest), {
        meta: "",
        contentType: record.mime,
        ifNoneMatch: true,
      });
    }
    const claimed = await this.versions.claimNext(
      key,
      {
        version: readVersion + 1,
        bytes: measured.bytes,
        sha256: measured.sha256,
        storedAt: new Date().toISOString(),
        etag: "",
        mime: record.mime,
        rev,
      },
      rev ? null : head.chunks,
    );
    return this.moveHead(record, claimed, rev ? null : head.chunks, current, options);
  }

  /**
   * Makes a kept version whose body is in a revision current again without copying it: a new
   * version naming that same revision (src/versions.ts, "Restores share bodies"). `record` is the
   * new record built on the head as read (its `storage`); ArtifactNotFoundError when the version
   * was dropped meanwhile.
   */
  async restoreShared(
    record: ArtifactRecord,
    entry: VersionEntry,
    options: { previous?: ArtifactRecord; exact?: boolean } = {},
  ): Promise<ArtifactRecord> {
    const key = record.key;
    const current = record.storage;
    const rev = entry.rev;
    if (!current || !rev || !this.versions.enabled) {
      throw new ValidationError("only a kept version held in a revision is restored by reference");
    }
    const readVersion = record.version ?? 1;
    await this.keepPrevious(record, current, readVersion, options.previous);
    await this.versions.share(key, rev);
    const claimed = await this.versions.claimNext(
      key,
      { ...entry, version: readVersion + 1, storedAt: new Date().toISOString(), etag: "" },
      null,
    );
    // The name just made stands only if the one it was made from still does.
    const source = await this.versions.entry(key, entry.version);
    if (source?.rev !== rev) {
      await this.forgetClaim(key, claimed);
      throw new ArtifactNotFoundError(`version ${entry.version} of ${record.artifactId} is no longer kept`);
    }
    return this.moveHead({ ...record, mime: entry.mime }, claimed, null, current, options);
  }

  /** Keeps the version read in the log if it is not yet; ConflictError (or not found) if it moved. */
  private async keepPrevious(
    record: ArtifactRecord,
    current: StorageVersion,
    readVersion: number,
    given: ArtifactRecord | undefined,
  ): Promise<void> {
    const key = record.key;
    const previous = given ?? (await this.getRecord(key));
    if (previous?.storage && previous.storage.etag === current.etag) {
      if (previous.kept) return;
      const entry = entryOf(previous, current.rev, readVersion);
      const kept = await this.versions.keepHead(key, entry, current.etag, (from, to, expect, meta) =>
        this.copyExact(from, to, expect, { meta, contentType: previous.mime }),
      );
      if (kept) return;
    }
    // Gone rather than changed: a delete wins, as for an unversioned write.
    if (!(await this.version(key))) {
      throw new ArtifactNotFoundError(`artifact ${record.artifactId} was deleted meanwhile`);
    }
    throw new ConflictError(`artifact ${record.artifactId} changed while it was being updated; retry`);
  }

  /** Removes a claimed version that will not stand, and its revision unless something else names it. */
  private async forgetClaim(key: string, claimed: VersionEntry): Promise<void> {
    await this.driver.delete(versionKey(key, claimed.version)).catch(() => {});
    if (claimed.rev) await this.versions.release(key, claimed.rev).catch(() => {});
  }

  /**
   * Moves the head to a claimed version, conditional on the head read (`current`), retrying on a
   * newer head. A small body (`inline`) is written again as the head, so reading the current version
   * stays one GET; a large one (or one whose record outgrew meta) is named: its revision, or its
   * version object.
   */
  private async moveHead(
    record: ArtifactRecord,
    claimed: VersionEntry,
    inline: Uint8Array[] | null,
    current: StorageVersion,
    options: { exact?: boolean },
  ): Promise<ArtifactRecord> {
    const key = record.key;
    const rev = claimed.rev;
    const committed = withContent(record, claimed.bytes, claimed.sha256, claimed.version, true);
    let condition: WriteCondition = { ifMatch: current.etag };
    for (let attempt = 1; ; attempt++) {
      try {
        const meta = inline ? this.headMeta(committed, null) : null;
        let etag: string;
        let headRev: string | null = rev;
        if (inline && meta && this.fits(meta)) {
          const put = await this.driver.put(
            key,
            chunksOf(inline),
            this.headOptions(meta, condition, committed, null, record.mime),
          );
          etag = put.etag;
        } else {
          headRev = rev ?? versionRev(claimed.version);
          etag = await this.writeHead(committed, headRev, condition);
        }
        await this.undoIfDeleted(committed);
        this.inBackground(this.versions.dropOutgrown(key, claimed.version, headRev, committed));
        return recordWith(committed, { etag, rev: headRev });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const now = await this.version(key);
        if (!now) {
          await this.forgetClaim(key, claimed);
          throw new ArtifactNotFoundError(`artifact ${record.artifactId} was deleted meanwhile`);
        }
        if (options.exact) {
          await this.forgetClaim(key, claimed);
          throw err;
        }
        // A newer version is current already: this one stays in the log, acknowledged.
        if ((now.version ?? 0) >= claimed.version) return recordWith(committed, undefined);
        if (attempt >= CONTENT_RETRIES * 4) throw err;
        condition = { ifMatch: now.etag };
      }
    }
  }

  /** A metadata-only write over the same bytes, or a new bodiless record (an upload slot). */
  async putRecord(given: ArtifactRecord, options: { fresh?: boolean } = {}): Promise<ArtifactRecord> {
    const record = recordWith(given, given.storage);
    record.version = given.version ?? 1;
    record.etag = newEtag(record.version);
    const key = record.key;
    const current = options.fresh ? null : (record.storage ?? (await this.version(key)));
    if (!current) {
      const meta = this.headMeta(record, null);
      if (!this.fits(meta)) throw new ValidationError("the record is too large for this storage");
      await this.locator.add(record.sandboxId, record.artifactId, key);
      const written = await this.driver.put(
        key,
        chunksOf([]),
        this.headOptions(meta, createCondition(options.fresh), record, null, record.mime),
      );
      return recordWith(record, { etag: written.etag, rev: null });
    }
    if (!record.storage) {
      // Built without reading the head: it must still describe the bytes that are there.
      const there = await this.getRecord(key);
      if (there && there.status === "ready" && record.status === "ready" && there.sha256 !== record.sha256) {
        throw new ConflictError(
          `artifact ${record.artifactId} changed while its metadata was being updated; retry`,
        );
      }
    }
    const version = await this.rewriteHead(record, current);
    await this.undoIfDeleted(record);
    return recordWith(record, version);
  }

  async copy(sourceKey: string, record: ArtifactRecord): Promise<ArtifactRecord> {
    for (let attempt = 0; attempt < CONTENT_RETRIES; attempt++) {
      const source = await this.getRecord(sourceKey);
      if (!source?.storage || source.sha256 === "")
        throw new ArtifactNotFoundError(`no body at ${sourceKey}`);
      const committed = withContent(record, source.bytes, source.sha256, 1, false);
      await this.locator.add(record.sandboxId, record.artifactId, record.key);
      const from = source.storage.rev ? revKey(sourceKey, source.storage.rev) : sourceKey;
      const meta = encodeHeadMeta(committed, null);
      // An inline source may be replaced while it is copied: the copy must be of the bytes read.
      const expect = source.storage.rev ? undefined : source.storage.etag;
      if (!source.storage.rev && this.fits(meta)) {
        const etag = await this.copyExact(from, record.key, expect, { meta, contentType: record.mime });
        if (etag === null) continue; // replaced or removed meanwhile: read the source again
        return recordWith(committed, { etag, rev: null });
      }
      const rev = newRev();
      const copied = await this.copyExact(from, revKey(record.key, rev), expect, {
        meta: "",
        contentType: record.mime,
      });
      if (copied === null) continue;
      const etag = await this.writeHead(committed, rev, { ifNoneMatch: true });
      return recordWith(committed, { etag, rev });
    }
    throw new ConflictError("the source kept changing during the copy");
  }

  /**
   * Commits a presigned upload. Native uploads land on a staging object: it is measured (size,
   * sha256, limit) and copied server-side into place. Uploads through this package's handler are
   * already in the slot (put() with the pending record): only the record changes.
   */
  async adoptUpload(
    record: ArtifactRecord,
    options: { maxBytes: number | null },
  ): Promise<ArtifactRecord | null> {
    const key = record.key;
    if (this.driver.presignPut) {
      const staged = await this.driver.get(stagingKey(key));
      if (staged) return this.adoptStaged(record, staged, options.maxBytes);
    }
    const current = await this.getRecord(key);
    if (!current?.storage || current.sha256 === "") return null;
    if (options.maxBytes !== null && current.bytes > options.maxBytes) {
      await this.delete(key);
      throw new BodyTooLargeError(`upload is larger than the limit of ${options.maxBytes} bytes`);
    }
    const committed = {
      ...record,
      bytes: current.bytes,
      sha256: current.sha256,
      storage: current.storage,
      version: 1,
      etag: newEtag(1),
    };
    const version = await this.rewriteHead(committed, current.storage);
    await this.undoIfDeleted(committed);
    return { ...committed, storage: version };
  }

  /**
   * Deletes the artifact and everything kept beside it. With `ifMatch` (the head's storage etag as
   * read), only while the head is still that one: ConflictError otherwise, and then nothing is
   * deleted — checked atomically by the driver where it can; on storage that cannot (RGW) by a
   * pending deletion mark that a write landing meanwhile cancels (see SessionProvider).
   */
  async delete(key: string, options: { ifMatch?: string } = {}): Promise<boolean> {
    const parsed = parseGridKey(key);
    if (!parsed) return false;
    const { ifMatch } = options;
    // Read first: whatever happens during this delete (a racing update undoing itself included),
    // an artifact that was there when it began was deleted by it.
    const current = await this.version(key);
    if (ifMatch !== undefined && current?.etag !== ifMatch) {
      throw new ConflictError(`the artifact at ${key} changed or was deleted; nothing was deleted`);
    }
    if (!this.driver.capabilities.atomicConditionalWrites) {
      if (ifMatch === undefined) await this.locator.markDeleted(parsed.sandboxId, parsed.artifactId);
      else await this.markConditionalDelete(key, ifMatch);
    }
    // The head is the artifact: once it is gone, so is the artifact, whatever fails after.
    if (ifMatch !== undefined && this.driver.capabilities.atomicConditionalWrites) {
      await this.driver.delete(key, { ifMatch });
    } else {
      await this.driver.delete(key);
    }
    await this.locator.remove(parsed.sandboxId, parsed.artifactId);
    const leftovers: Promise<unknown>[] = [];
    if (current?.rev && !isVersionRev(current.rev))
      leftovers.push(this.driver.delete(revKey(key, current.rev)));
    // Earlier versions go with the artifact (a record too large for meta does not say: look).
    if (
      current &&
      (current.kept || current.version === null || (this.versions.enabled && current.version > 1))
    ) {
      leftovers.push(this.versions.removeAll(key));
    }
    if (this.driver.presignPut) leftovers.push(this.driver.delete(stagingKey(key)));
    await Promise.allSettled(leftovers);
    // S3 cannot say whether a delete removed anything; the head read before it can.
    return current !== null;
  }

  /**
   * A conditional delete on storage without atomic conditional deletes: marks the id pending, checks
   * the head is still `ifMatch`, and turns the mark into a deletion mark — unless a write that landed
   * meanwhile cancelled it (undoIfDeleted), which makes this a ConflictError. Either the write stands
   * and the delete fails, or the delete stands and the write undoes itself.
   */
  private async markConditionalDelete(key: string, ifMatch: string): Promise<void> {
    const { sandboxId, artifactId } = parseGridKey(key)!;
    const token = randomHex(16);
    if (!(await this.locator.markDeletePending(sandboxId, artifactId, token))) {
      throw new ConflictError(`another delete of artifact ${artifactId} is under way; nothing was deleted`);
    }
    const now = await this.version(key).catch(() => null);
    if (now?.etag === ifMatch && (await this.locator.settleDeleteMark(sandboxId, artifactId, token, true)))
      return;
    await this.locator.settleDeleteMark(sandboxId, artifactId, token, false);
    throw new ConflictError(`artifact ${artifactId} changed while it was being deleted; nothing was deleted`);
  }

  // ---- reading --------------------------------------------------------------------------------

  async getRecord(key: string): Promise<ArtifactRecord | null> {
    if (!parseGridKey(key)) return null;
    const head = this.driver.headNow ? this.driver.headNow(key) : await this.driver.head(key);
    const inHead = recordOfHead(head, key);
    if (inHead !== undefined) return inHead;
    // The record is the head's body; read it together with the meta of that same object.
    const got = await this.driver.get(key);
    if (!got) return null;
    return recordOfBody(got, key);
  }

  viewNow(key: string): RecordView | null | undefined {
    if (!this.driver.headNow) return undefined;
    // Unlike getRecord, no parseGridKey here: callers pass keys the record layer built or located,
    // and on a busy store a parse per read (a memo miss past 16,384 keys) was a third of its cost.
    // Any other key finds nothing: objects that are not heads carry no record in their meta.
    const head = this.driver.headNow(key);
    if (!head) return null;
    if (!head.parsed) return undefined;
    const made = madeView(head);
    if (made) return made;
    const slot = head.parsed;
    const kept = slotHead(head, slot, key);
    if (!kept) return null;
    if (!kept.record) return undefined;
    const view: RecordView = { record: kept.record, storage: { etag: head.etag, rev: kept.rev } };
    slot.view = view;
    return view;
  }

  /**
   * The record and the full body of the artifact at `key` from one read where the layout allows
   * (an inline artifact: its head object carries both), else the head then its revision.
   */
  async openArtifact(key: string): Promise<{ record: ArtifactRecord; body: OpenedBody } | null> {
    if (!parseGridKey(key)) return null;
    for (let attempt = 0; attempt < CONTENT_RETRIES; attempt++) {
      const got = await this.driver.get(key);
      if (!got) return null;
      const decoded = decodeHeadMeta(got, key);
      if (decoded?.record && !decoded.rev) {
        return {
          record: withVersion(decoded.record, got.etag, null),
          body: opened(got, decoded.record.sha256),
        };
      }
      const record = await recordOfBody(got, key);
      if (!record) return null;
      if (!record.storage?.rev) return { record, body: emptyBody(record.sha256) };
      const body = await this.driver.get(revKey(key, record.storage.rev));
      if (body) return { record, body: opened(body, record.sha256) };
      // Replaced (and that revision removed) between the two reads: read the new head.
    }
    return null;
  }

  async openBody(
    key: string,
    range?: ByteRange,
    expected?: { sha256: string; rev?: string | null },
  ): Promise<OpenedBody | null> {
    if (!parseGridKey(key)) return null;
    if (expected?.rev) {
      // An immutable revision named by the caller's record: its bytes are exactly that sha256.
      const got = await this.driver.get(revKey(key, expected.rev), range);
      if (got) return opened(got, expected.sha256, range);
    }
    for (let attempt = 0; attempt < CONTENT_RETRIES; attempt++) {
      // A range of the head is only the artifact's bytes in the inline layout: learn the layout
      // first. A full read learns it from the same GET that returns the bytes.
      if (range) {
        const record = await this.getRecord(key);
        if (!record?.storage || record.sha256 === "") return null;
        const got = await this.driver.get(record.storage.rev ? revKey(key, record.storage.rev) : key, range);
        if (!got) continue; // replaced and removed since the head was read
        if (!record.storage.rev && got.etag !== record.storage.etag) {
          releaseBody(got); // replaced between the two reads: its bytes may not match that sha256
          continue;
        }
        return opened(got, record.sha256, range);
      }
      const got = await this.driver.get(key);
      if (!got) return null;
      const decoded = decodeHeadMeta(got, key);
      if (decoded && !decoded.rev) {
        const sha256 = decoded.record?.sha256 ?? "";
        if (sha256 !== "") return opened(got, sha256);
      }
      if (!decoded?.rev) {
        releaseBody(got);
        return null;
      }
      const record = await recordOfBody(got, key);
      if (!record?.storage?.rev || record.sha256 === "") return null;
      const body = await this.driver.get(revKey(key, record.storage.rev));
      if (body) return opened(body, record.sha256);
    }
    return null;
  }

  async list(prefix: string, options: { limit: number; cursor?: string | null }): Promise<ListPage> {
    const page = await this.listAs(prefix, options, copyRecord);
    return { records: page.items, cursor: page.cursor };
  }

  /**
   * list() handing each record to `view` as it is read, with where it is stored: the record may
   * be the one a driver keeps (memory), so `view` must neither keep nor change it, only make what it
   * returns from it (null: left out of the page, still counted toward `limit`).
   */
  listAs<T>(
    prefix: string,
    options: { limit: number; cursor?: string | null },
    view: ListView<T>,
  ): Promise<{ items: T[]; cursor: string | null }> {
    // Not async itself: one promise less per page (a tenth of a 20-artifact memory listing).
    try {
      checkListPrefix(prefix);
      let after: string | null = null;
      if (options.cursor) {
        const last = decodeCursor(options.cursor);
        if (!last.startsWith(prefix) || !parseGridKey(last)) throw new ValidationError("invalid list cursor");
        after = last;
      }
      return this.driver.listNow && this.driver.headNow
        ? this.listInTurn(prefix, after, options.limit, view)
        : this.listWithReads(prefix, after, options.limit, view);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A listing from a driver that lists and reads heads as I/O: keys first, then their heads. */
  private async listWithReads<T>(
    prefix: string,
    after: string | null,
    limit: number,
    view: ListView<T>,
  ): Promise<{ items: T[]; cursor: string | null }> {
    const sessionLevel = prefix.split("/").length === 4;
    const keys: string[] = [];
    let more = true;
    while (more && keys.length < limit) {
      const page = await this.listKeys(prefix, {
        limit: Math.min(LIST_PAGE_MAX, limit - keys.length + 1),
        after,
      });
      for (const key of page.keys) {
        if (keys.length < limit && isHeadUnder(prefix, key, sessionLevel)) keys.push(key);
      }
      more = page.more || keys.length >= limit;
      after = page.keys[page.keys.length - 1] ?? after;
      if (page.keys.length === 0) more = false;
    }
    const records = await this.recordsAt(keys);
    const last = keys[keys.length - 1];
    let hasMore = more;
    if (hasMore && last !== undefined) {
      // The driver said there is more: check it is an artifact, not only revisions or reserved keys.
      hasMore = await this.anyAfter(prefix, last);
    }
    const items: T[] = [];
    for (const r of records) {
      const item = r && view(r, r.storage!);
      if (item !== null) items.push(item);
    }
    return { items, cursor: hasMore && last !== undefined ? encodeCursor(last) : null };
  }

  /**
   * A listing from a driver that answers in the same turn (memory): each head is read where it is
   * kept, without a copy, and a key counts when its head holds an artifact's record under that very
   * key (a revision, a version object or a foreign object does not). One head past `limit` tells
   * whether there is more.
   */
  private async listInTurn<T>(
    prefix: string,
    after: string | null,
    limit: number,
    view: ListView<T>,
  ): Promise<{ items: T[]; cursor: string | null }> {
    const driver = this.driver as Required<Pick<StorageDriver, "listNow" | "headNow">>;
    const items: T[] = [];
    let counted = 0;
    let last: string | null = null;
    for (;;) {
      const page = driver.listNow(prefix, { limit: Math.min(LIST_PAGE_MAX, limit - counted + 1), after });
      for (const key of page.keys) {
        const head = driver.headNow(key);
        const decoded = head && sharedHead(head, key);
        if (!decoded) continue;
        let record = decoded.record;
        let storage: StorageVersion = { etag: head!.etag, rev: decoded.rev };
        if (!record) {
          // A record too large for meta is the head's body: read as getRecord does (a head's key only).
          if (!parseGridKey(key)) continue;
          const read = await this.getRecord(key);
          if (!read?.storage) continue;
          record = read;
          storage = read.storage;
        }
        if (record.key !== key) continue;
        if (counted === limit) return { items, cursor: encodeCursor(last!) };
        counted++;
        last = key;
        const item = view(record, storage);
        if (item !== null) items.push(item);
      }
      if (!page.more || page.keys.length === 0) return { items, cursor: null };
      after = page.keys[page.keys.length - 1]!;
    }
  }

  locate(sandboxId: string, artifactId: string): Promise<string | null> {
    return this.locator.locate(sandboxId, artifactId);
  }

  /** The driver's listing: in the same turn where it can (a promise per page is most of a small list's cost). */
  private listKeys(
    prefix: string,
    range: { limit: number; after: string | null },
  ): { keys: string[]; more: boolean } | Promise<{ keys: string[]; more: boolean }> {
    return this.driver.listNow ? this.driver.listNow(prefix, range) : this.driver.list(prefix, range);
  }

  /** getRecord of each key, in order: heads read together where the driver can, else a few at a time. */
  private async recordsAt(keys: string[]): Promise<(ArtifactRecord | null)[]> {
    const driver = this.driver;
    if (!driver.headMany) return mapLimit(keys, LIST_CONCURRENCY, (key) => this.getRecord(key));
    const heads = await driver.headMany(keys);
    const records: (ArtifactRecord | null)[] = [];
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      // Listed keys are grid keys already (list() keeps only those).
      const now = recordOfHead(heads[i]!, key, true);
      // A record too large for meta is the head's body: read as getRecord does.
      records.push(now !== undefined ? now : await this.getRecord(key));
    }
    return records;
  }

  /**
   * The bytes of a view read in this turn (viewNow), for an in-process driver and a body kept in
   * the head object; undefined otherwise. Shared: the caller copies before handing out.
   */
  chunksNow(view: RecordView): readonly Uint8Array[] | undefined {
    if (!this.driver.chunksNow || view.storage.rev) return undefined;
    return this.driver.chunksNow(view.record.key) ?? undefined;
  }

  viewOfIdNow(sandboxId: string, artifactId: string): RecordView | null | undefined {
    // The driver finds the object by id in one lookup; its view is used when already made.
    const head = this.driver.headOfIdNow?.(sandboxId, artifactId);
    const made = head ? madeView(head) : undefined;
    if (made) return made;
    const key = this.locator.locateNow(sandboxId, artifactId);
    if (key === null || key === undefined) return key;
    return this.viewNow(key);
  }

  // ---- versions -------------------------------------------------------------------------------

  /** Every version still kept, newest first; the current one (from `record`, the head) included. */
  async listVersions(record: ArtifactRecord): Promise<VersionInfo[]> {
    const byNumber = new Map<number, VersionInfo>();
    const current = record.version ?? 1;
    for (const e of await this.versions.entries(record.key)) {
      // Claimed past the current one: a write in flight, or one that failed before its head moved.
      if (e.version > current) continue;
      byNumber.set(e.version, {
        version: e.version,
        bytes: e.bytes,
        sha256: e.sha256,
        storedAt: e.storedAt,
        etag: e.etag,
      });
    }
    byNumber.set(current, {
      version: current,
      bytes: record.bytes,
      sha256: record.sha256,
      storedAt: byNumber.get(current)?.storedAt ?? record.updatedAt,
      etag: record.etag,
    });
    return [...byNumber.values()].sort((a, b) => b.version - a.version);
  }

  /** A kept version's entry; null when it is not (or no longer) kept. */
  versionEntry(key: string, version: number): Promise<VersionEntry | null> {
    return this.versions.entry(key, version);
  }

  /** The bytes of a kept version, never another version's: null when they are gone. */
  async openVersion(key: string, entry: VersionEntry, range?: ByteRange): Promise<OpenedBody | null> {
    const got = await this.versions.open(key, entry, range);
    return got ? opened(got, entry.sha256, range) : null;
  }

  /** The revision name presignGet takes for a kept version's bytes. */
  versionRevOf(entry: VersionEntry): string {
    return entry.rev ?? versionRev(entry.version);
  }

  /** Applies retention to one artifact's version log (cleanup); returns how many versions went. */
  async pruneVersions(record: ArtifactRecord): Promise<number> {
    return this.versions.prune(record.key, record.version ?? 1, record.storage?.rev ?? null, record);
  }

  /** The bytes of the earlier versions kept of `record` (its current one not included). */
  async retainedBytes(record: ArtifactRecord): Promise<number> {
    if (!record.kept && (record.version ?? 1) <= 1) return 0;
    const current = record.version ?? 1;
    let total = 0;
    for (const e of await this.versions.entries(record.key)) if (e.version < current) total += e.bytes;
    return total;
  }

  /** Deletes revisions under `prefix` that nothing names, older than `graceMs` (src/revision-sweep.ts). */
  async sweepOrphanRevisions(prefix: string, graceMs: number): Promise<number> {
    checkListPrefix(prefix);
    const parts = {
      driver: this.driver,
      versions: this.versions,
      headOf: (key: string) => this.version(key),
    };
    return sweepOrphanRevisions(parts, prefix, graceMs);
  }

  // ---- small documents under reserved keys (checkpoints) --------------------------------------

  async putDocument(key: string, value: unknown, condition: WriteCondition = {}): Promise<void> {
    await this.driver.put(key, chunksOf([Buffer.from(JSON.stringify(value))]), {
      meta: "",
      contentType: "application/json",
      ...condition,
    });
  }

  async getDocument(key: string): Promise<unknown | null> {
    const got = await this.driver.get(key);
    if (!got) return null;
    const body = await readAll(got);
    if (!body) return null;
    try {
      return JSON.parse(body.toString("utf8"));
    } catch {
      return null;
    }
  }

  async listDocuments(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await this.driver.list(prefix, { limit: LIST_PAGE_MAX, after });
      keys.push(...page.keys);
      if (!page.more || page.keys.length === 0) return keys;
      after = page.keys[page.keys.length - 1]!;
    }
  }

  async deleteDocument(key: string): Promise<void> {
    await this.driver.delete(key);
  }

  // ---- signed URLs and multipart (native drivers) ---------------------------------------------

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    if (!this.driver.presignGet) throw new ValidationError(`${this.name} storage has no native presigning`);
    let rev = options.rev;
    if (rev === undefined) {
      const current = await this.version(key);
      if (!current) throw new ArtifactNotFoundError(`no body at ${key}`);
      rev = current.rev;
    }
    return this.driver.presignGet(rev ? revKey(key, rev) : key, options);
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<string> {
    if (!this.driver.presignPut) throw new ValidationError(`${this.name} storage has no native presigning`);
    return this.driver.presignPut(stagingKey(key), options);
  }

  async createMultipart(key: string, options: { mime?: string | null }): Promise<MultipartUpload> {
    return this.driver.createMultipart!(stagingKey(key), options);
  }

  async presignPart(key: string, uploadId: string, partNumber: number, expires: number): Promise<string> {
    return this.driver.presignPart!(stagingKey(key), uploadId, partNumber, expires);
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<void> {
    await this.driver.completeMultipart!(stagingKey(key), uploadId, parts);
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.driver.abortMultipart!(stagingKey(key), uploadId);
  }

  async putSession(sandboxId: string, sessionId: string, facts: StoredSession): Promise<void> {
    await this.driver.put(sessionKey(sandboxId, sessionId), chunksOf([Buffer.from(JSON.stringify(facts))]), {
      meta: "",
      contentType: "application/json",
    });
  }

  async getSession(sandboxId: string, sessionId: string): Promise<StoredSession | null> {
    const got = await this.driver.get(sessionKey(sandboxId, sessionId));
    if (!got) return null;
    const body = await readAll(got);
    if (!body) return null;
    try {
      const parsed = storedSessionSchema.safeParse(JSON.parse(body.toString("utf8")));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  async deleteSession(sandboxId: string, sessionId: string): Promise<void> {
    await this.driver.delete(sessionKey(sandboxId, sessionId));
  }

  health(): Promise<{ ok: boolean; detail: string }> {
    return this.driver.health();
  }

  describe(): Record<string, unknown> {
    return this.driver.describe();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.background]);
    await this.driver.close();
  }

  // ---- internals ------------------------------------------------------------------------------

  private fits(meta: HeadMeta): boolean {
    return meta === FROM_SLOT || this.driver.metaBytes(meta) <= this.driver.capabilities.inlineMetaBytes;
  }

  /** A head's meta: its text, or FROM_SLOT where the driver is handed a function making it. */
  private headMeta(record: ArtifactRecord, rev: string | null): HeadMeta {
    return this.metaFromSlot ? FROM_SLOT : encodeHeadMeta(record, rev);
  }

  /**
   * The head's etag and revision, or null when there is no artifact at `key`; with the version
   * number and whether it is in the version log, when the record is in the head's meta.
   */
  private async version(key: string): Promise<HeadState | null> {
    const head = await this.driver.head(key);
    if (!head) return null;
    const decoded = decodeHeadMeta(head, key);
    if (!decoded) return null;
    return {
      etag: head.etag,
      rev: decoded.rev,
      version: decoded.record?.version ?? null,
      kept: decoded.record?.kept === true,
    };
  }

  /**
   * A head write's options, built field by field (spreads cost microseconds on Node 20), with the
   * decoded head on a driver that keeps ParsedSlots.
   */
  private headOptions(
    meta: HeadMeta,
    condition: WriteCondition,
    record: ArtifactRecord,
    rev: string | null,
    contentType?: string,
  ): PutObjectOptions {
    const slot = this.driver.capabilities.parsedSlots ? parsedSlotOf(record, rev) : undefined;
    // The slot holds a copy of the record: the text is made from that, never from the caller's.
    const options: PutObjectOptions = { meta: meta === FROM_SLOT ? () => slotMeta(slot!) : meta };
    if (contentType !== undefined) options.contentType = contentType;
    if (condition.ifNoneMatch) options.ifNoneMatch = true;
    if (condition.ifMatch !== undefined) options.ifMatch = condition.ifMatch;
    if (slot) options.parsed = slot;
    return options;
  }

  /** Writes a head that names revision `rev`: the record as meta, or as the body when too large. */
  private async writeHead(record: ArtifactRecord, rev: string, condition: WriteCondition): Promise<string> {
    const meta = this.headMeta(record, rev);
    if (this.fits(meta)) {
      // The revision as the body makes every head's bytes (and so an S3 ETag) differ.
      const written = await this.driver.put(
        record.key,
        chunksOf([Buffer.from(rev)]),
        this.headOptions(meta, condition, record, rev),
      );
      return written.etag;
    }
    const body = encodeRecordBody(record);
    if (body.byteLength > RECORD_BODY_MAX) throw new ValidationError("the record is too large");
    const written = await this.driver.put(record.key, chunksOf([body]), {
      meta: encodeHeadMeta(null, rev),
      contentType: "application/json",
      ...condition,
    });
    return written.etag;
  }

  /** Replaces the record of the bytes at `current`, conditional on it; moves inline bytes to a revision if the record outgrew meta. */
  private async rewriteHead(record: ArtifactRecord, current: StorageVersion): Promise<StorageVersion> {
    const key = record.key;
    const lost = async (err: unknown): Promise<never> => {
      if (err instanceof ConflictError && !(await this.version(key))) {
        throw new ArtifactNotFoundError(`artifact ${record.artifactId} no longer exists`);
      }
      throw err;
    };
    try {
      if (current.rev)
        return {
          etag: await this.writeHead(record, current.rev, { ifMatch: current.etag }),
          rev: current.rev,
        };
      const meta = this.headMeta(record, null);
      if (this.fits(meta) && this.driver.capabilities.conditionalCopy) {
        // Rewritten in place, conditional on the version read.
        const copied = await this.driver.copy(key, key, {
          ...this.headOptions(meta, { ifMatch: current.etag }, record, null, record.mime),
          sourceEtag: current.etag,
        });
        if (!copied) throw new ArtifactNotFoundError(`artifact ${record.artifactId} no longer exists`);
        return { etag: copied.etag, rev: null };
      }
      // No conditional copy in place (or the record outgrew meta): the bytes move to a revision,
      // checked to be the version read, and a conditional head write names it.
      const rev = newRev();
      const copied = await this.copyExact(key, revKey(key, rev), current.etag, {
        meta: "",
        contentType: record.mime,
      });
      if (copied === null) throw new ConflictError(`artifact ${record.artifactId} changed; retry`);
      try {
        return { etag: await this.writeHead(record, rev, { ifMatch: current.etag }), rev };
      } catch (err) {
        await this.driver.delete(revKey(key, rev)).catch(() => {});
        throw err;
      }
    } catch (err) {
      return lost(err);
    }
  }

  /**
   * Runs a conditional content write; when it loses to a concurrent write of the same artifact,
   * retries on the newer head (last writer wins) — or fails with ArtifactNotFoundError when the
   * artifact was deleted meanwhile (a delete wins).
   */
  private async withRetries(
    record: ArtifactRecord,
    first: WriteCondition,
    replaced: string | null,
    readVersion: number,
    exact: boolean | undefined,
    write: (
      condition: WriteCondition,
      version: number,
    ) => Promise<{ etag: string; committed: ArtifactRecord }>,
  ): Promise<{ etag: string; committed: ArtifactRecord; replaced: string | null }> {
    let condition = first;
    let base = readVersion;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await write(condition, base + 1);
        return { etag: result.etag, committed: result.committed, replaced };
      } catch (err) {
        if (!(err instanceof ConflictError) || condition.ifNoneMatch) throw err;
        const now = await this.version(record.key);
        if (!now) throw new ArtifactNotFoundError(`artifact ${record.artifactId} was deleted meanwhile`);
        if (exact || attempt >= CONTENT_RETRIES) throw err;
        condition = { ifMatch: now.etag };
        replaced = now.rev;
        base = now.version ?? base + 1;
      }
    }
  }

  private async finishWrite(
    written: { etag: string; committed: ArtifactRecord; replaced: string | null },
    rev: string | null,
    indexed: Promise<void> | null,
  ): Promise<ArtifactRecord> {
    const { committed, replaced } = written;
    if (indexed) await indexed;
    else await this.undoIfDeleted(committed);
    // The superseded revision is unreferenced once the new head is in place; off the write's path.
    if (replaced && replaced !== rev && !isVersionRev(replaced)) {
      this.inBackground(this.driver.delete(revKey(committed.key, replaced)));
    }
    return recordWith(committed, { etag: written.etag, rev });
  }

  /**
   * Commits what a client uploaded to the staging object. A small upload is read whole and written
   * as the artifact with exactly the bytes that were measured; a large one is first copied to an
   * immutable revision, which is then measured — so the recorded sha256 is always of the bytes
   * kept, even if the client PUTs to the staging key again meanwhile.
   */
  private async adoptStaged(
    slotRecord: ArtifactRecord,
    staged: ObjectBody,
    maxBytes: number | null,
  ): Promise<ArtifactRecord> {
    const record = { ...slotRecord, version: 1, etag: newEtag(1) };
    const key = record.key;
    const tooLarge = () => new BodyTooLargeError(`upload is larger than the limit of ${maxBytes} bytes`);
    if (maxBytes !== null && staged.size > maxBytes) {
      releaseBody(staged);
      await this.delete(key);
      throw tooLarge();
    }
    const slot = record.storage ?? (await this.version(key));
    if (!slot) {
      releaseBody(staged);
      throw new ArtifactNotFoundError(`upload slot ${record.artifactId} no longer exists`);
    }
    let version: StorageVersion;
    let committed: ArtifactRecord;
    if (staged.size <= this.driver.capabilities.inlineBodyBytes) {
      const measured = new Measured(staged.stream, maxBytes);
      const chunks: Uint8Array[] = [];
      try {
        for await (const chunk of measured) chunks.push(chunk);
      } catch (err) {
        if (err instanceof BodyTooLargeError) await this.delete(key);
        throw err;
      }
      committed = { ...record, bytes: measured.bytes, sha256: measured.sha256 };
      const meta = encodeHeadMeta(committed, null);
      if (this.fits(meta)) {
        const written = await this.driver.put(key, chunksOf(chunks), {
          meta,
          contentType: record.mime,
          ifMatch: slot.etag,
        });
        version = { etag: written.etag, rev: null };
      } else {
        const rev = newRev();
        await this.driver.put(revKey(key, rev), chunksOf(chunks), { meta: "", contentType: record.mime });
        version = { etag: await this.writeHead(committed, rev, { ifMatch: slot.etag }), rev };
      }
    } else {
      releaseBody(staged);
      const rev = newRev();
      if (
        !(await this.driver.copy(stagingKey(key), revKey(key, rev), { meta: "", contentType: record.mime }))
      ) {
        throw new ConflictError("the upload disappeared while it was being registered");
      }
      const kept = await this.driver.get(revKey(key, rev));
      if (!kept) throw new ConflictError("the upload disappeared while it was being registered");
      const measured = new Measured(kept.stream, maxBytes);
      try {
        for await (const _ of measured);
      } catch (err) {
        releaseBody(kept);
        await this.driver.delete(revKey(key, rev)).catch(() => {});
        if (err instanceof BodyTooLargeError) await this.delete(key);
        throw err;
      }
      committed = { ...record, bytes: measured.bytes, sha256: measured.sha256 };
      version = { etag: await this.writeHead(committed, rev, { ifMatch: slot.etag }), rev };
    }
    await this.undoIfDeleted(committed);
    // Best effort: a leftover staging object is never read again once the record is ready.
    await this.driver.delete(stagingKey(key)).catch(() => {});
    return { ...committed, storage: version };
  }

  /**
   * Copies `from` (expected at etag `expect`, when given) to a new key; null when the source is gone
   * or was not that version — a copy of other bytes is removed again.
   */
  private async copyExact(
    from: string,
    to: string,
    expect: string | undefined,
    options: { meta: string; contentType?: string },
  ): Promise<string | null> {
    const conditional = this.driver.capabilities.conditionalCopy;
    let copied: { etag: string } | null;
    try {
      copied = await this.driver.copy(from, to, {
        ...options,
        ...(expect !== undefined && conditional && { sourceEtag: expect }),
        ifNoneMatch: true,
      });
    } catch (err) {
      if (err instanceof ConflictError) return null;
      throw err;
    }
    if (!copied) return null;
    if (expect !== undefined && !conditional && copied.etag !== expect) {
      await this.driver.delete(to).catch(() => {});
      return null;
    }
    return copied.etag;
  }

  /**
   * On storage whose conditional writes are not atomic against a delete (RGW checks If-Match, then
   * writes), a delete that began while this write was in flight may have run before it landed.
   * Deletes mark the id first; a write that finds the mark removes what it wrote, so the delete
   * wins either way.
   */
  private async undoIfDeleted(record: ArtifactRecord): Promise<void> {
    if (this.driver.capabilities.atomicConditionalWrites) return;
    const mark = await this.locator.deleteMark(record.sandboxId, record.artifactId);
    if (mark === null) return;
    if (mark !== DELETED) {
      // A conditional delete is checking: this write landed first, so it stands and that delete fails.
      if (await this.locator.settleDeleteMark(record.sandboxId, record.artifactId, mark, false)) return;
      if ((await this.locator.deleteMark(record.sandboxId, record.artifactId)) !== DELETED) return;
    }
    await this.delete(record.key);
    throw new ArtifactNotFoundError(`artifact ${record.artifactId} was deleted meanwhile`);
  }

  /** Whether an artifact key follows `last` under `prefix`. */
  private async anyAfter(prefix: string, last: string): Promise<boolean> {
    let after: string | null = last;
    for (;;) {
      const page = await this.listKeys(prefix, { limit: LIST_PAGE_MAX, after });
      if (page.keys.some((k) => parseGridKey(k))) return true;
      if (!page.more || page.keys.length === 0) return false;
      after = page.keys[page.keys.length - 1]!;
    }
  }

  private inBackground(work: Promise<unknown>): void {
    const tracked = work.catch(() => {}).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }
}

/** What a listing makes of each record it reads (see RecordStore.listAs); null leaves it out. */
type ListView<T> = (record: ArtifactRecord, storage: StorageVersion) => T | null;

// ---- keys ---------------------------------------------------------------------------------------

export { revKey };

/** Where presigned PUTs and native multipart uploads land until they are registered. */
export function stagingKey(key: string): string {
  const parsed = parseGridKey(key);
  if (!parsed) throw new ValidationError(`not a grid key: ${key}`);
  return `${GRID_ROOT}/${parsed.sandboxId}/${UPLOADS}/${parsed.sessionId}/${parsed.artifactId}`;
}

/** Where a session's owner is kept; `_sessions` is no valid session id, so no artifact key can spell it. */
function sessionKey(sandboxId: string, sessionId: string): string {
  return `${GRID_ROOT}/${validateSegment(sandboxId, "sandboxId")}/_sessions/${validateSegment(sessionId, "sessionId")}`;
}

const storedSessionSchema = z.object({
  userId: z.string().nullable(),
  createdAt: z.string(),
  expiresAt: z.string(),
});

/**
 * A listed key under a prefix checkListPrefix accepted is an artifact's head, not a revision,
 * marker or reserved object: under a session's prefix, when the rest is one segment (an id), which
 * spares a full parse per listed key; under a sandbox's, when it parses as a grid key.
 */
function isHeadUnder(prefix: string, key: string, sessionLevel: boolean): boolean {
  return sessionLevel ? isSegment(key.slice(prefix.length)) : parseGridKey(key) !== null;
}

/** Prefixes checkListPrefix accepted lately: a session is listed again and again. */
const listPrefixes = new Set<string>();
const LIST_PREFIXES_MAX = 1024;

/**
 * A list prefix must be a sandbox (`grid/{sb}/`) or a session (`grid/{sb}/{session}/`); only grid
 * keys (four valid segments) are listed under it, never revisions or reserved objects.
 */
function checkListPrefix(prefix: string): void {
  if (listPrefixes.has(prefix)) return;
  const p = prefix.split("/");
  const probe = p.length === 4 ? `${prefix}x` : `${prefix}s/x`;
  if (
    p[0] !== GRID_ROOT ||
    p[p.length - 1] !== "" ||
    (p.length !== 3 && p.length !== 4) ||
    !parseGridKey(probe)
  ) {
    throw new ValidationError(`unsupported list prefix: ${prefix}`);
  }
  if (listPrefixes.size >= LIST_PREFIXES_MAX) listPrefixes.clear();
  listPrefixes.add(prefix);
}

/**
 * The view made for this very stored version, if one was: one per version, as its parts never
 * change, so reads share it and allocate nothing (see viewNow).
 */
function madeView(head: ObjectHead): RecordView | undefined {
  const made = head.parsed?.view as RecordView | undefined;
  return made?.storage.etag === head.etag ? made : undefined;
}

/**
 * The condition of a write that creates a key. A fresh key (a newly generated 128-bit id) needs
 * none: nothing else can know it yet, and the check costs S3 a lookup per PUT (about 0.5 ms on
 * RGW, a tenth of a small write). Unconditional, an SDK retry of a PUT that landed writes the same
 * object again instead of failing as a conflict. Any other key is created only if absent.
 */
function createCondition(fresh: boolean | undefined): WriteCondition {
  return fresh ? {} : { ifNoneMatch: true };
}

function newRev(): string {
  return randomHex(8);
}

// ---- helpers ------------------------------------------------------------------------------------

/** The record a head's meta carries (null: no artifact there); undefined when it is the head's body. */
function recordOfHead(head: ObjectHead | null, key: string, once = false): ArtifactRecord | null | undefined {
  if (!head) return null;
  const decoded = decodeHeadMeta(head, key, once);
  if (!decoded) return null;
  if (!decoded.record) return undefined;
  // decodeHeadMeta's record is a fresh copy: no need for another one to say where it is stored.
  decoded.record.storage = { etag: head.etag, rev: decoded.rev };
  return decoded.record;
}

function withVersion(record: ArtifactRecord, etag: string, rev: string | null): ArtifactRecord {
  return recordWith(record, { etag, rev });
}

/** The record with new bytes as version `version` (field by field, see recordWith). */
function withContent(
  record: ArtifactRecord,
  bytes: number,
  sha256: string,
  version: number,
  kept: boolean,
): ArtifactRecord {
  const next = recordWith(record, record.storage);
  next.bytes = bytes;
  next.sha256 = sha256;
  next.version = version;
  next.etag = newEtag(version);
  next.kept = kept;
  return next;
}

async function recordOfBody(got: ObjectBody, key: string): Promise<ArtifactRecord | null> {
  const decoded = decodeHeadMeta(got, key);
  if (!decoded) {
    releaseBody(got);
    return null;
  }
  if (decoded.record) {
    releaseBody(got);
    return withVersion(decoded.record, got.etag, decoded.rev);
  }
  return recordOfBodyText(await readAll(got), key, got.etag, decoded.rev);
}

function recordOfBodyText(
  body: Buffer | null,
  key: string,
  etag: string,
  rev?: string | null,
): ArtifactRecord | null {
  if (!body) return null;
  const record = decodeRecordBody(body, key);
  return record ? withVersion(record, etag, rev ?? null) : null;
}

async function readAll(got: ObjectBody): Promise<Buffer | null> {
  if (got.size > RECORD_BODY_MAX) {
    releaseBody(got);
    return null;
  }
  const chunks: Uint8Array[] = [];
  for await (const chunk of got.stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A pending record's (absent) bytes. */
function emptyBody(sha256: string): OpenedBody {
  return { stream: (async function* () {})(), length: 0, totalBytes: 0, sha256 };
}

function opened(got: ObjectBody, sha256: string, range?: ByteRange): OpenedBody {
  return { stream: got.stream, length: range ? got.length : got.size, totalBytes: got.size, sha256 };
}

/**
 * Reads a body until more than `limit` bytes have come or it ended (`ended`); `rest` goes on where
 * this stopped. A body that holds its chunks (HeldChunks) is taken at once.
 */
async function readUpTo(
  measured: Measured,
  limit: number,
): Promise<{ chunks: Uint8Array[]; ended: boolean; rest: AsyncIterator<Uint8Array> }> {
  const held = measured.takeHeld();
  if (held !== null) return { chunks: [...held], ended: measured.bytes <= limit, rest: NOTHING_MORE };
  const source = measured[Symbol.asyncIterator]();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  while (bytes <= limit) {
    const next = await source.next();
    if (next.done) return { chunks, ended: true, rest: source };
    chunks.push(next.value);
    bytes += next.value.byteLength;
  }
  return { chunks, ended: false, rest: source };
}

const NOTHING_MORE: AsyncIterator<Uint8Array> = {
  next: async () => ({ done: true, value: undefined }),
};

async function* concat(head: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncIterable<Uint8Array> {
  yield* head;
  for (;;) {
    const next = await rest.next();
    if (next.done) return;
    yield next.value;
  }
}

/** The version-log entry of the version a record describes. */
function entryOf(record: ArtifactRecord, rev: string | null, version: number): VersionEntry {
  return {
    version,
    bytes: record.bytes,
    sha256: record.sha256,
    storedAt: record.updatedAt,
    etag: record.etag ?? "",
    mime: record.mime,
    rev: rev && !isVersionRev(rev) ? rev : null,
  };
}
