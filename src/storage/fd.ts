import { close, fstat, fsync, open, read, type Stats, write, writev } from "node:fs";

/**
 * File operations on plain descriptors: node:fs's callback calls, each wrapped in one promise.
 * fs/promises hands out a FileHandle per open, an event emitter that can be transferred between
 * threads; opening, reading and closing a small file through one cost about 50 µs of CPU against
 * 20 µs here, and the filesystem driver does that several times per write.
 */

export function openFd(path: string, flags: string, mode?: number): Promise<number> {
  return new Promise((done, fail) => open(path, flags, mode, (err, fd) => (err ? fail(err) : done(fd))));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((done, fail) => close(fd, (err) => (err ? fail(err) : done())));
}

export function fstatFd(fd: number): Promise<Stats> {
  return new Promise((done, fail) => fstat(fd, (err, stats) => (err ? fail(err) : done(stats))));
}

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((done, fail) => fsync(fd, (err) => (err ? fail(err) : done())));
}

/** Reads up to `length` bytes at `position` into `buffer` from `offset`; resolves to how many. */
export function readFd(
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((done, fail) =>
    read(fd, buffer, offset, length, position, (err, bytes) => (err ? fail(err) : done(bytes))),
  );
}

/** Writes at the file's current position; resolves to how many bytes were written. */
export function writeFd(fd: number, buffer: Uint8Array, offset: number, length: number): Promise<number> {
  return new Promise((done, fail) =>
    write(fd, buffer, offset, length, null, (err, bytes) => (err ? fail(err) : done(bytes))),
  );
}

/** Writes every buffer in order at the file's current position, however many calls that takes. */
export async function writeAllFd(fd: number, buffers: Uint8Array[]): Promise<void> {
  let pending = buffers;
  while (pending.length > 0) {
    let written = await new Promise<number>((done, fail) =>
      writev(fd, pending, (err, bytes) => (err ? fail(err) : done(bytes))),
    );
    // A short write: drop what went out and write the rest.
    while (pending.length > 0 && written >= pending[0]!.byteLength) {
      written -= pending[0]!.byteLength;
      pending = pending.slice(1);
    }
    if (written > 0) pending = [pending[0]!.subarray(written), ...pending.slice(1)];
  }
}
