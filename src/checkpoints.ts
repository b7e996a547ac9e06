import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { ArtifactVersions } from "./artifact-versions.js";
import { type Artifacts, LIST_PAGE_MAX } from "./artifacts.js";
import type { BackendsGetter } from "./backends.js";
import { ArtifactNotFoundError, ValidationError } from "./errors.js";
import { GRID_ROOT, sessionPrefix, validateSegment } from "./grid.js";
import { type ArtifactRecord, isExpired, validateSummary } from "./metadata.js";
import type { SessionRules } from "./session-rules.js";

/**
 * Checkpoints of a session: which version every artifact of the session was at. A checkpoint is
 * one small JSON object at `grid/{sandbox}/_checkpoints/{sessionId}/{checkpointId}` (`_checkpoints`
 * is no valid session id, so no artifact key can spell it; it goes when its session is deleted).
 * No bytes are copied: restoring relies on the versions the version log keeps (src/versions.ts),
 * so an artifact changed more than `keepVersions` times since cannot be brought back — restore
 * says which.
 */

export interface Checkpoint {
  checkpointId: string;
  sessionId: string;
  name: string | null;
  createdAt: string;
  artifacts: { artifactId: string; version: number }[];
}

export interface CheckpointRestore {
  checkpointId: string;
  /** Brought back to their recorded version (as a new version, so history is kept). */
  restored: string[];
  /** Already at their recorded version. */
  unchanged: string[];
  /** Created after the checkpoint, now deleted. */
  deleted: string[];
  /** Could not be brought back: deleted since, or their recorded version is no longer kept. */
  missing: string[];
}

const checkpointSchema = z.object({
  checkpointId: z.string(),
  sessionId: z.string(),
  name: z.string().nullable(),
  createdAt: z.string(),
  artifacts: z.array(z.object({ artifactId: z.string(), version: z.number().int().positive() })),
});

const ID = /^cp-[0-9a-f]{32}$/;

export class Checkpoints {
  /** The last createdAt this store gave out, in ms. */
  private lastCreatedMs = 0;

  constructor(
    private readonly sandboxId: string,
    private readonly backends: BackendsGetter,
    private readonly sessions: SessionRules,
    private readonly artifacts: Artifacts,
    private readonly versions: ArtifactVersions,
  ) {}

  async create(sessionId: string, options: { name?: string; userId?: string } = {}): Promise<Checkpoint> {
    await this.checkSession(sessionId, options.userId);
    const name = options.name === undefined ? null : validateSummary(options.name);
    const records = await this.sessionArtifacts(sessionId);
    const checkpoint: Checkpoint = {
      checkpointId: `cp-${randomBytes(16).toString("hex")}`,
      sessionId,
      name,
      createdAt: this.nextCreatedAt(),
      artifacts: records.map((r) => ({ artifactId: r.artifactId, version: r.version })),
    };
    const { storage } = await this.backends();
    await storage.putDocument(this.key(sessionId, checkpoint.checkpointId), checkpoint, {
      ifNoneMatch: true,
    });
    return checkpoint;
  }

  /**
   * Now, or a millisecond past the last checkpoint this store made if that is not earlier: the
   * list is ordered by this time, so two checkpoints made one after another in the same
   * millisecond still list newest first.
   */
  private nextCreatedAt(): string {
    this.lastCreatedMs = Math.max(Date.now(), this.lastCreatedMs + 1);
    return new Date(this.lastCreatedMs).toISOString();
  }

  /** The session's checkpoints, newest first. */
  async list(sessionId: string, options: { userId?: string } = {}): Promise<Checkpoint[]> {
    await this.checkSession(sessionId, options.userId);
    const { storage } = await this.backends();
    const keys = await storage.listDocuments(this.prefix(sessionId));
    const found: Checkpoint[] = [];
    for (const key of keys) {
      const parsed = checkpointSchema.safeParse(await storage.getDocument(key));
      if (parsed.success && parsed.data.sessionId === sessionId) found.push(parsed.data);
    }
    return found.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /**
   * Brings every artifact of the checkpoint back to its recorded version (a new version with that
   * content) and deletes the session's artifacts the checkpoint does not name.
   */
  async restore(
    sessionId: string,
    checkpointId: string,
    options: { userId?: string } = {},
  ): Promise<CheckpointRestore> {
    await this.checkSession(sessionId, options.userId);
    if (typeof checkpointId !== "string" || !ID.test(checkpointId)) {
      throw new ValidationError("checkpointId is not a checkpoint id");
    }
    const { storage } = await this.backends();
    const parsed = checkpointSchema.safeParse(await storage.getDocument(this.key(sessionId, checkpointId)));
    if (!parsed.success) throw new ArtifactNotFoundError(`checkpoint ${checkpointId} not found`);
    const recorded = new Map(parsed.data.artifacts.map((a) => [a.artifactId, a.version]));
    const result: CheckpointRestore = { checkpointId, restored: [], unchanged: [], deleted: [], missing: [] };
    const present = await this.sessionArtifacts(sessionId);
    const context = { sessionId, ...(options.userId !== undefined && { userId: options.userId }) };
    for (const record of present) {
      const version = recorded.get(record.artifactId);
      if (version === undefined) {
        if (await this.artifacts.remove(record)) result.deleted.push(record.artifactId);
        continue;
      }
      recorded.delete(record.artifactId);
      if (version === record.version) {
        result.unchanged.push(record.artifactId);
        continue;
      }
      try {
        await this.versions.restore(record.artifactId, version, context);
        result.restored.push(record.artifactId);
      } catch (err) {
        if (!(err instanceof ArtifactNotFoundError)) throw err;
        result.missing.push(record.artifactId);
      }
    }
    result.missing.push(...recorded.keys());
    return result;
  }

  /** Forgets every checkpoint of a session (when the session is deleted). */
  async removeAll(sessionId: string): Promise<void> {
    const { storage } = await this.backends();
    for (const key of await storage.listDocuments(this.prefix(sessionId))) await storage.deleteDocument(key);
  }

  private async checkSession(sessionId: string, userId: string | undefined): Promise<void> {
    validateSegment(sessionId, "sessionId");
    if (userId !== undefined) await this.sessions.info(sessionId, validateSegment(userId, "userId"));
  }

  private async sessionArtifacts(sessionId: string): Promise<ArtifactRecord[]> {
    const { storage } = await this.backends();
    const out: ArtifactRecord[] = [];
    let cursor: string | null = null;
    do {
      const page = await storage.list(sessionPrefix(this.sandboxId, sessionId), {
        limit: LIST_PAGE_MAX,
        cursor,
      });
      for (const r of page.records) if (r.status === "ready" && !isExpired(r.expiresAt)) out.push(r);
      cursor = page.cursor;
    } while (cursor !== null);
    return out;
  }

  private prefix(sessionId: string): string {
    return `${GRID_ROOT}/${this.sandboxId}/_checkpoints/${validateSegment(sessionId, "sessionId")}/`;
  }

  private key(sessionId: string, checkpointId: string): string {
    return this.prefix(sessionId) + checkpointId;
  }
}
