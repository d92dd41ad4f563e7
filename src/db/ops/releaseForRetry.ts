import type { Sql } from '../connection.js';
import type { BackoffPolicy } from '../../domain/routing.js';
import type { ClaimedItem } from '../types.js';
import { recordVerdict, type RecordResult } from './recordVerdict.js';

/**
 * An infrastructure fault (LLM 5xx, Gitea down, a phase that threw): record an `error` verdict,
 * which consumes no attempt and makes the item claimable again after exponential backoff
 * (blocked after max_errors in a row). The same fenced write as every verdict.
 */
export function releaseForRetry(
  sql: Sql,
  item: ClaimedItem,
  reason: string,
  opts: { backoff: BackoffPolicy; worker?: string; details?: Record<string, unknown> },
): Promise<RecordResult> {
  return recordVerdict(sql, item, { verdict: 'error', reason, details: opts.details }, opts);
}
