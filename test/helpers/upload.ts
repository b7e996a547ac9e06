import type { ArtifactRecord } from "../../src/metadata.js";
import type { StorageProvider } from "../../src/storage/provider.js";
import { single } from "./bytes.js";

/**
 * Puts `data` into a pending upload slot the way a client's PUT reaches it: straight to the
 * backend through a native presigned URL where the provider issues those, otherwise through
 * `put` of the pending record, which is what the store's own signed-URL handler does.
 */
export async function uploadAsClient(
  provider: StorageProvider,
  pending: ArtifactRecord,
  data: Uint8Array,
): Promise<void> {
  if (provider.capabilities.nativePresign && provider.presignPut) {
    const url = await provider.presignPut(pending.key, { expires: 300, mime: null, maxBytes: null });
    const response = await fetch(url, { method: "PUT", body: new Uint8Array(data) });
    if (!response.ok) {
      throw new Error(`presigned PUT answered ${response.status}: ${await response.text()}`);
    }
    return;
  }
  await provider.put(pending, single(data));
}
