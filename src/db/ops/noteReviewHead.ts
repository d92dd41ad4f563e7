import type { Sql } from '../connection.js';

/**
 * Record the PR head a review run is about to be dispatched for, before dispatching: the Action may
 * report back before the dispatching run has finished, and its result is matched against this head.
 * Fenced by the lease token.
 */
export async function noteReviewHead(sql: Sql, itemId: number, leaseToken: string, headSha: string): Promise<boolean> {
  const rows = await sql`
    UPDATE work_items SET head_sha = ${headSha}, details = details || jsonb_build_object('prHead', ${headSha}::text)
    WHERE id = ${itemId} AND lease_token = ${leaseToken}
    RETURNING id`;
  return rows.length > 0;
}
