import type { RecordStore } from "./records.js";
import type { SessionProvider } from "./sessions/provider.js";
import type { StorageDriver } from "./storage/driver.js";

/** The two providers a store works over, opened on first use (so heavy SDKs load only when chosen). */
export interface Backends {
  storage: RecordStore;
  sessions: SessionProvider;
  /** The driver under `storage`, for the few things kept beside artifacts (the webhook outbox). */
  driver: StorageDriver;
}

export type BackendsGetter = () => Promise<Backends>;
/** The providers when they are open already; null before first use and after close. */
export type OpenBackends = () => Backends | null;
