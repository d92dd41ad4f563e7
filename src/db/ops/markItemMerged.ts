import type { TxSql } from '../connection.js';

/** The story's PR was merged: the item is done, its lease (and lease slot) released, with a work.done event. */
export async function markItemMerged(tx: TxSql, itemId: number, merge: { by: string; mergeCommitSha: string | null }): Promise<void> {
  await tx`
    WITH upd AS (
      UPDATE work_items SET state = 'done', resume_phase = NULL, run_after = NULL,
        lease_owner = NULL, lease_token = NULL, lease_until = NULL
      WHERE id = ${itemId} RETURNING id
    ), slot AS (
      UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE item_id = ${itemId}
    )
    INSERT INTO events_outbox (item_id, type, payload)
    SELECT id, 'work.done', jsonb_build_object('mergedBy', ${merge.by}::text, 'mergeCommitSha', ${merge.mergeCommitSha}::text) FROM upd`;
}
