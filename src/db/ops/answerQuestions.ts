import type { Queryable } from '../connection.js';
import type { State } from '../../domain/states.js';
import { decideItemTransition } from '../../domain/transitions.js';
import { applyItemMove } from './applyItemMove.js';
import { readItemState } from './readItemState.js';

export interface QuestionAnswer {
  humanIssueId: number;
  text: string;
  /** Login of the user who answered. */
  by: string;
}

/**
 * Store answers to an item's open questions and, when none is left open, resume the phase the
 * item came from (with a work.resumed event; src/domain/transitions.ts). Questions that are not open
 * (or not this item's) are left alone. `resumedTo` is the phase resumed, or null. The item's row and
 * its open questions are locked first: run it inside a transaction, with the change it belongs to.
 */
export async function answerQuestions(sql: Queryable, itemId: number, answers: QuestionAnswer[]): Promise<{ answered: number[]; resumedTo: State | null }> {
  const item = await readItemState(sql, itemId);
  if (!item) return { answered: [], resumedTo: null };
  const open = (
    await sql<{ id: number }[]>`
    SELECT id FROM human_issues WHERE item_id = ${itemId} AND status = 'open' AND kind = 'question' ORDER BY id FOR UPDATE`
  ).map((q) => q.id);
  const taken = answers.filter((a) => open.includes(a.humanIssueId));
  if (taken.length === 0) return { answered: [], resumedTo: null };
  const input = taken.map((a) => ({ human_issue_id: a.humanIssueId, answer: a.text, answered_by: a.by }));
  const stored = await sql<{ id: number }[]>`
    WITH a AS (
      SELECT * FROM jsonb_to_recordset(${sql.json(input as never)}::jsonb) AS a(human_issue_id bigint, answer text, answered_by text)
    )
    UPDATE human_issues h SET status = 'answered', answer = a.answer, answered_by = a.answered_by, answered_at = now()
    FROM a
    WHERE h.id = a.human_issue_id AND h.item_id = ${itemId} AND h.status = 'open' AND h.kind = 'question'
    RETURNING h.id`;
  const answered = stored.map((r) => r.id).sort((x, y) => x - y);
  const decision = decideItemTransition(item, {
    kind: 'answer',
    by: taken[0]!.by,
    answered,
    questionsLeft: open.filter((id) => !answered.includes(id)).length,
  });
  const resumed = decision.ok && (await applyItemMove(sql, item, decision));
  return { answered, resumedTo: resumed ? decision.to : null };
}
