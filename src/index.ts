export {
  AUDIT_EVENT_TYPES,
  type AuditActor,
  type AuditEvent,
  type AuditEventType,
  type AuditListener,
  type AuditScope,
  withAuditScope,
} from "./audit/event.js";
export { jsonLinesFile, type LineSink, type RotationOptions, stdoutSink } from "./audit/sinks.js";
export type { AuditTrail } from "./audit/trail.js";
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
  QuotaExceededError,
  SessionError,
  SessionUnavailableError,
  ValidationError,
} from "./errors.js";
export { type ParsedGridKey, parseGridKey } from "./grid.js";
export { createHttpHandler, type HttpHandlerOptions } from "./http/app.js";
export { type ApiKey, type Authenticate, apiKeyId, type Principal } from "./http/auth.js";
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
export type { QuotaOptions, Usage } from "./quotas.js";
export type { SearchOptions, SearchQuery } from "./search/query.js";
export type { SearchPage } from "./search/search.js";
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
export {
  type DeliveryLogEntry,
  startWebhooks,
  WebhookDelivery,
  type WebhookOptions,
} from "./webhooks/delivery.js";
export {
  signWebhook,
  verifyWebhook,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  WebhookVerificationError,
} from "./webhooks/signature.js";
