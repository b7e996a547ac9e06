import type { SessionProvider } from "./sessions/provider.js";
import type { StorageDriver } from "./storage/driver.js";
import type { StorageProvider } from "./storage/provider.js";

/** The two providers a store works over, opened on first use (so heavy SDKs load only when chosen). */
export interface Backends {
  storage: StorageProvider;
  sessions: SessionProvider;
  /** The driver under `storage`, for the few things kept beside artifacts (the webhook outbox). */
  driver: StorageDriver;
}

export type BackendsGetter = () => Promise<Backends>;
