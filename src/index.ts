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
  SessionUnavailableError,
  ValidationError,
} from "./errors.js";
export { type ParsedGridKey, parseGridKey } from "./grid.js";
export { createHttpHandler, type HttpHandlerOptions } from "./http/app.js";
export type { ApiKey, Authenticate, Principal } from "./http/auth.js";
export { LOOPBACK_HOSTS } from "./http/host-check.js";
export type { ArtifactMetadata } from "./metadata.js";
export type { MultipartPart, PartReceipt } from "./multipart.js";
export {
  filesystemStorage,
  memorySessions,
  memoryStorage,
  redisSessions,
  type SessionFactory,
  type StorageFactory,
  s3Storage,
} from "./providers.js";
export type { SessionProvider, SessionRecord } from "./sessions/provider.js";
export type { DriverCapabilities, StorageDriver } from "./storage/driver.js";
export type { StorageCapabilities, StorageProvider } from "./storage/provider.js";
export {
  type AccessContext,
  type ArtifactPage,
  ArtifactStore,
  type AtVersion,
  type BatchItem,
  type Checkpoint,
  type CheckpointRestore,
  type IfMatch,
  type MultipartUploadInfo,
  type PresignedUpload,
  type PresignUploadOptions,
  type RangeChooser,
  type RegisterUploadOptions,
  type Scope,
  type StoreOptions,
  type UpdateFileOptions,
  type UpdateMetadataOptions,
  type VersionInfo,
} from "./store.js";
