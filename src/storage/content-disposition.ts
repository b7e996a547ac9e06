/**
 * A Content-Disposition value that downloads as `filename`. Filenames are metadata, not paths: only
 * the last segment is used. The quoted form is a plain-ASCII fallback with quotes, backslashes and
 * anything unprintable replaced; `filename*` (RFC 6266 / 8187) carries the exact UTF-8 name.
 */
export function attachmentDisposition(filename: string | null | undefined): string {
  const base = (filename ?? "").split(/[\\/]/).pop() || "download";
  const ascii = base.replace(/[^\x20-\x7e]|["\\%;]/g, "_");
  const encoded = encodeURIComponent(base).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
