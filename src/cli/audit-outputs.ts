import { type LineSink, openLineSink } from "../audit/sinks.js";
import type { ServerEnvironment } from "../config.js";
import type { ArtifactStore } from "../store.js";
import { startWebhooks, urlForLog, type WebhookDelivery } from "../webhooks/delivery.js";
import { MIN_WEBHOOK_SECRET_LENGTH } from "../webhooks/signature.js";
import { UsageError, wholeNumber } from "./args.js";

/** Flags of `serve` for the audit log and webhooks. */
export const AUDIT_FLAGS = {
  "audit-log": { type: "string" },
  "audit-log-max-bytes": { type: "string" },
  "audit-log-keep": { type: "string" },
  webhook: { type: "string", multiple: true },
  "webhook-log": { type: "string" },
} as const;

export const AUDIT_FLAGS_HELP = `  --audit-log PATH|-          append every audit event to PATH as JSON lines, or '-' for
                              stdout (CHUK_AUDIT_LOG)
  --audit-log-max-bytes N     rotate the audit log at N bytes (default 10485760)
  --audit-log-keep N          rotated audit logs kept as PATH.1 … PATH.N (default 5)
  --webhook URL               POST every audit event, signed, to URL; repeat for several
                              (CHUK_WEBHOOKS, comma-separated; CHUK_WEBHOOK_SECRET is required)
  --webhook-log PATH|-        the delivery log, one JSON line per attempt (default '-', stdout;
                              CHUK_WEBHOOK_LOG)`;

export interface AuditOutputs {
  /** Banner lines saying where events go. */
  banner: string[];
  close(): Promise<void>;
}

type Values = {
  "audit-log"?: string | undefined;
  "audit-log-max-bytes"?: string | undefined;
  "audit-log-keep"?: string | undefined;
  webhook?: string[] | undefined;
  "webhook-log"?: string | undefined;
};

/** Checks the flags before anything starts (a bad one is a usage error, not a half-started server). */
export function checkAuditFlags(values: Values, env: ServerEnvironment): void {
  const urls = [...(values.webhook ?? []), ...env.webhooks];
  if (urls.length > 0 && (env.webhookSecret ?? "").length < MIN_WEBHOOK_SECRET_LENGTH) {
    throw new UsageError(
      `webhooks need a signing secret: set CHUK_WEBHOOK_SECRET (at least ${MIN_WEBHOOK_SECRET_LENGTH} characters)`,
    );
  }
}

/** Subscribes the audit log and the webhooks of `serve` to the store's events. */
export async function startAuditOutputs(
  store: ArtifactStore,
  values: Values,
  env: ServerEnvironment,
): Promise<AuditOutputs> {
  const banner: string[] = [];
  const sinks: LineSink[] = [];
  const stops: (() => void)[] = [];
  let webhooks: WebhookDelivery | null = null;
  const auditTarget = values["audit-log"] ?? env.auditLog;
  if (auditTarget) {
    const sink = openLineSink(auditTarget, {
      maxBytes: wholeNumber(values["audit-log-max-bytes"] ?? "10485760", "--audit-log-max-bytes", 1),
      keep: wholeNumber(values["audit-log-keep"] ?? "5", "--audit-log-keep"),
    });
    sinks.push(sink);
    stops.push(store.audit.subscribe((event) => sink.write(event)));
    banner.push(`  audit log: ${auditTarget === "-" ? "stdout" : auditTarget}`);
  }
  const urls = [...(values.webhook ?? []), ...env.webhooks];
  if (urls.length > 0) {
    const log = openLineSink(values["webhook-log"] ?? env.webhookLog ?? "-");
    sinks.push(log);
    webhooks = await startWebhooks(store, {
      urls,
      secret: env.webhookSecret ?? "",
      log: (entry) => log.write({ webhook: entry }),
    });
    banner.push(
      `  webhooks: ${urls.map(urlForLog).join(", ")} (signed; outbox on ${store.storageProviderName})`,
    );
  }
  return {
    banner,
    async close() {
      for (const stop of stops) stop();
      await webhooks?.close();
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
