import type { SessionProvider } from "./sessions/provider.js";
import type { StorageProvider } from "./storage/provider.js";

/** The two providers a store works over, opened on first use (so heavy SDKs load only when chosen). */
export interface Backends {
  storage: StorageProvider;
  sessions: SessionProvider;
}

export type BackendsGetter = () => Promise<Backends>;
