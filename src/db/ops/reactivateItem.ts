import type { TxSql } from '../connection.js';

/**
 * A cancelled story labelled again: back to the phase it was cancelled in (spec if none), with a
 * work.reactivated event, taking the issue as labelled now as its story.
 */
export async function reactivateItem(tx: TxSql, itemId: number, story: { by: string; title: string; body: string }): Promise<void> {
  await tx`
    WITH upd AS (
      UPDATE work_items SET state = COALESCE(resume_phase, 'spec'), resume_phase = NULL, run_after = NULL,
        requested_by = ${story.by},
        -- a new snapshot of what is labelled now, to be vouched for again (spec phase)
        title = ${story.title}, story_body = ${story.body}, story_vouched_by = NULL
      WHERE id = ${itemId} RETURNING id, state
    )
    INSERT INTO events_outbox (item_id, type, payload)
    SELECT id, 'work.reactivated', jsonb_build_object('to', state, 'by', ${story.by}::text) FROM upd`;
}
