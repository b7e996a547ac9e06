import { randomBytes } from "node:crypto";
import { GRID_ROOT, parseGridKey } from "../grid.js";

/**
 * Where the s3 provider keeps things in the bucket. Everything of a sandbox lives under
 * `grid/{sandbox}/`, so one IAM prefix grants it all. Reserved folders start with "_", which no
 * validated session or sandbox id can, so they never collide with artifacts:
 *
 *   grid/{sb}/{session}/{id}/{rev}    immutable body revisions; a new one for every write of bytes
 *   grid/{sb}/_records/{session}/{id} the record envelope naming the current revision: the commit point
 *   grid/{sb}/_index/{id}             the grid key, for locate() without a session
 *   grid/{sb}/_uploads/{session}/{id} where presigned PUTs and multipart uploads land until adopted
 *   grid/_probe/{random}              health() probes
 *
 * Records sit in a parallel tree with the same suffix as their grid key, so listing a session lists
 * only records (never bodies), in grid-key order.
 */

const RECORDS = "_records";
const INDEX = "_index";
const UPLOADS = "_uploads";

function parts(key: string) {
  const parsed = parseGridKey(key);
  if (!parsed) throw new Error(`not a grid key: ${key}`);
  return parsed;
}

export function recordKey(key: string): string {
  const { sandboxId, sessionId, artifactId } = parts(key);
  return `${GRID_ROOT}/${sandboxId}/${RECORDS}/${sessionId}/${artifactId}`;
}

/** The grid key a record object belongs to, or null for anything else. */
export function gridKeyOfRecord(objectKey: string): string | null {
  const p = objectKey.split("/");
  if (p.length !== 5 || p[0] !== GRID_ROOT || p[2] !== RECORDS) return null;
  const key = `${GRID_ROOT}/${p[1]}/${p[3]}/${p[4]}`;
  return parseGridKey(key) ? key : null;
}

export function stagingKey(key: string): string {
  const { sandboxId, sessionId, artifactId } = parts(key);
  return `${GRID_ROOT}/${sandboxId}/${UPLOADS}/${sessionId}/${artifactId}`;
}

export function indexKey(sandboxId: string, artifactId: string): string {
  return `${GRID_ROOT}/${sandboxId}/${INDEX}/${artifactId}`;
}

/** Where revision `rev` of the artifact at `key` keeps its bytes. */
export function bodyKey(key: string, rev: string): string {
  parts(key);
  return `${key}/${rev}`;
}

/** The prefix of every body revision of `key` (including ones orphaned by a crash). */
export function bodyPrefix(key: string): string {
  parts(key);
  return `${key}/`;
}

export function probeKey(): string {
  return `${GRID_ROOT}/_probe/${randomBytes(12).toString("hex")}`;
}

/**
 * Maps a list prefix (`grid/{sb}/` or `grid/{sb}/{session}/`) to the prefix of its records.
 * Anything else is refused, as the filesystem provider does.
 */
export function recordPrefix(prefix: string): string {
  const p = prefix.split("/");
  const shapeOk =
    p[0] === GRID_ROOT && p[p.length - 1] === "" && (p.length === 3 || p.length === 4) && p[1] !== "";
  const probe = p.length === 4 ? `${prefix}x` : `${prefix}s/x`;
  if (!shapeOk || !parseGridKey(probe)) throw new Error(`unsupported list prefix: ${prefix}`);
  return p.length === 4 ? `${GRID_ROOT}/${p[1]}/${RECORDS}/${p[2]}/` : `${GRID_ROOT}/${p[1]}/${RECORDS}/`;
}
