import { type Artifacts, type RangeChooser, verifiedStream } from "./artifacts.js";
import type { BackendsGetter } from "./backends.js";
import { ArtifactNotFoundError, ValidationError } from "./errors.js";
import { type ArtifactMetadata, type ArtifactRecord, toMetadata } from "./metadata.js";
import type { Quotas } from "./quotas.js";
import type { AccessContext } from "./session-rules.js";
import type { ByteRange, OpenedBody } from "./storage/provider.js";
import type { VersionEntry, VersionInfo } from "./versions.js";

/**
 * Earlier versions as the store offers them: listed, read (whole, streamed, or by a signed URL)
 * and restored. Access is checked on the artifact first, exactly as for its current version.
 */
export class ArtifactVersions {
  constructor(
    private readonly backends: BackendsGetter,
    private readonly artifacts: Artifacts,
    private readonly quotas: Quotas | null = null,
  ) {}

  async list(record: ArtifactRecord): Promise<VersionInfo[]> {
    const { storage } = await this.backends();
    return storage.listVersions(record);
  }

  /** A kept earlier version of `record` (not the current one); ArtifactNotFoundError when not kept. */
  async entry(record: ArtifactRecord, version: number): Promise<VersionEntry> {
    validateVersion(version);
    const { storage } = await this.backends();
    const entry = version > record.version ? null : await storage.versionEntry(record.key, version);
    if (!entry) {
      throw new ArtifactNotFoundError(`version ${version} of artifact ${record.artifactId} is not kept`);
    }
    return entry;
  }

  /** The metadata of an earlier version: the artifact's, with that version's bytes, checksum and etag. */
  metadataAt(record: ArtifactRecord, entry: VersionEntry): ArtifactMetadata {
    return {
      ...toMetadata(record),
      version: entry.version,
      bytes: entry.bytes,
      sha256: entry.sha256,
      etag: entry.etag,
      mime: entry.mime,
      updatedAt: entry.storedAt,
    };
  }

  /** The bytes of an earlier version, unchecked (the caller checks them against `sha256`). */
  async body(record: ArtifactRecord, version: number): Promise<OpenedBody> {
    const entry = await this.entry(record, version);
    const { storage } = await this.backends();
    const body = await storage.openVersion(record.key, entry);
    if (!body) throw new ArtifactNotFoundError(`version ${version} of artifact ${record.artifactId} is gone`);
    return body;
  }

  /** Opens an earlier version; a full read is checked against its sha256 as it streams. */
  async open(
    record: ArtifactRecord,
    version: number,
    range?: ByteRange | RangeChooser,
  ): Promise<{ metadata: ArtifactMetadata; body: OpenedBody }> {
    const entry = await this.entry(record, version);
    const metadata = this.metadataAt(record, entry);
    const chosen = typeof range === "function" ? range(metadata) : range;
    if (chosen && (chosen.start < 0 || chosen.end < chosen.start || chosen.end >= entry.bytes)) {
      throw new ValidationError(`range must lie within the version's ${entry.bytes} bytes`);
    }
    const { storage } = await this.backends();
    const body = await storage.openVersion(record.key, entry, chosen);
    if (!body) throw new ArtifactNotFoundError(`version ${version} of artifact ${record.artifactId} is gone`);
    if (chosen) return { metadata, body };
    return { metadata, body: { ...body, stream: verifiedStream(body, record.artifactId) } };
  }

  /**
   * Makes a new version with the content (and mime) of `version`. A body kept in a revision is
   * named by the new version (no bytes copied: src/versions.ts); a small one is read back, checked
   * against that version's sha256, and written inline.
   */
  async restore(artifactId: string, version: number, context: AccessContext): Promise<ArtifactRecord> {
    const record = await this.artifacts.read(artifactId, context, { write: true });
    if (version === record.version) return record;
    const entry = await this.entry(record, version);
    // The restored version counts toward quotas like any new version (the one it replaces is kept).
    const hold = await this.quotas?.reserve(record, { bytes: entry.bytes, artifacts: 0 });
    try {
      const restored = await this.restoreEntry(artifactId, record, entry, context);
      await hold?.settle({ bytes: entry.bytes, artifacts: 0 });
      return restored;
    } catch (err) {
      await hold?.release();
      throw err;
    }
  }

  private async restoreEntry(
    artifactId: string,
    record: ArtifactRecord,
    entry: VersionEntry,
    context: AccessContext,
  ): Promise<ArtifactRecord> {
    const { storage } = await this.backends();
    // A body held in a revision is named again, not copied; a small one is written inline.
    if (entry.rev && storage.versions.enabled)
      return this.artifacts.restoreShared(artifactId, context, entry);
    const { body, metadata } = await this.open(record, entry.version);
    return this.artifacts.replaceContent(
      artifactId,
      context,
      (current) => ({ ...current, mime: metadata.mime, updatedAt: new Date().toISOString() }),
      body.stream,
    );
  }
}

export function validateVersion(version: unknown): number {
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
    throw new ValidationError("version must be a whole number from 1");
  }
  return version;
}
