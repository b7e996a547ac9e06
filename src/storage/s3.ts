import type { ResolvedConfig } from "../config.js";
import type { StorageProvider } from "./provider.js";

export const S3StorageProvider = {
  async open(_name: string, _config: ResolvedConfig["s3"]): Promise<StorageProvider> {
    throw new Error("the s3 provider is not implemented yet");
  },
};
