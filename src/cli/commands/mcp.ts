import { parseArgs } from "node:util";
import { type ResolvedConfig, readServerEnvironment } from "../../config.js";
import { ArtifactStore } from "../../store.js";
import {
  DEFAULT_USER,
  helpRequested,
  parseTtl,
  reportError,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  storeOptionsFrom,
  wholeNumber,
} from "../args.js";
import { personalStore, storageLine, ttlLine } from "../defaults.js";
import { warmSearchInBackground } from "../warm-search.js";

const HELP = `usage: chuk-artifacts mcp [options]

Runs the MCP server on stdio (standard input and output carry only the protocol; logs go to
standard error). Tools: upload_file, write_file, read_file, list_files, get_metadata,
update_metadata, copy_file, move_file, delete_file, presign_download, presign_upload,
register_upload; resources: artifact://{sessionId}/{artifactId}.

Every call works inside one artifact session owned by one user:
  --user ID             the user (default: $CHUK_MCP_USER, else "local")
  --session ID          the session (default: user_ID, the user's own; created on first use)
  --admin               a trusted connection: it may create shared files (scope "sandbox");
                        without it such a call is refused and nothing is stored
  --max-read-bytes N    most bytes one read returns (default 1048576; read bigger files in parts)
  --max-upload-bytes N  most bytes one upload_file/write_file call takes (default 10485760)
  --page-size N         artifacts per resources/list page and list_files default (default 50)
  --ttl SECONDS|never   default expiry of new artifacts (default never; ARTIFACT_TTL)

Storage: unlike the library's memory default, files are kept on the filesystem under
./artifacts (ARTIFACT_FS_ROOT, --fs-root), so they outlive one client process. --provider (or
ARTIFACT_PROVIDER) chooses another; --provider memory keeps nothing after exit.

Signed URLs (presign_download, presign_upload) on memory and filesystem storage point at
ARTIFACT_PUBLIC_URL (default http://127.0.0.1:8080, where "chuk-artifacts serve" listens by
default): run serve on the same folder to answer them. Without ARTIFACT_SIGNING_SECRET both
sign with the secret kept in the folder (_signing-secret), so they agree. S3 URLs need no server.

Example client configuration:
  { "command": "npx", "args": ["chuk-artifacts", "mcp", "--user", "alice"] }

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseArgs({
    args: argv,
    options: {
      ...STORE_FLAGS,
      user: { type: "string" },
      session: { type: "string" },
      admin: { type: "boolean" },
      "max-read-bytes": { type: "string" },
      "max-upload-bytes": { type: "string" },
      "page-size": { type: "string" },
      ttl: { type: "string" },
    },
    allowPositionals: false,
  });
  if (helpRequested(parsed.values, HELP)) return 0;
  const { values } = parsed;

  // Standard output belongs to the protocol from here on: anything printed by accident goes to
  // standard error instead of corrupting the message stream.
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;

  const env = readServerEnvironment();
  const userId = values.user ?? env.mcpUser ?? DEFAULT_USER;
  const limits = {
    maxReadBytes: positive(values["max-read-bytes"], "--max-read-bytes"),
    maxUploadBytes: positive(values["max-upload-bytes"], "--max-upload-bytes"),
    listPageSize: positive(values["page-size"], "--page-size"),
  };

  let store: ArtifactStore;
  let config: ResolvedConfig;
  let stopping = false;
  try {
    // The defaults serve and the file commands share: the same folder, the same kept signing
    // secret (so URLs printed here are accepted by serve on that folder), no expiry.
    const ttl = values.ttl === undefined ? undefined : parseTtl(values.ttl, "--ttl");
    const personal = await personalStore(storeOptionsFrom(values), ttl, env);
    config = personal.config;
    store = new ArtifactStore(personal.options);
  } catch (err) {
    return reportError(err);
  }
  try {
    // A provider that cannot start (no bucket, Redis unreachable) fails here, before serving.
    await store.backends();
    // Loaded only here, so other commands never pay for the MCP SDK.
    const { serveMcpStdio } = await import("../../mcp/stdio.js");
    console.error(
      `chuk-artifacts mcp: user ${userId}${values.admin ? " (admin)" : ""}, session ${values.session ?? `user_${userId}`}; ` +
        `storage: ${storageLine(config)}; sessions: ${store.sessionProviderName}; ` +
        `expiry: ${ttlLine(config)}; signed URLs: ${config.publicUrl}`,
    );
    warmSearchInBackground(store, config, "mcp", () => stopping);
    await serveMcpStdio(store, {
      userId,
      ...(values.session !== undefined && { sessionId: values.session }),
      ...(values.admin === true && { admin: true }),
      ...(limits.maxReadBytes !== undefined && { maxReadBytes: limits.maxReadBytes }),
      ...(limits.maxUploadBytes !== undefined && { maxUploadBytes: limits.maxUploadBytes }),
      ...(limits.listPageSize !== undefined && { listPageSize: limits.listPageSize }),
    });
    return 0;
  } catch (err) {
    return reportError(err);
  } finally {
    stopping = true;
    await store.close();
  }
}

function positive(value: string | undefined, flag: string): number | undefined {
  return value === undefined ? undefined : wholeNumber(value, flag, 1);
}
