import { type FileHandle, open, rename, stat, unlink } from "node:fs/promises";

/** Where JSON lines go: a file that rotates, or standard output. */
export interface LineSink {
  write(value: unknown): void;
  /** Writes what is queued and releases the file. */
  close(): Promise<void>;
}

export interface RotationOptions {
  /** Size at which the file is rotated (renamed to `path.1`, `.1` to `.2`, …). Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept beside the current one. Default 5. */
  keep?: number;
}

export const DEFAULT_ROTATE_BYTES = 10 * 1024 * 1024;
export const DEFAULT_ROTATE_KEEP = 5;

/** `-` is standard output; anything else a JSON-lines file appended to and rotated by size. */
export function openLineSink(target: string, options: RotationOptions = {}): LineSink {
  return target === "-" ? stdoutSink() : jsonLinesFile(target, options);
}

export function stdoutSink(): LineSink {
  return {
    write: (value) => {
      process.stdout.write(`${JSON.stringify(value)}\n`);
    },
    close: async () => {},
  };
}

/**
 * Appends one JSON document per line to `path`. Writes are queued in order and never block the
 * caller; a line that would take the file past `maxBytes` first rotates it. A failing disk is
 * reported once through `onError` and does not stop later writes from trying.
 */
export function jsonLinesFile(
  path: string,
  options: RotationOptions & { onError?: (err: unknown) => void } = {},
): LineSink {
  const maxBytes = options.maxBytes ?? DEFAULT_ROTATE_BYTES;
  const keep = options.keep ?? DEFAULT_ROTATE_KEEP;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1)
    throw new Error("maxBytes must be a positive whole number");
  if (!Number.isSafeInteger(keep) || keep < 0) throw new Error("keep must be a whole number");
  let handle: FileHandle | null = null;
  let size = 0;
  let queue: Promise<void> = Promise.resolve();
  let reported = false;
  const onError =
    options.onError ??
    ((err: unknown) => console.error(`chuk-artifacts: cannot write ${path}: ${(err as Error).message}`));

  const ensureOpen = async () => {
    if (handle) return handle;
    handle = await open(path, "a", 0o600);
    size = (await stat(path)).size;
    return handle;
  };

  const rotate = async () => {
    await handle?.close();
    handle = null;
    if (keep === 0) {
      await unlink(path).catch(() => {});
    } else {
      await unlink(`${path}.${keep}`).catch(() => {});
      for (let i = keep - 1; i >= 1; i--) await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => {});
      await rename(path, `${path}.1`);
    }
  };

  const append = async (line: string) => {
    const bytes = Buffer.byteLength(line);
    await ensureOpen();
    if (size > 0 && size + bytes > maxBytes) {
      await rotate();
      await ensureOpen();
    }
    await handle!.write(line);
    size += bytes;
  };

  return {
    write(value) {
      const line = `${JSON.stringify(value)}\n`;
      queue = queue.then(
        () => append(line),
        () => append(line),
      );
      queue.catch((err) => {
        if (!reported) onError(err);
        reported = true;
      });
    },
    async close() {
      await queue.catch(() => {});
      await handle?.close();
      handle = null;
    },
  };
}
