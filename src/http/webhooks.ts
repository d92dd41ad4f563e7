import type { IncomingMessage, ServerResponse } from 'node:http';
import { WEBHOOK_PATH } from '../shared/endpoints.js';
import type { Sql } from '../db/connection.js';
import { createGroupCommitter } from '../db/groupCommit.js';
import { writeWebhookGroup, type IntakeOutcome, type WebhookDelivery } from '../db/ops/applyWebhookEvent.js';
import { INTAKE_RESULT_LABEL } from '../domain/intake.js';
import { isPrEvent, type ActionableEvent } from '../domain/webhookEvent.js';
import { isBotSender, payloadRepoFullName, routeWebhook } from '../gitea/events.js';
import type { Logger } from '../shared/log.js';
import type { Metrics } from '../shared/metrics.js';
import { deriveWebhookSecret, verifySignature } from '../shared/signing.js';
import { readBody, sendJson, type Route } from './server.js';

export const MAX_WEBHOOK_BYTES = 1024 * 1024;

export interface WebhookIntakeOptions {
  sql: Sql;
  /** DAMASCUS_WEBHOOK_SECRET: each repository's hook is signed with the secret derived from it (deriveWebhookSecret). */
  secret: string;
  triggerLabel: string;
  /** The bot's login (GET /user or DAMASCUS_BOT_LOGIN); null until known. */
  botLogin: () => string | null;
  /** Called after the delivery's transaction committed (enqueue a tick / a relay run / a read-back of the issue). */
  afterCommit: (outcome: Extract<IntakeOutcome, { status: 'recorded' }>, event: ActionableEvent) => Promise<void>;
  log: Logger;
  metrics?: Metrics;
}

/**
 * What a delivery touches, for the group committer: deliveries about one issue (or with one id)
 * never share a transaction. A pull-request event names no issue, so it stands apart from all of
 * its repo's events.
 */
export function intakeKeys(ev: ActionableEvent, deliveryId: string): string[] {
  const repo = `${ev.repo.owner}/${ev.repo.name}`.toLowerCase();
  return [isPrEvent(ev) ? repo : `${repo}#${ev.issue.number}`, `delivery:${deliveryId}`];
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * POST /api/gitea/webhooks: verify, dedupe, write, enqueue, answer. Nothing outbound happens in
 * the request (Gitea gives up after 5 s and never retries). Answers only after the delivery is
 * committed; concurrent deliveries share a commit.
 */
export function webhookRoute(o: WebhookIntakeOptions): Route {
  if (o.secret === '') throw new Error('the webhook intake needs DAMASCUS_WEBHOOK_SECRET');
  const committer = createGroupCommitter(o.sql, (sql, deliveries: WebhookDelivery[]) => writeWebhookGroup(sql, deliveries, o.triggerLabel), { parallel: 3 });
  const count = (result: string) => o.metrics?.webhookDeliveries.inc({ result });

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req, MAX_WEBHOOK_BYTES);
    if (body === null) {
      count('too_large');
      return sendJson(res, 413, { error: `body over ${MAX_WEBHOOK_BYTES} bytes` });
    }
    if (body.length === 0) {
      count('bad_json');
      return sendJson(res, 400, { error: 'empty body' });
    }
    const signature = header(req, 'x-hub-signature-256');
    const text = body.toString('utf8');
    // Gitea sends lower-case hex. Invalid UTF-8 cannot survive the round trip through a string, so it fails here too.
    if (!signature || !/^sha256=[0-9a-f]{64}$/.test(signature) || !Buffer.from(text, 'utf8').equals(body)) {
      count('bad_signature');
      return sendJson(res, 401, { error: 'missing or wrong X-Hub-Signature-256' });
    }
    // The key is the named repository's (below), so the body is parsed before it is trusted: nothing of it is used
    // but that name until the signature holds.
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      count('bad_json');
      return sendJson(res, 400, { error: 'body is not JSON' });
    }
    // Constant-time HMAC-SHA256 over the raw body, with the key of the repository the payload names: a delivery
    // signed for one repository and sent with another's name (or to another's hook) fails here.
    const repoFullName = payloadRepoFullName(payload);
    if (repoFullName === null || !verifySignature(deriveWebhookSecret(o.secret, repoFullName), body, signature)) {
      count('bad_signature');
      return sendJson(res, 401, { error: 'missing or wrong X-Hub-Signature-256' });
    }
    const contentType = header(req, 'content-type') ?? '';
    if (!/^application\/json\b/i.test(contentType)) {
      count('bad_content_type');
      return sendJson(res, 415, { error: 'configure the webhook with content type application/json' });
    }
    const deliveryId = header(req, 'x-gitea-delivery');
    const event = header(req, 'x-gitea-event');
    if (!deliveryId || !event) {
      count('bad_headers');
      return sendJson(res, 400, { error: 'X-Gitea-Delivery and X-Gitea-Event are required' });
    }
    // Damascus's hook takes pushes of its test branch only (a branch nobody pushes), so a verified push is Gitea's
    // hook test: counted on its own for `damascus doctor`.
    if (event.trim().toLowerCase() === 'push') {
      count('test');
      return sendJson(res, 202, { ignored: 'a push: Gitea sends a hook test as a push; nothing to do' });
    }
    const eventType = header(req, 'x-gitea-event-type');
    const routed = routeWebhook({ event, eventType, payload });
    if (routed.kind === 'invalid') {
      count('invalid');
      return sendJson(res, 400, { error: routed.reason });
    }
    if (routed.kind === 'ignored') {
      count('ignored');
      return sendJson(res, 202, { ignored: routed.reason });
    }
    if (isBotSender(routed.sender.login, o.botLogin())) {
      count('own_event');
      return sendJson(res, 202, { ignored: 'sent by the bot itself' });
    }
    const action = typeof (payload as { action?: unknown }).action === 'string' ? (payload as { action: string }).action : null;
    let outcome: IntakeOutcome;
    try {
      outcome = await committer.run({ delivery: { deliveryId, event, eventType: eventType ?? null, action }, event: routed }, intakeKeys(routed, deliveryId));
    } catch (err) {
      count('error');
      o.log.error({ err: (err as Error).message, deliveryId }, 'could not store the webhook delivery');
      return sendJson(res, 503, { error: 'could not store the delivery; the reconcile sweep will pick the change up' });
    }
    if (outcome.status === 'duplicate') {
      count('duplicate');
      return sendJson(res, 200, { duplicate: true });
    }
    count(INTAKE_RESULT_LABEL[outcome.result.kind]);
    sendJson(res, 200, { result: outcome.effect, item: outcome.itemId });
    o.afterCommit(outcome, routed).catch((err) =>
      o.log.warn({ err: (err as Error).message }, 'could not enqueue after a webhook; the heartbeat will catch up'),
    );
  };
  return { method: 'POST', path: WEBHOOK_PATH, handler };
}
