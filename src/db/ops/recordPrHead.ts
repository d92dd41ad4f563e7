import type { TxSql } from '../connection.js';

/** The story's PR head moved: results for older heads no longer count, and a waiting review runs again now. */
export async function recordPrHead(tx: TxSql, itemId: number, headSha: string): Promise<void> {
  await tx`
    WITH superseded AS (
      UPDATE ci_results SET superseded = true WHERE item_id = ${itemId} AND head_sha <> ${headSha} AND NOT superseded
    )
    UPDATE work_items SET
      head_sha = ${headSha},
      run_after = CASE WHEN state = 'review' AND lease_token IS NULL THEN NULL ELSE run_after END
    WHERE id = ${itemId}`;
}
