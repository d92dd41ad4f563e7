import type { Queryable } from '../connection.js';
import type { State } from '../../domain/states.js';

export interface QuestionAnswer {
  humanIssueId: number;
  text: string;
  /** Login of the user who answered. */
  by: string;
}

/**
 * Store answers to an item's open questions and, when none is left open, resume the phase the
 * item came from (with a work.resumed event). One statement, so one transaction. Questions that are
 * not open (or not this item's) are left alone. `resumedTo` is the phase resumed, or null.
 */
export async function answerQuestions(sql: Queryable, itemId: number, answers: QuestionAnswer[]): Promise<{ answered: number[]; resumedTo: State | null }> {
  const input = answers.map((a) => ({ human_issue_id: a.humanIssueId, answer: a.text, answered_by: a.by }));
  const [row] = await sql<{ answered: number[] | null; resumedTo: State | null }[]>`
    WITH a AS (
      SELECT * FROM jsonb_to_recordset(${sql.json(input as never)}::jsonb) AS a(human_issue_id bigint, answer text, answered_by text)
    ), upd AS (
      UPDATE human_issues h SET status = 'answered', answer = a.answer, answered_by = a.answered_by, answered_at = now()
      FROM a
      WHERE h.id = a.human_issue_id AND h.item_id = ${itemId} AND h.status = 'open' AND h.kind = 'question'
      RETURNING h.id, h.answered_by
    ), item AS (
      UPDATE work_items w SET state = COALESCE(w.resume_phase, 'spec'), resume_phase = NULL, run_after = NULL
      WHERE w.id = ${itemId} AND w.state = 'awaiting_human' AND EXISTS (SELECT 1 FROM upd)
        AND NOT EXISTS (
          SELECT 1 FROM human_issues h
          WHERE h.item_id = ${itemId} AND h.status = 'open' AND h.kind = 'question' AND h.id NOT IN (SELECT id FROM upd)
        )
      RETURNING w.id, w.state
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT item.id, 'work.resumed',
             jsonb_build_object('to', item.state, 'answered', (SELECT jsonb_agg(id ORDER BY id) FROM upd),
                                'by', (SELECT answered_by FROM upd LIMIT 1))
      FROM item
    )
    SELECT (SELECT array_agg(id ORDER BY id) FROM upd) AS answered, (SELECT state FROM item) AS resumed_to`;
  return { answered: row!.answered ?? [], resumedTo: row!.resumedTo };
}
