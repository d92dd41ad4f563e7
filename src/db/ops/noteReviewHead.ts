import type { ReviewDispatch } from '../../domain/phaseState.js';
import type { Sql } from '../connection.js';

/**
 * Record the PR head a review run is about to be dispatched for, and the dispatch itself (its nonce), before
 * dispatching: the Action may report back before the dispatching run has finished, and its result is matched
 * against this head and nonce. Fenced by the lease token.
 */
export async function noteReviewHead(sql: Sql, itemId: number, leaseToken: string, headSha: string, dispatch: ReviewDispatch): Promise<boolean> {
  const rows = await sql`
    UPDATE work_items SET head_sha = ${headSha},
      details = details || jsonb_build_object('reviewDispatch', ${sql.json(dispatch)}::jsonb)
    WHERE id = ${itemId} AND lease_token = ${leaseToken}
    RETURNING id`;
  return rows.length > 0;
}
