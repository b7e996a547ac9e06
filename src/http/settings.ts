import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, link, mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import type { ResolvedConfig, ServerEnvironment } from "../config.js";
import { type ApiKey, type Authenticate, keyIdOfDigest, type Principal } from "./auth.js";

/**
 * The server's own settings from the environment, read when the server starts (never at import):
 * API keys and the signing secret a standalone server keeps for itself. Store settings stay in
 * src/config.ts.
 *
 * - CHUK_API_KEYS="key1=alice,key2=bob"   keys of ordinary users
 * - CHUK_ADMIN_KEYS="key3" or "key3=ops"  admin keys (user "admin" unless named)
 * - CHUK_API_KEYS_FILE=keys.json          [{ "key": "…", "userId": "alice", "admin": false, "id": "ci" }, …]
 */

const keyEntrySchema = z.strictObject({
  key: z.string(),
  userId: z.string(),
  admin: z.boolean().optional(),
  id: z.string().min(1).max(128).optional(),
});
const keyFileSchema = z.union([z.array(keyEntrySchema), z.strictObject({ keys: z.array(keyEntrySchema) })]);

export async function loadApiKeys(
  env: Pick<ServerEnvironment, "apiKeys" | "adminKeys" | "apiKeysFile">,
): Promise<{ keys: ApiKey[]; sources: string[] }> {
  const keys: ApiKey[] = [];
  const sources: string[] = [];
  const list = (value: string | null, admin: boolean, name: string) => {
    if (!value?.trim()) return;
    sources.push(name);
    for (const item of value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const eq = item.indexOf("=");
      if (eq < 0 && !admin) throw new Error(`${name}: write each entry as key=userId`);
      const key = eq < 0 ? item : item.slice(0, eq);
      const userId = eq < 0 ? "admin" : item.slice(eq + 1);
      keys.push({ key, userId, admin });
    }
  };
  list(env.apiKeys, false, "CHUK_API_KEYS");
  list(env.adminKeys, true, "CHUK_ADMIN_KEYS");
  const file = env.apiKeysFile;
  if (file) {
    let parsed: z.infer<typeof keyFileSchema>;
    try {
      parsed = keyFileSchema.parse(JSON.parse(await readFile(file, "utf8")));
    } catch (err) {
      const why =
        err instanceof z.ZodError ? "expected [{ key, userId, admin?, id? }]" : (err as Error).message;
      throw new Error(`CHUK_API_KEYS_FILE ${file}: ${why}`);
    }
    keys.push(...(Array.isArray(parsed) ? parsed : parsed.keys));
    sources.push(`CHUK_API_KEYS_FILE (${file})`);
  }
  return { keys, sources };
}

/** A fresh key for a server started without any: 256 random bits. */
export function generateApiKey(): string {
  return `ca_${randomBytes(32).toString("base64url")}`;
}

export const SECRET_FILE = "_signing-secret";

/**
 * The secret a standalone server signs URLs with, and a line saying where it comes from:
 * ARTIFACT_SIGNING_SECRET; else, on filesystem storage, one kept under the root; else a random
 * one for this process (S3 presigns natively and does not need it).
 */
export async function signingSecretFor(config: ResolvedConfig): Promise<{ secret: string; note: string }> {
  if (config.signingSecret) return { secret: config.signingSecret, note: "from ARTIFACT_SIGNING_SECRET" };
  if (config.storageProvider === "filesystem") {
    const kept = await persistedSecret(config.fsRoot);
    return {
      secret: kept.secret,
      note: `${kept.created ? "generated and kept" : "kept"} in ${kept.path} (signed URLs survive restarts; set ARTIFACT_SIGNING_SECRET to choose one)`,
    };
  }
  const secret = randomBytes(32).toString("base64url");
  if (config.storageProvider === "s3" || config.storageProvider === "ibm_cos") {
    return { secret, note: "not needed (S3 signs its own URLs)" };
  }
  return {
    secret,
    note: "random for this process (signed URLs stop working on restart; set ARTIFACT_SIGNING_SECRET)",
  };
}

/**
 * The filesystem provider's signing secret, kept in a 0600 file under its root (a reserved "_"
 * name no artifact key can reach) so signed URLs survive restarts and are shared by every server
 * on the same root. Created atomically: written aside, then linked into place only if absent.
 */
export async function persistedSecret(
  fsRoot: string,
): Promise<{ secret: string; path: string; created: boolean }> {
  const root = resolve(fsRoot);
  await mkdir(root, { recursive: true });
  const path = join(root, SECRET_FILE);
  const existing = await readSecret(path);
  if (existing) return { secret: existing, path, created: false };
  const temp = join(root, `${SECRET_FILE}.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(temp, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
  try {
    await link(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    await unlink(temp).catch(() => {});
  }
  const secret = await readSecret(path);
  if (!secret)
    throw new Error(
      `${path} holds no usable secret (at least 32 characters); remove it or set ARTIFACT_SIGNING_SECRET`,
    );
  return { secret, path, created: true };
}

async function readSecret(path: string): Promise<string | null> {
  let text: string;
  try {
    text = (await readFile(path, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  // Someone loosened the file's mode: tighten it again.
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return text.length >= 32 ? text : null;
}

export const API_KEY_FILE = "_api-key";

const keptKeySchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  userId: z.string(),
  admin: z.boolean(),
  createdAt: z.string(),
});

/**
 * The key a standalone server generates when none is configured, kept under the filesystem root
 * beside the signing secret so clients configured with it keep working after a restart. Only its
 * sha256 is written (0600, reserved "_" name): the key itself is printed once, when it is made,
 * and cannot be read back from the file. `rotate` replaces it.
 */
export async function keptApiKey(
  fsRoot: string,
  principal: Principal,
  options: { rotate?: boolean } = {},
): Promise<{ authenticate: Authenticate; path: string; principal: Principal; key: string | null }> {
  const root = resolve(fsRoot);
  await mkdir(root, { recursive: true });
  const path = join(root, API_KEY_FILE);
  if (!options.rotate) {
    const kept = await readKeptKey(path);
    if (kept) {
      const owner = { userId: kept.userId, admin: kept.admin, keyId: keyIdOfDigest(kept.sha256) };
      return { authenticate: digestAuthenticate(kept.sha256, owner), path, principal: owner, key: null };
    }
  }
  const key = generateApiKey();
  const record = { sha256: sha256Hex(key), ...principal, createdAt: new Date().toISOString() };
  const temp = join(root, `${API_KEY_FILE}.${randomBytes(6).toString("hex")}.tmp`);
  await writeFile(temp, `${JSON.stringify(record)}\n`, { mode: 0o600, flag: "wx" });
  await rename(temp, path); // atomic: a reader sees the old key or the new one
  const owner = { ...principal, keyId: keyIdOfDigest(record.sha256) };
  return { authenticate: digestAuthenticate(record.sha256, owner), path, principal: owner, key };
}

async function readKeptKey(path: string): Promise<z.infer<typeof keptKeySchema> | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    return keptKeySchema.parse(JSON.parse(text));
  } catch {
    throw new Error(`${path} is not a kept API key; remove it, or start with --rotate-key`);
  }
}

/** Accepts `Authorization: Bearer <key>` when the key's sha256 is `hex`, compared in constant time. */
function digestAuthenticate(hex: string, principal: Principal): Authenticate {
  const expected = Buffer.from(hex, "hex");
  return (request) => {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(request.headers.get("authorization") ?? "");
    if (!match) return null;
    return timingSafeEqual(Buffer.from(sha256Hex(match[1]!), "hex"), expected) ? principal : null;
  };
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
