import { ConflictError } from "../errors.js";
import type { ArtifactRecord } from "../metadata.js";

/**
 * A metadata-only write carries the sha256 its caller read. If the stored content changed since
 * (a concurrent content update), committing it would pair the old record with the new bytes, so
 * the write is refused as a lost race instead.
 */
export function assertContentUnchanged(previous: ArtifactRecord | undefined, next: ArtifactRecord): void {
  if (previous && previous.status === "ready" && next.status === "ready" && previous.sha256 !== next.sha256) {
    throw new ConflictError(
      `artifact ${next.artifactId} changed while its metadata was being updated; retry`,
    );
  }
}
