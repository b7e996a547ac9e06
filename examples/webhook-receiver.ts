import { createServer } from "node:http";
import { type AuditEvent, verifyWebhook, WebhookVerificationError } from "chuk-artifacts";

/**
 * Receives chuk-artifacts webhooks: checks each POST's signature over its raw body, skips events
 * already handled (deliveries are at least once), and answers 2xx only once `handle` succeeded —
 * any other answer makes the sender retry later.
 */
export function webhookReceiver(secret: string, handle: (event: AuditEvent) => Promise<void> | void) {
  const handled = new Set<string>();
  return createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let event: AuditEvent;
    try {
      event = verifyWebhook({ secret, headers: req.headers, body: Buffer.concat(chunks) });
    } catch (err) {
      if (!(err instanceof WebhookVerificationError)) throw err;
      res.writeHead(401).end(err.message);
      return;
    }
    try {
      if (!handled.has(event.id)) await handle(event);
      handled.add(event.id);
      res.writeHead(204).end();
    } catch {
      res.writeHead(503).end(); // retried later
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const secret = process.env.CHUK_WEBHOOK_SECRET ?? "";
  webhookReceiver(secret, (event) => console.log(event.type, event.artifactId)).listen(9000);
}
