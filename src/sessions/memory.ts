import { randomUUID } from "node:crypto";
import type { ArtifactRecord } from "../metadata.js";
import { pageAfter } from "../storage/paging.js";
import { DELETED, type SessionProvider, type SessionRecord } from "./provider.js";
import { MemorySearchIndex } from "./search-index.js";
import { MemoryUsageCounters } from "./usage.js";

/** Sessions in a Map of this process. The default; use `redis` when several processes serve one store. */
export class MemorySessionProvider implements SessionProvider {
  readonly name = "memory";
  readonly shared = false;
  readonly usage = new MemoryUsageCounters();
  readonly search = new MemorySearchIndex();
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly cache = new Map<string, { record: ArtifactRecord; until: number }>();
  /** sandbox → id → key; `complete` holds the sandboxes whose index has been rebuilt. */
  private readonly ids = new Map<string, Map<string, string>>();
  private readonly complete = new Map<string, string | true>();
  private readonly deleted = new Map<string, number>();
  /** Pending conditional deletes: their token and when the mark runs out. */
  private readonly pending = new Map<string, { token: string; until: number }>();

  async get(sandboxId: string, sessionId: string): Promise<SessionRecord | null> {
    const record = this.sessions.get(sessionKey(sandboxId, sessionId));
    return record ? copySession(record) : null;
  }

  async create(record: SessionRecord): Promise<boolean> {
    const key = sessionKey(record.sandboxId, record.sessionId);
    if (this.sessions.has(key)) return false;
    this.sessions.set(key, copySession(record));
    return true;
  }

  async update(record: SessionRecord): Promise<void> {
    this.sessions.set(sessionKey(record.sandboxId, record.sessionId), copySession(record));
  }

  async delete(sandboxId: string, sessionId: string): Promise<boolean> {
    return this.sessions.delete(sessionKey(sandboxId, sessionId));
  }

  async list(
    sandboxId: string,
    options: { limit: number; cursor?: string | null },
  ): Promise<{ sessions: SessionRecord[]; cursor: string | null }> {
    const prefix = `${sandboxId}/`;
    const keys = [...this.sessions.keys()].filter((k) => k.startsWith(prefix)).sort();
    const { items, cursor } = pageAfter(keys, options.limit, options.cursor ?? null);
    return { sessions: items.map((k) => structuredClone(this.sessions.get(k)!)), cursor };
  }

  async cacheGet(sandboxId: string, artifactId: string): Promise<ArtifactRecord | null> {
    const key = sessionKey(sandboxId, artifactId);
    const hit = this.cache.get(key);
    if (!hit) return null;
    if (hit.until <= Date.now()) {
      this.cache.delete(key);
      return null;
    }
    return structuredClone(hit.record);
  }

  async cacheGetMany(sandboxId: string, artifactIds: string[]): Promise<(ArtifactRecord | null)[]> {
    return Promise.all(artifactIds.map((id) => this.cacheGet(sandboxId, id)));
  }

  async cacheSet(record: ArtifactRecord, ttlSeconds: number): Promise<void> {
    this.cache.set(sessionKey(record.sandboxId, record.artifactId), {
      record: structuredClone(record),
      until: Date.now() + ttlSeconds * 1000,
    });
  }

  async cacheSetMany(records: ArtifactRecord[], ttlSeconds: number): Promise<void> {
    for (const record of records) await this.cacheSet(record, ttlSeconds);
  }

  async cacheDelete(sandboxId: string, artifactId: string): Promise<void> {
    this.cache.delete(sessionKey(sandboxId, artifactId));
  }

  async indexGet(sandboxId: string, artifactId: string): Promise<string | null | undefined> {
    const key = this.ids.get(sandboxId)?.get(artifactId);
    if (key !== undefined) return key;
    return this.complete.get(sandboxId) === true ? null : undefined;
  }

  async indexSet(sandboxId: string, entries: [string, string][]): Promise<void> {
    let ids = this.ids.get(sandboxId);
    if (!ids) {
      ids = new Map();
      this.ids.set(sandboxId, ids);
    }
    for (const [id, key] of entries) ids.set(id, key);
  }

  async indexDelete(sandboxId: string, artifactId: string): Promise<void> {
    this.ids.get(sandboxId)?.delete(artifactId);
  }

  async indexBeginRebuild(sandboxId: string): Promise<string> {
    const token = randomUUID();
    this.complete.set(sandboxId, token);
    return token;
  }

  async indexFinishRebuild(sandboxId: string, token: string): Promise<boolean> {
    if (this.complete.get(sandboxId) !== token) return false;
    this.complete.set(sandboxId, true);
    return true;
  }

  async indexInvalidate(sandboxId: string): Promise<void> {
    this.complete.delete(sandboxId);
  }

  async markDeleted(sandboxId: string, artifactId: string, ttlMs: number): Promise<void> {
    const now = Date.now();
    // Forget marks that have run out, so the map stays as small as the deletes in flight.
    for (const [key, until] of this.deleted) if (until <= now) this.deleted.delete(key);
    this.deleted.set(sessionKey(sandboxId, artifactId), now + ttlMs);
  }

  async markDeletePending(
    sandboxId: string,
    artifactId: string,
    token: string,
    ttlMs: number,
  ): Promise<boolean> {
    if ((await this.deleteMark(sandboxId, artifactId)) !== null) return false;
    this.pending.set(sessionKey(sandboxId, artifactId), { token, until: Date.now() + ttlMs });
    return true;
  }

  async settleDeleteMark(
    sandboxId: string,
    artifactId: string,
    token: string,
    deleted: boolean,
    ttlMs: number,
  ): Promise<boolean> {
    const key = sessionKey(sandboxId, artifactId);
    if ((await this.deleteMark(sandboxId, artifactId)) !== token) return false;
    this.pending.delete(key);
    if (deleted) await this.markDeleted(sandboxId, artifactId, ttlMs);
    return true;
  }

  async deleteMark(sandboxId: string, artifactId: string): Promise<string | null> {
    const key = sessionKey(sandboxId, artifactId);
    const now = Date.now();
    if ((this.deleted.get(key) ?? 0) > now) return DELETED;
    const pending = this.pending.get(key);
    if (pending && pending.until > now) return pending.token;
    if (pending) this.pending.delete(key);
    return null;
  }

  async health(): Promise<{ ok: boolean; detail: string }> {
    return { ok: true, detail: `${this.sessions.size} sessions in memory` };
  }

  describe(): Record<string, unknown> {
    return { sessions: this.sessions.size };
  }

  async close(): Promise<void> {}
}

function sessionKey(sandboxId: string, id: string): string {
  return `${sandboxId}/${id}`;
}

/** A copy sharing nothing mutable: sessions are flat apart from `meta` (plain JSON). */
function copySession(record: SessionRecord): SessionRecord {
  let meta: Record<string, unknown> = {};
  for (const _ in record.meta) {
    meta = structuredClone(record.meta);
    break;
  }
  return { ...record, meta };
}
