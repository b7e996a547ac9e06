import { randomBytes, randomFillSync } from "node:crypto";

/**
 * Random hex strings (ids, etags, revision names) from a pooled CSPRNG buffer: one getrandom call
 * per 4 KiB instead of one per id, which costs several microseconds a call in some VMs (about
 * 17 µs measured on a 2-CPU microVM, more than the rest of an in-memory store). Every byte is
 * handed out once.
 */
const POOL = Buffer.allocUnsafe(4096);
let offset = POOL.length;

export function randomHex(bytes: number): string {
  if (bytes > 256) return randomBytes(bytes).toString("hex");
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString("hex", offset, offset + bytes);
  offset += bytes;
  return hex;
}
