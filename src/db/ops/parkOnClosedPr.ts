import type { TxSql } from '../connection.js';
import type { ActivePhase, State } from '../../domain/states.js';

/**
 * The story's PR was closed unmerged: the item waits for a human (its lease released) with a question,
 * and resumes in the phase it was in (or would have gone back to) once answered.
 */
export async function parkOnClosedPr(tx: TxSql, item: { id: number; state: State; resumePhase: ActivePhase | null }, prNumber: number): Promise<void> {
  const resume = ['spec', 'build', 'review'].includes(item.state) ? item.state : (item.resumePhase ?? 'build');
  await tx`
    WITH upd AS (
      UPDATE work_items SET state = 'awaiting_human', resume_phase = ${resume}::work_state, run_after = NULL,
        lease_owner = NULL, lease_token = NULL, lease_until = NULL
      WHERE id = ${item.id} RETURNING id
    ), slot AS (
      UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE item_id = ${item.id}
    ), hi AS (
      INSERT INTO human_issues (item_id, kind, question, resume_phase)
      SELECT id, 'question', ${`Pull request #${prNumber} was closed without merging. Reopen it and answer here to continue, or reply \`/damascus cancel\`.`},
             ${resume}::work_state FROM upd
      RETURNING id, tag, kind, question
    )
    INSERT INTO events_outbox (item_id, type, payload)
    SELECT upd.id, 'human.question', jsonb_build_object('humanIssueId', hi.id, 'tag', hi.tag, 'kind', hi.kind, 'question', hi.question)
    FROM upd, hi`;
}
