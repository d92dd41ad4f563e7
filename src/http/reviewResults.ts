import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Sql } from '../db/connection.js';
import { storeReviewResult } from '../db/ops/storeReviewResult.js';
import type { Logger } from '../log.js';
import { parseReviewResult } from '../review/resultSchema.js';
import { SIGNATURE_HEADER, deriveProjectSecret, verifySignature } from '../signing.js';
import { readBody, sendJson, type Route } from './server.js';

export const REVIEW_RESULTS_PATH = '/api/v1/review-results';
const MAX_BYTES = 1024 * 1024;

export interface ReviewResultsOptions {
  sql: Sql;
  callbackSecret: string;
  /** After the result is committed: enqueue a tick for the item. */
  afterCommit: (itemId: number) => Promise<void>;
  log: Logger;
}

/**
 * POST /api/v1/review-results, called by the review Action. The body names its repository; the
 * per-project secret derived for that repository must have signed the exact body bytes. Only then
 * is the body trusted: validated, matched to the item and its current head, stored once per run.
 */
export function reviewResultsRoute(o: ReviewResultsOptions): Route {
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req, MAX_BYTES);
    if (body === null) return sendJson(res, 413, { error: `body over ${MAX_BYTES} bytes` });
    if (!/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) {
      return sendJson(res, 415, { error: 'send the result as application/json' });
    }
    const text = body.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return sendJson(res, 400, { error: 'body is not JSON' });
    }
    const repository = typeof (json as { repository?: unknown })?.repository === 'string' ? (json as { repository: string }).repository : '';
    const signature = req.headers[SIGNATURE_HEADER];
    if (!repository || !verifySignature(deriveProjectSecret(o.callbackSecret, repository), body, Array.isArray(signature) ? signature[0] : signature)) {
      return sendJson(res, 401, { error: `missing or wrong ${SIGNATURE_HEADER}` });
    }
    if (!Buffer.from(text, 'utf8').equals(body)) return sendJson(res, 400, { error: 'body is not valid UTF-8' });
    const parsed = parseReviewResult(json);
    if (!parsed.ok) return sendJson(res, 400, { error: parsed.error });
    const outcome = await storeReviewResult(o.sql, parsed.value);
    if (!outcome.stored) {
      if (outcome.status === 409) o.log.warn({ item: parsed.value.workItem, reason: outcome.reason }, 'review result refused');
      return sendJson(res, outcome.status, outcome.status === 200 ? { duplicate: true, reason: outcome.reason } : { error: outcome.reason });
    }
    sendJson(res, 202, { stored: true, item: outcome.itemId });
    o.afterCommit(outcome.itemId).catch((err) => o.log.warn({ err: (err as Error).message }, 'could not enqueue after a review result; the heartbeat will catch up'));
  };
  return { method: 'POST', path: REVIEW_RESULTS_PATH, handler };
}
