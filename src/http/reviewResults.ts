import type { IncomingMessage, ServerResponse } from 'node:http';
import { REVIEW_RESULTS_PATH } from '../shared/endpoints.js';
import type { Sql } from '../db/connection.js';
import { storeReviewResult } from '../db/ops/storeReviewResult.js';
import type { Logger } from '../shared/log.js';
import { parseReviewResult } from '../domain/reviewResult.js';
import { REPOSITORY_HEADER, SIGNATURE_HEADER, deriveProjectSecret, verifySignature } from '../shared/signing.js';
import { readBody, sendJson, type Route } from './server.js';

/** A result is at most a 64 KiB output tail (JSON-escaped) and 400 test names: far below this. */
export const MAX_REVIEW_RESULT_BYTES = 512 * 1024;
const REPO_SHAPE = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/;

export interface ReviewResultsOptions {
  sql: Sql;
  callbackSecret: string;
  /** After the result is committed: enqueue a tick for the item. */
  afterCommit: (itemId: number) => Promise<void>;
  log: Logger;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * POST /api/v1/review-results, called by the review Action. The X-Damascus-Repository header names the
 * repository whose per-project secret must have signed the exact body bytes; that is checked before the body is
 * parsed at all. Only then is the body trusted: it must name the same repository, is validated, and is matched
 * to the item, its current head and the nonce of its current dispatch, each nonce accepted once.
 */
export function reviewResultsRoute(o: ReviewResultsOptions): Route {
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req, MAX_REVIEW_RESULT_BYTES);
    if (body === null) return sendJson(res, 413, { error: `body over ${MAX_REVIEW_RESULT_BYTES} bytes` });
    if (!/^application\/json\b/i.test(String(req.headers['content-type'] ?? ''))) {
      return sendJson(res, 415, { error: 'send the result as application/json' });
    }
    const repository = header(req, REPOSITORY_HEADER)?.trim() ?? '';
    if (!REPO_SHAPE.test(repository)) return sendJson(res, 401, { error: `missing or malformed ${REPOSITORY_HEADER} ("owner/repo")` });
    if (!verifySignature(deriveProjectSecret(o.callbackSecret, repository), body, header(req, SIGNATURE_HEADER))) {
      return sendJson(res, 401, { error: `missing or wrong ${SIGNATURE_HEADER}` });
    }
    const text = body.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(body)) return sendJson(res, 400, { error: 'body is not valid UTF-8' });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return sendJson(res, 400, { error: 'body is not JSON' });
    }
    const parsed = parseReviewResult(json);
    if (!parsed.ok) return sendJson(res, 400, { error: parsed.error });
    if (parsed.value.repository.toLowerCase() !== repository.toLowerCase()) {
      return sendJson(res, 400, { error: `the body's repository ${parsed.value.repository} is not the ${REPOSITORY_HEADER} ${repository}` });
    }
    const outcome = await storeReviewResult(o.sql, parsed.value);
    if (!outcome.stored) {
      if (outcome.status === 409) o.log.warn({ item: parsed.value.workItem, reason: outcome.reason }, 'review result refused');
      return sendJson(res, outcome.status, outcome.status === 200 ? { duplicate: true, reason: outcome.reason } : { error: outcome.reason });
    }
    sendJson(res, 202, { stored: true, item: outcome.itemId });
    o.afterCommit(outcome.itemId).catch((err) =>
      o.log.warn({ err: (err as Error).message }, 'could not enqueue after a review result; the heartbeat will catch up'),
    );
  };
  return { method: 'POST', path: REVIEW_RESULTS_PATH, handler };
}
