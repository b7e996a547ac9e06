import type { Context, MiddlewareHandler } from "hono";
import { HttpError } from "./errors.js";

/**
 * Caps the uploads in flight, per owner and in total. An upload holds a socket and a file (or an
 * S3 stream) for as long as its client takes to send the body; a client that sends a byte every
 * few seconds would otherwise hold them without bound. Past a cap the answer is 429 with
 * Retry-After, before any of the body is read.
 */
export class UploadSlots {
  private readonly byOwner = new Map<string, number>();
  private total = 0;

  constructor(
    readonly perOwner: number,
    readonly maxTotal: number,
  ) {
    for (const [name, n] of [
      ["uploads per key", perOwner],
      ["uploads in total", maxTotal],
    ] as const) {
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a whole number of at least 1`);
    }
  }

  /** Takes a slot for `owner`; returns its release, or null when a cap is reached. */
  acquire(owner: string): (() => void) | null {
    const held = this.byOwner.get(owner) ?? 0;
    if (held >= this.perOwner || this.total >= this.maxTotal) return null;
    this.byOwner.set(owner, held + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.byOwner.get(owner) ?? 1) - 1;
      if (left === 0) this.byOwner.delete(owner);
      else this.byOwner.set(owner, left);
    };
  }
}

const RETRY_AFTER_SECONDS = 5;

/** Holds a slot for the whole request (the handler returns once the body is stored or refused). */
export function limitUploads(slots: UploadSlots, ownerOf: (c: Context) => string): MiddlewareHandler {
  return async (c, next) => {
    const release = slots.acquire(ownerOf(c));
    if (!release) {
      throw new HttpError(429, "TOO_MANY_REQUESTS", "too many uploads in progress; try again shortly", {
        "retry-after": String(RETRY_AFTER_SECONDS),
      });
    }
    try {
      await next();
    } finally {
      release();
    }
  };
}
