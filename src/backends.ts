import type { RecordStore } from "./records.js";
import type { SessionProvider } from "./sessions/provider.js";

/** The two providers a store works over, opened on first use (so heavy SDKs load only when chosen). */
export interface Backends {
  storage: RecordStore;
  sessions: SessionProvider;
}

export type BackendsGetter = () => Promise<Backends>;
