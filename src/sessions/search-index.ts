import { randomUUID } from "node:crypto";
import type { ArtifactMetadata } from "../metadata.js";

/** An artifact as the index keeps it: its metadata without the fields every entry of a store shares. */
export type IndexEntry = Omit<ArtifactMetadata, "key" | "sandboxId" | "storageProvider" | "sessionProvider">;

import type { UsageScope } from "./usage.js";

/**
 * A secondary index for search, kept by the session provider: per user and per session, the
 * metadata of every ready artifact in result order (newest first). Storage stays the truth: an
 * area whose index is not marked built is rebuilt from storage before it is used, and a delete
 * during a rebuild makes that rebuild fail to mark it built (it may have listed the deleted one).
 *
 * Order: entries sort by `position` — the inverted storedAt, zero-padded, then `|` and the id —
 * so ascending position order is newest first, and a position is also the page cursor.
 */
export interface SearchIndex {
  /** Adds or replaces an artifact's entry in each area. */
  put(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void>;
  remove(sandboxId: string, areas: UsageScope[], artifactId: string): Promise<void>;
  isBuilt(sandboxId: string, area: UsageScope): Promise<boolean>;
  beginBuild(sandboxId: string, area: UsageScope): Promise<string>;
  /** Marks the area built unless an artifact was removed (or the index lost) since the build began. */
  finishBuild(sandboxId: string, area: UsageScope, token: string): Promise<boolean>;
  /** Forgets the area's built mark: its next search rebuilds it. */
  invalidate(sandboxId: string, area: UsageScope): Promise<void>;
  /**
   * Up to `count` entries in order, with positions strictly after `from` and before `to` (null: no
   * bound). The entries may be the index's own objects: callers copy what they hand out.
   */
  page(
    sandboxId: string,
    area: UsageScope,
    from: string | null,
    to: string | null,
    count: number,
  ): Promise<IndexEntry[]>;
}

const TIME_MAX = 9_999_999_999_999;

/** The sort position of an entry: newest first, then by id descending. */
export function positionOf(storedAtMs: number, artifactId: string): string {
  const inverted = String(TIME_MAX - Math.max(0, Math.min(TIME_MAX, storedAtMs))).padStart(13, "0");
  return `${inverted}|${invertId(artifactId)}`;
}

/** The artifact id a position names. */
export function idOfPosition(position: string): string {
  return invertId(position.slice(position.indexOf("|") + 1));
}

/** Ids in descending order sort ascending once each character is inverted (ids are ASCII). */
function invertId(id: string): string {
  let out = "";
  for (const ch of id) out += String.fromCharCode(0x7e - (ch.charCodeAt(0) - 0x20));
  return out;
}

interface Area {
  docs: Map<string, { position: string; doc: IndexEntry }>;
  sorted: string[] | null;
  byPosition: Map<string, IndexEntry>;
  state: string | null;
}

/** The index in a Map of this process (the memory session provider's). */
export class MemorySearchIndex implements SearchIndex {
  private readonly areas = new Map<string, Area>();

  async put(sandboxId: string, areas: UsageScope[], doc: IndexEntry): Promise<void> {
    const position = positionOf(Date.parse(doc.storedAt), doc.artifactId);
    for (const scope of areas) {
      const area = this.area(sandboxId, scope);
      const old = area.docs.get(doc.artifactId);
      if (old) area.byPosition.delete(old.position);
      // The store hands over a fresh copy and copies what it returns: no clone needed here.
      area.docs.set(doc.artifactId, { position, doc });
      area.byPosition.set(position, doc);
      if (old?.position !== position) area.sorted = null;
    }
  }

  async remove(sandboxId: string, areas: UsageScope[], artifactId: string): Promise<void> {
    for (const scope of areas) {
      const area = this.area(sandboxId, scope);
      const old = area.docs.get(artifactId);
      if (area.state?.startsWith("building:")) area.state = null;
      if (!old) continue;
      area.docs.delete(artifactId);
      area.byPosition.delete(old.position);
      area.sorted = null;
    }
  }

  async isBuilt(sandboxId: string, scope: UsageScope): Promise<boolean> {
    return this.area(sandboxId, scope).state === "built";
  }

  async beginBuild(sandboxId: string, scope: UsageScope): Promise<string> {
    const token = randomUUID();
    this.area(sandboxId, scope).state = `building:${token}`;
    return token;
  }

  async finishBuild(sandboxId: string, scope: UsageScope, token: string): Promise<boolean> {
    const area = this.area(sandboxId, scope);
    if (area.state !== `building:${token}`) return false;
    area.state = "built";
    return true;
  }

  async invalidate(sandboxId: string, scope: UsageScope): Promise<void> {
    this.area(sandboxId, scope).state = null;
  }

  async page(
    sandboxId: string,
    scope: UsageScope,
    from: string | null,
    to: string | null,
    count: number,
  ): Promise<IndexEntry[]> {
    const area = this.area(sandboxId, scope);
    area.sorted ??= [...area.byPosition.keys()].sort();
    const sorted = area.sorted;
    let lo = 0;
    let hi = sorted.length;
    if (from !== null) {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid]! <= from) lo = mid + 1;
        else hi = mid;
      }
    }
    const out: IndexEntry[] = [];
    for (let i = lo; i < sorted.length && out.length < count; i++) {
      const position = sorted[i]!;
      if (to !== null && position >= to) break;
      out.push(area.byPosition.get(position)!);
    }
    return out;
  }

  private area(sandboxId: string, scope: UsageScope): Area {
    const key = `${sandboxId}/${scope.kind}:${scope.id}`;
    let area = this.areas.get(key);
    if (!area) {
      area = { docs: new Map(), sorted: null, byPosition: new Map(), state: null };
      this.areas.set(key, area);
    }
    return area;
  }
}
