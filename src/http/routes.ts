import { createRoute } from "@hono/zod-openapi";
import {
  AbortRequest,
  ArtifactIdParam,
  ArtifactMetadata,
  Binary,
  Checkpoint,
  CheckpointCreate,
  CheckpointList,
  CheckpointParams,
  CheckpointRestore,
  Completed,
  CompleteRequest,
  CopyRequest,
  ErrorBody,
  ListQuery,
  MetadataUpdate,
  MoveRequest,
  MultipartUpload,
  Page,
  PartUrl,
  PartUrlRequest,
  PresignedDownload,
  PresignedUpload,
  PresignRequest,
  RegisterRequest,
  SearchQueryParams,
  SearchResults,
  Session,
  SessionCreate,
  SessionIdParam,
  UploadForm,
  UploadQuery,
  UploadRequest,
  UsageQuery,
  UsageReport,
  VersionList,
  VersionParams,
  VersionQuery,
  Whoami,
} from "./schemas.js";

/**
 * The REST API's routes (paths relative to /v1): method, path, parameters, bodies and answers.
 * The handlers in rest.ts and uploads.ts are bound to these, so what /openapi.json says is what
 * the server checks.
 */

const json = <T>(schema: T) => ({ "application/json": { schema } });
const error = (description: string) => ({ description, content: json(ErrorBody) });
const body = <T>(schema: T, required = true) => ({ body: { required, content: json(schema) } });

export const errors = {
  400: error("Invalid input (VALIDATION_ERROR, INVALID_KEY)"),
  401: error("Missing or invalid API key (UNAUTHORIZED)"),
  403: error(
    "A bad signature (SIGNATURE_INVALID), another user's artifact (ACCESS_DENIED), or a Host or Origin " +
      "this server does not answer to (HOST_NOT_ALLOWED, ORIGIN_NOT_ALLOWED)",
  ),
  404: error(
    "No such artifact or upload (ARTIFACT_NOT_FOUND), or a session that does not exist or is not the caller's " +
      "(SESSION_NOT_FOUND: the same answer for both)",
  ),
  409: error("The session exists already, the upload URL was used, or nothing was uploaded yet (CONFLICT)"),
  410: error("Expired artifact (ARTIFACT_EXPIRED) or URL (URL_EXPIRED)"),
  412: error("If-Match names an etag the artifact no longer has; nothing was written (PRECONDITION_FAILED)"),
  413: error(
    "Body over a limit (PAYLOAD_TOO_LARGE), or a write past the user's or session's quota (QUOTA_EXCEEDED); nothing stored",
  ),
  415: error("Content-Type differs from the signed or accepted one (UNSUPPORTED_MEDIA_TYPE)"),
  416: error("Range past the end (RANGE_NOT_SATISFIABLE); Content-Range: bytes */size"),
  host: error("A Host or Origin this server does not answer to (HOST_NOT_ALLOWED, ORIGIN_NOT_ALLOWED)"),
  429: error("Too many failed authentications or uploads at once; see Retry-After (TOO_MANY_REQUESTS)"),
  502: error(
    "Storage or sessions failed (PROVIDER_ERROR), or stored bytes failed their checksum (ARTIFACT_CORRUPTED, 500)",
  ),
};

const common = { 400: errors[400], 401: errors[401], 403: errors[403], 429: errors[429], 502: errors[502] };
const found = { ...common, 404: errors[404], 410: errors[410] };
const bearer = [{ bearer: [] }];

export const whoami = createRoute({
  operationId: "whoami",
  method: "get",
  path: "/whoami",
  summary: "The user the key acts for",
  security: bearer,
  responses: {
    200: { description: "The principal", content: json(Whoami) },
    401: errors[401],
    403: errors[403],
    429: errors[429],
  },
});

export const listOwn = createRoute({
  operationId: "listOwn",
  method: "get",
  path: "/artifacts",
  summary: "List a session: the caller's own (`user_{userId}`) unless `sessionId` names another of theirs",
  security: bearer,
  request: {
    query: ListQuery.extend({ sessionId: UploadQuery.shape.sessionId, scope: UploadQuery.shape.scope }),
  },
  responses: { 200: { description: "A page", content: json(Page) }, ...common, 404: errors[404] },
});

export const createSession = createRoute({
  operationId: "createSession",
  method: "post",
  path: "/sessions",
  summary: "Create a session owned by the caller (needed first when the server requires explicit sessions)",
  security: bearer,
  request: body(SessionCreate, false),
  responses: {
    201: { description: "Created", content: json(Session) },
    ...common,
    409: errors[409],
    413: errors[413],
    415: errors[415],
  },
});

export const listSession = createRoute({
  operationId: "listSession",
  method: "get",
  path: "/sessions/{sessionId}/artifacts",
  summary: "List a session's artifacts in key order, a page at a time",
  security: bearer,
  request: { params: SessionIdParam, query: ListQuery },
  responses: { 200: { description: "A page", content: json(Page) }, ...common, 404: errors[404] },
});

export const download = createRoute({
  operationId: "download",
  method: "get",
  path: "/artifacts/{id}",
  summary:
    "Download (streamed; Range, If-None-Match and HEAD as for signed URLs); ?version= an earlier version. ETag: the artifact's etag",
  security: bearer,
  request: { params: ArtifactIdParam, query: VersionQuery },
  responses: {
    200: { description: "The bytes", content: { "*/*": { schema: Binary } } },
    206: { description: "The requested range" },
    304: { description: "Not modified" },
    ...found,
    416: errors[416],
  },
});

export const replace = createRoute({
  operationId: "replace",
  method: "put",
  path: "/artifacts/{id}",
  summary: "Replace the content (streamed); size and sha256 are recomputed, Content-Type becomes the mime",
  security: bearer,
  request: {
    params: ArtifactIdParam,
    body: { required: true, content: { "*/*": { schema: Binary } } },
  },
  responses: {
    200: { description: "Replaced", content: json(ArtifactMetadata) },
    ...found,
    412: errors[412],
    413: errors[413],
    429: errors[429],
  },
});

export const metadata = createRoute({
  operationId: "metadata",
  method: "get",
  path: "/artifacts/{id}/metadata",
  summary: "Metadata (ETag: the artifact's etag); ?version= an earlier version's",
  security: bearer,
  request: { params: ArtifactIdParam, query: VersionQuery },
  responses: { 200: { description: "Metadata", content: json(ArtifactMetadata) }, ...found },
});

export const update = createRoute({
  operationId: "update",
  method: "patch",
  path: "/artifacts/{id}",
  summary: "Update metadata; system fields (key, sessionId, sha256, bytes, …) are refused with 400",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(MetadataUpdate) },
  responses: {
    200: { description: "Updated", content: json(ArtifactMetadata) },
    ...found,
    412: errors[412],
    413: errors[413],
    415: errors[415],
  },
});

export const remove = createRoute({
  operationId: "remove",
  method: "delete",
  path: "/artifacts/{id}",
  summary: "Delete",
  security: bearer,
  request: { params: ArtifactIdParam },
  responses: { 204: { description: "Deleted" }, ...common, 404: errors[404], 412: errors[412] },
});

export const copy = createRoute({
  operationId: "copy",
  method: "post",
  path: "/artifacts/{id}/copy",
  summary: "Copy within the same session (another target session is 403)",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(CopyRequest, false) },
  responses: {
    201: { description: "The copy", content: json(ArtifactMetadata) },
    ...found,
    413: errors[413],
    415: errors[415],
  },
});

export const move = createRoute({
  operationId: "move",
  method: "post",
  path: "/artifacts/{id}/move",
  summary: "Rename and/or add meta keys, within the session",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(MoveRequest) },
  responses: {
    200: { description: "Moved", content: json(ArtifactMetadata) },
    ...found,
    413: errors[413],
    415: errors[415],
  },
});

export const presign = createRoute({
  operationId: "presign",
  method: "post",
  path: "/artifacts/{id}/presign",
  summary: "A signed download URL (S3: native SigV4; memory/filesystem: this server's /signed/)",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(PresignRequest, false) },
  responses: {
    200: { description: "The URL", content: json(PresignedDownload) },
    ...found,
    413: errors[413],
    415: errors[415],
  },
});

export const upload = createRoute({
  operationId: "upload",
  method: "post",
  path: "/artifacts",
  summary: "Upload an artifact (streamed)",
  description:
    "Either a raw body (fields in the query; the type from `mime` or Content-Type), or multipart/form-data with " +
    "text fields `sessionId`, `scope`, `filename`, `mime`, `summary`, `ttl`, `meta` *before* a `file` part (its " +
    "filename and type are the defaults). Without `sessionId` or `scope` the artifact goes to the caller's own " +
    'session; `scope` "user" keeps it as the caller\'s own across sessions, "sandbox" shares it (admin keys only).',
  security: bearer,
  request: {
    query: UploadQuery,
    body: {
      required: true,
      content: { "multipart/form-data": { schema: UploadForm }, "*/*": { schema: Binary } },
    },
  },
  responses: {
    201: { description: "Stored", content: json(ArtifactMetadata) },
    ...common,
    404: errors[404],
    413: errors[413],
  },
});

export const reserveUpload = createRoute({
  operationId: "reserveUpload",
  method: "post",
  path: "/uploads",
  summary: "Reserve an artifact and get a single-use URL to PUT its bytes to",
  security: bearer,
  request: body(UploadRequest, false),
  responses: {
    201: { description: "The upload URL", content: json(PresignedUpload) },
    ...common,
    404: errors[404],
    413: errors[413],
    415: errors[415],
  },
});

export const registerUpload = createRoute({
  operationId: "registerUpload",
  method: "post",
  path: "/uploads/{id}/register",
  summary: "Make an uploaded artifact visible, recording the size and sha256 of what was uploaded",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(RegisterRequest, false) },
  responses: {
    201: { description: "Registered", content: json(ArtifactMetadata) },
    ...common,
    404: errors[404],
    409: errors[409],
    413: errors[413],
    415: errors[415],
  },
});

export const startMultipart = createRoute({
  operationId: "startMultipart",
  method: "post",
  path: "/multipart",
  summary: "Start a multipart upload (S3-native on S3; parts kept by this server elsewhere)",
  security: bearer,
  request: body(UploadRequest, false),
  responses: {
    201: { description: "Started", content: json(MultipartUpload) },
    ...common,
    404: errors[404],
    413: errors[413],
    415: errors[415],
  },
});

export const partUrl = createRoute({
  operationId: "partUrl",
  method: "post",
  path: "/multipart/{id}/parts",
  summary: "A URL to PUT one part to; the PUT answers with the part's ETag",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(PartUrlRequest) },
  responses: {
    200: { description: "The part URL", content: json(PartUrl) },
    ...common,
    404: errors[404],
    409: errors[409],
    413: errors[413],
    415: errors[415],
  },
});

export const completeMultipart = createRoute({
  operationId: "completeMultipart",
  method: "post",
  path: "/multipart/{id}/complete",
  summary: "Join the parts (ascending partNumber, each with its ETag); then register the upload",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(CompleteRequest) },
  responses: {
    200: { description: "Completed", content: json(Completed) },
    ...common,
    404: errors[404],
    409: errors[409],
    413: errors[413],
    415: errors[415],
  },
});

export const abortMultipart = createRoute({
  operationId: "abortMultipart",
  method: "post",
  path: "/multipart/{id}/abort",
  summary: "Abandon a multipart upload: its parts and its reserved artifact are removed",
  security: bearer,
  request: { params: ArtifactIdParam, ...body(AbortRequest) },
  responses: {
    204: { description: "Aborted" },
    ...common,
    404: errors[404],
    409: errors[409],
    413: errors[413],
    415: errors[415],
  },
});

export const usage = createRoute({
  operationId: "usage",
  method: "get",
  path: "/usage",
  summary: "Bytes and artifacts the caller (or one of their sessions) holds, with the quota",
  security: bearer,
  request: { query: UsageQuery },
  responses: { 200: { description: "Usage", content: json(UsageReport) }, ...common, 404: errors[404] },
});

export const search = createRoute({
  operationId: "search",
  method: "get",
  path: "/search",
  summary: "Find the caller's artifacts by type, filename, meta, date and text, newest first",
  security: bearer,
  request: { query: SearchQueryParams },
  responses: {
    200: { description: "A page of results", content: json(SearchResults) },
    ...common,
    404: errors[404],
  },
});

export const listVersions = createRoute({
  operationId: "listVersions",
  method: "get",
  path: "/artifacts/{id}/versions",
  summary: "The versions kept of an artifact, newest first",
  security: bearer,
  request: { params: ArtifactIdParam },
  responses: { 200: { description: "Versions", content: json(VersionList) }, ...found },
});

export const restoreVersion = createRoute({
  operationId: "restoreVersion",
  method: "post",
  path: "/artifacts/{id}/versions/{version}/restore",
  summary: "Make a new version with the content of an earlier one",
  security: bearer,
  request: { params: VersionParams },
  responses: { 200: { description: "The new version", content: json(ArtifactMetadata) }, ...found },
});

export const createCheckpoint = createRoute({
  operationId: "createCheckpoint",
  method: "post",
  path: "/sessions/{sessionId}/checkpoints",
  summary: "Record the version of every artifact of a session",
  security: bearer,
  request: { params: SessionIdParam, ...body(CheckpointCreate, false) },
  responses: { 201: { description: "The checkpoint", content: json(Checkpoint) }, ...found },
});

export const listCheckpoints = createRoute({
  operationId: "listCheckpoints",
  method: "get",
  path: "/sessions/{sessionId}/checkpoints",
  summary: "A session's checkpoints, newest first",
  security: bearer,
  request: { params: SessionIdParam },
  responses: { 200: { description: "Checkpoints", content: json(CheckpointList) }, ...found },
});

export const restoreCheckpoint = createRoute({
  operationId: "restoreCheckpoint",
  method: "post",
  path: "/sessions/{sessionId}/checkpoints/{checkpointId}/restore",
  summary: "Bring every artifact back to its recorded version; delete the ones created after",
  security: bearer,
  request: { params: CheckpointParams },
  responses: { 200: { description: "What was restored", content: json(CheckpointRestore) }, ...found },
});
