export type { ArtifactData } from "./body.js";
export {
  type ArtifactStoreOptions,
  configureFilesystem,
  configureIbmCos,
  configureMemory,
  configureRedisSession,
  configureS3,
  resetConfiguration,
  type S3Options,
  type SessionProviderName,
  type StorageProviderName,
} from "./config.js";
export {
  AccessDeniedError,
  ArtifactCorruptedError,
  ArtifactExpiredError,
  ArtifactNotFoundError,
  ArtifactStoreError,
  ConflictError,
  type ErrorCode,
  ProviderError,
  SessionError,
  ValidationError,
} from "./errors.js";
export { type ParsedGridKey, parseGridKey } from "./grid.js";
export type { ArtifactMetadata } from "./metadata.js";
export type { SessionProvider, SessionRecord } from "./sessions/provider.js";
export type { StorageCapabilities, StorageProvider } from "./storage/provider.js";
export {
  type AccessContext,
  type ArtifactPage,
  ArtifactStore,
  type BatchItem,
  type PresignedUpload,
  type PresignUploadOptions,
  type RegisterUploadOptions,
  type StoreOptions,
  type UpdateFileOptions,
  type UpdateMetadataOptions,
} from "./store.js";
