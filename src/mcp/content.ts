import { ValidationError } from "../errors.js";
import { TooLargeError } from "./errors.js";

/** How artifact bytes travel in MCP messages: text where it is text, base64 otherwise. */

const TEXT_TYPES = new Set([
  "application/json",
  "application/xml",
  "application/javascript",
  "application/ecmascript",
  "application/x-javascript",
  "application/typescript",
  "application/yaml",
  "application/x-yaml",
  "application/toml",
  "application/sql",
  "application/graphql",
  "application/x-sh",
  "application/x-httpd-php",
  "application/x-ndjson",
  "application/x-www-form-urlencoded",
]);

/** Image types an MCP client can show to a model as `image` content. */
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

function baseType(mime: string): string {
  return (mime.split(";")[0] ?? "").trim().toLowerCase();
}

export function isTextMime(mime: string): boolean {
  const base = baseType(mime);
  return base.startsWith("text/") || TEXT_TYPES.has(base) || /\+(json|xml|yaml)$/.test(base);
}

export function isImageMime(mime: string): boolean {
  return IMAGE_TYPES.has(baseType(mime));
}

/**
 * Decodes bytes as text in the mime's charset (UTF-8 when none or unknown). With `strict`, bytes
 * that are not valid in that charset give null instead of replacement characters.
 */
export function decodeText(bytes: Uint8Array, mime: string, strict: boolean): string | null {
  const charset = /;\s*charset="?([^";\s]+)"?/i.exec(mime)?.[1] ?? "utf-8";
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset, { fatal: strict });
  } catch {
    decoder = new TextDecoder("utf-8", { fatal: strict });
  }
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * For a slice cut out of UTF-8 text: how many leading continuation bytes to skip and where to end
 * so that no character is split. The end is only moved back when the slice is not the artifact's
 * last part (`atEnd` false) and something would remain.
 */
export function utf8Slice(
  bytes: Uint8Array,
  atStart: boolean,
  atEnd: boolean,
): { skip: number; end: number } {
  let skip = 0;
  if (!atStart) while (skip < 3 && skip < bytes.length && (bytes[skip]! & 0xc0) === 0x80) skip++;
  let end = bytes.length;
  if (!atEnd) {
    for (let back = 1; back <= 4 && end - back >= skip; back++) {
      const b = bytes[end - back]!;
      if ((b & 0xc0) === 0x80) continue;
      const need = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (need > back && end - back > skip) end -= back;
      break;
    }
  }
  return { skip, end };
}

/**
 * Decodes a base64 (or base64url) argument, refusing anything malformed rather than silently
 * dropping characters, and anything over `maxBytes` before decoding it.
 */
export function decodeBase64(input: string, maxBytes: number, field: string, uploadTool: string): Buffer {
  const compact = input.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new ValidationError(`${field} is not valid base64`);
  }
  const padding = compact.endsWith("==") ? 2 : compact.endsWith("=") ? 1 : 0;
  const size = Math.floor((compact.length * 3) / 4) - padding;
  if (size > maxBytes) {
    throw new TooLargeError(
      `${field} holds ${size} bytes, over this server's limit of ${maxBytes} bytes for one call; ` +
        `use ${uploadTool} to get a URL to PUT the file to instead`,
    );
  }
  return Buffer.from(compact, "base64");
}

/** True when the mime's charset is UTF-8 (or not given, the default for text here). */
export function isUtf8(mime: string): boolean {
  const charset = /;\s*charset="?([^";\s]+)"?/i.exec(mime)?.[1];
  return charset === undefined || /^utf-?8$/i.test(charset);
}

const BY_EXTENSION: Record<string, string> = {
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  markdown: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  tsv: "text/tab-separated-values; charset=utf-8",
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  ts: "text/x-typescript; charset=utf-8",
  py: "text/x-python; charset=utf-8",
  json: "application/json",
  jsonl: "application/x-ndjson",
  ndjson: "application/x-ndjson",
  xml: "application/xml",
  yaml: "application/yaml",
  yml: "application/yaml",
  toml: "application/toml",
  sql: "application/sql",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  wav: "audio/wav",
  mp3: "audio/mpeg",
  mp4: "video/mp4",
};

/** A MIME type from a filename's extension, or undefined when unknown. */
export function guessMime(filename: string | undefined): string | undefined {
  if (filename === undefined) return undefined;
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase();
  return ext === undefined ? undefined : BY_EXTENSION[ext];
}
