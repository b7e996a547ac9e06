import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { type ArtifactStoreOptions, readServerEnvironment } from "../../config.js";
import { createHttpHandler, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_UPLOADS } from "../../http/app.js";
import { ApiKeyring } from "../../http/auth.js";
import { LOOPBACK_HOSTS } from "../../http/host-check.js";
import { createNodeServer } from "../../http/node-server.js";
import { generateApiKey, keptApiKey, loadApiKeys } from "../../http/settings.js";
import { ArtifactStore } from "../../store.js";
import {
  helpRequested,
  parseTtl,
  STORE_FLAGS,
  STORE_FLAGS_HELP,
  storeOptionsFrom,
  UsageError,
  wholeNumber,
} from "../args.js";
import { AUDIT_FLAGS, AUDIT_FLAGS_HELP, checkAuditFlags, startAuditOutputs } from "../audit-outputs.js";
import { personalStore, storageLine, ttlLine } from "../defaults.js";
import { warmSearchInBackground } from "../warm-search.js";

/** Who a generated key acts for: the same user the CLI and `mcp` default to, as an admin. */
const GENERATED_PRINCIPAL = { userId: "local", admin: true };

const HELP = `usage: chuk-artifacts serve [options]

Runs the HTTP server: signed URLs, the REST API (/v1), MCP (/mcp), /healthz, /readyz,
/openapi.json and the web console (/). Without configuration it stores files under ./artifacts.

  --host HOST                 address to bind (default 127.0.0.1: loopback only)
  --port PORT                 port (default 8080; 0 picks a free one)
  --max-upload-bytes N        largest upload body (default ${DEFAULT_MAX_UPLOAD_BYTES})
  --request-timeout SECONDS   time a client gets to send a whole request (default 3600)
  --idle-timeout SECONDS      a connection silent this long is closed (default 120)
  --ttl SECONDS|never         default expiry of new artifacts (default never; ARTIFACT_TTL)
  --rotate-key                replace the kept API key with a new one (printed once)
  --no-console                do not serve the web console
  --allowed-hosts LIST        host names (or host:port) clients may use, comma-separated; other
                              Host or Origin headers get 403 (DNS-rebinding guard). On by default
                              for loopback binds (localhost, 127.0.0.1, [::1] and ARTIFACT_PUBLIC_URL's
                              host); '*' turns the check off
  --trust-proxy LIST          addresses of reverse proxies whose X-Forwarded-For is believed
  --max-uploads-per-key N     uploads in flight per user (signed PUTs: per session) (default 16)
  --max-uploads N             uploads in flight in total (default 256)
  --require-sessions          named sessions must be created first (POST /v1/sessions, or the MCP
                              tool); writing to an unknown one is 404 instead of creating it
${AUDIT_FLAGS_HELP}
  --quota-user-bytes N        bytes each user may hold (ARTIFACT_QUOTA_USER_BYTES); past it: 413
  --quota-user-artifacts N    artifacts each user may hold (ARTIFACT_QUOTA_USER_ARTIFACTS)
  --quota-session-bytes N     bytes each session may hold (ARTIFACT_QUOTA_SESSION_BYTES)
  --quota-session-artifacts N artifacts each session may hold (ARTIFACT_QUOTA_SESSION_ARTIFACTS)

API keys: CHUK_API_KEYS="key=user,…", CHUK_ADMIN_KEYS="key,…", CHUK_API_KEYS_FILE=keys.json.
With none, an admin key for user "local" is generated and printed once; on filesystem storage
only its sha256 is kept (ROOT/_api-key), so it stays valid across restarts. Signed URLs point at ARTIFACT_PUBLIC_URL,
else at the address the server listens on.

${STORE_FLAGS_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...STORE_FLAGS,
      host: { type: "string" },
      port: { type: "string" },
      "max-upload-bytes": { type: "string" },
      "request-timeout": { type: "string" },
      "idle-timeout": { type: "string" },
      "no-console": { type: "boolean" },
      "rotate-key": { type: "boolean" },
      ttl: { type: "string" },
      "allowed-hosts": { type: "string" },
      "trust-proxy": { type: "string" },
      "max-uploads-per-key": { type: "string" },
      "max-uploads": { type: "string" },
      "require-sessions": { type: "boolean" },
      ...AUDIT_FLAGS,
      "quota-user-bytes": { type: "string" },
      "quota-user-artifacts": { type: "string" },
      "quota-session-bytes": { type: "string" },
      "quota-session-artifacts": { type: "string" },
    },
  });
  if (helpRequested(values, HELP)) return 0;
  const env = readServerEnvironment();
  checkAuditFlags(values, env);
  const host = values.host ?? "127.0.0.1";
  const port = wholeNumber(values.port ?? "8080", "--port");
  const maxUploadBytes =
    values["max-upload-bytes"] === undefined
      ? undefined
      : wholeNumber(values["max-upload-bytes"], "--max-upload-bytes");
  const requestTimeoutMs = wholeNumber(values["request-timeout"] ?? "3600", "--request-timeout") * 1000;
  const idleTimeoutMs = wholeNumber(values["idle-timeout"] ?? "120", "--idle-timeout") * 1000;

  const ttl = values.ttl === undefined ? undefined : parseTtl(values.ttl, "--ttl");
  const base = storeOptionsFrom(values);
  if (values["require-sessions"]) base.requireExplicitSessions = true;
  const quotas = quotaFlags(values);
  if (quotas) base.quotas = quotas;
  const { options: storeOptions, config, secretNote } = await personalStore(base, ttl, env);
  const { keys, sources } = await loadApiKeys(env);
  new ApiKeyring(keys); // refuses short or duplicate keys before anything binds
  // No key configured: the one kept beside the files (filesystem), else one for this process.
  let kept: Awaited<ReturnType<typeof keptApiKey>> | null = null;
  let processKey: string | null = null;
  if (values["rotate-key"] && keys.length > 0)
    throw new UsageError(
      `--rotate-key replaces the generated key; these keys come from ${sources.join(", ")}`,
    );
  if (keys.length === 0) {
    if (config.storageProvider === "filesystem") {
      kept = await keptApiKey(config.fsRoot, GENERATED_PRINCIPAL, { rotate: values["rotate-key"] === true });
    } else {
      processKey = generateApiKey();
      keys.push({ key: processKey, ...GENERATED_PRINCIPAL });
    }
  }

  let handler: ReturnType<typeof createHttpHandler> | null = null;
  const server = createNodeServer(() => handler);
  // Slow or stalled clients are cut off: headers within 30 s, a whole request within the request
  // timeout, and any connection that stays silent past the idle timeout (no 'timeout' listener:
  // Node destroys the socket).
  server.headersTimeout = 30_000;
  server.requestTimeout = requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.setTimeout(idleTimeoutMs);
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      done();
    });
  });
  const address = server.address() as AddressInfo;
  const listening = `http://${urlHost(address.address)}:${address.port}`;
  const publicUrl = env.publicUrl ?? reachable(address);
  const allowedHosts = hostAllowList(values["allowed-hosts"], address.address, publicUrl);

  const store = new ArtifactStore({ ...storeOptions, publicUrl });
  let audit: Awaited<ReturnType<typeof startAuditOutputs>> | null = null;
  try {
    await store.backends(); // a provider that cannot start fails here, not on the first request
    // Before the first request, so no event is missed; pending webhook deliveries resume here.
    audit = await startAuditOutputs(store, values, env);
    handler = createHttpHandler(store, {
      apiKeys: keys,
      ...(kept && { authenticate: kept.authenticate }),
      ...(maxUploadBytes !== undefined && { maxUploadBytes }),
      console: values["no-console"] !== true,
      ...(allowedHosts && { allowedHosts }),
      ...(values["trust-proxy"] && { trustProxy: list(values["trust-proxy"]) }),
      maxUploads: {
        perKey: wholeNumber(
          values["max-uploads-per-key"] ?? String(DEFAULT_MAX_UPLOADS.perKey),
          "--max-uploads-per-key",
        ),
        total: wholeNumber(values["max-uploads"] ?? String(DEFAULT_MAX_UPLOADS.total), "--max-uploads"),
      },
    });
  } catch (err) {
    server.close();
    await audit?.close();
    await store.close();
    throw err;
  }

  console.log(`chuk-artifacts serve: listening on ${listening}`);
  console.log(`  storage: ${storageLine(config)}`);
  console.log(`  sessions: ${store.sessionProviderName}`);
  console.log(`  expiry: ${ttlLine(config)}`);
  const native = config.storageProvider === "s3" || config.storageProvider === "ibm_cos";
  console.log(
    `  signed URLs: ${publicUrl}${native ? " (uploads and downloads use native S3 presigning)" : ""}`,
  );
  console.log(`  signing secret: ${secretNote}`);
  console.log(
    `  allowed hosts: ${allowedHosts ? allowedHosts.join(", ") : "any (no Host/Origin check; see --allowed-hosts)"}`,
  );
  if (values["require-sessions"]) console.log("  sessions: named sessions must be created first");
  for (const line of audit.banner) console.log(line);
  const who = `user "${GENERATED_PRINCIPAL.userId}", admin`;
  if (kept?.key) {
    console.log(
      `  API key (${who}; generated and kept as a hash in ${kept.path}; shown only now): ${kept.key}`,
    );
  } else if (kept) {
    console.log(
      `  API keys: the kept key of user "${kept.principal.userId}" (${kept.path}; "serve --rotate-key" makes a new one)`,
    );
  } else if (processKey) {
    console.log(
      `  API key (${who}; generated for this process, set CHUK_API_KEYS to keep one): ${processKey}`,
    );
  } else {
    console.log(`  API keys: ${keys.length} from ${sources.join(", ")}`);
  }
  if (address.address === "0.0.0.0" || address.address === "::") {
    console.log(
      "  note: listening on every interface; set ARTIFACT_PUBLIC_URL so signed URLs name a reachable host",
    );
  }

  let stopping = false;
  warmSearchInBackground(store, config, "serve", () => stopping);

  return new Promise<number>((done) => {
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`chuk-artifacts serve: ${signal}, shutting down`);
      // Finish requests in flight, then drop what is left after 10 s.
      const force = setTimeout(() => server.closeAllConnections(), 10_000);
      force.unref();
      server.close(async () => {
        clearTimeout(force);
        await audit?.close();
        await store.close();
        done(0);
      });
      server.closeIdleConnections();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
}

function list(value: string): string[] {
  return value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

/**
 * The Host/Origin allow-list: the given one (plus the loopback names, which a rebinding page can
 * never send), '*' for none, or by default the loopback names and the public URL's host when
 * bound to loopback, and no check otherwise.
 */
function hostAllowList(given: string | undefined, bound: string, publicUrl: string): string[] | null {
  if (given?.trim() === "*") return null;
  const publicHost = new URL(publicUrl).host;
  if (given !== undefined) return [...new Set([...LOOPBACK_HOSTS, ...list(given)])];
  const loopback = bound === "::1" || /^127\./.test(bound) || bound === "::ffff:127.0.0.1";
  return loopback ? [...new Set([...LOOPBACK_HOSTS, publicHost])] : null;
}

function urlHost(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}

/** The base URL clients use: the bound address, or loopback when bound to every interface. */
function reachable(address: AddressInfo): string {
  const host =
    address.address === "0.0.0.0"
      ? "127.0.0.1"
      : address.address === "::"
        ? "[::1]"
        : urlHost(address.address);
  return `http://${host}:${address.port}`;
}

/** --quota-* flags as store quotas (each flag overrides its environment variable; unset ones keep it). */
function quotaFlags(values: Record<string, unknown>): ArtifactStoreOptions["quotas"] | undefined {
  const quotas: NonNullable<ArtifactStoreOptions["quotas"]> = {};
  for (const kind of ["user", "session"] as const) {
    for (const field of ["bytes", "artifacts"] as const) {
      const flag = `quota-${kind}-${field}`;
      const raw = values[flag];
      if (typeof raw !== "string") continue;
      quotas[kind] = { ...quotas[kind], [field]: wholeNumber(raw, `--${flag}`) };
    }
  }
  return quotas.user || quotas.session ? quotas : undefined;
}
