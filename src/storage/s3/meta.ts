/**
 * An object's meta text as one S3 user-metadata header. Header values must be printable ASCII,
 * and servers may fold runs of spaces, so `%`, spaces and anything outside 0x21-0x7E are
 * percent-encoded (the record layer already hands over ASCII JSON: only its spaces grow).
 */

export const META_HEADER = "chuk";

export function encodeMeta(meta: string): string {
  return meta.replace(/[^\x21-\x24\x26-\x7e]/g, (c) =>
    [...Buffer.from(c, "utf8")].map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join(""),
  );
}

export function decodeMeta(metadata: Record<string, string> | undefined): string {
  const value = metadata?.[META_HEADER];
  if (value === undefined) return "";
  try {
    return decodeURIComponent(value);
  } catch {
    return "";
  }
}
