import type { SessionProvider } from "./provider.js";

export const RedisSessionProvider = {
  async open(_url: string): Promise<SessionProvider> {
    throw new Error("the redis session provider is not implemented yet");
  },
};
