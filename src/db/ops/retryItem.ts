import type { Queryable } from '../connection.js';
import type { State } from '../../domain/states.js';
import type { OperatorResult } from './cancelItem.js';

/**
 * Resume a blocked or cancelled item at the active phase it left, with a fresh attempt budget
 * and error count; the questions that parked it are marked answered by `by`. One statement.
 */
export async function retryItem(sql: Queryable, itemId: number, by: string): Promise<OperatorResult> {
  const rows = await sql<{ state: State | null; to: State | null }[]>`
    WITH old AS (
      SELECT id, state, COALESCE(resume_phase, 'spec') AS resume FROM work_items WHERE id = ${itemId} FOR UPDATE
    ), item AS (
      UPDATE work_items w SET
        state = old.resume, resume_phase = NULL, attempts = 0, error_count = 0, run_after = NULL
      FROM old
      WHERE w.id = old.id AND old.state IN ('blocked', 'cancelled')
      RETURNING w.id, w.state
    ), hi AS (
      UPDATE human_issues SET status = 'answered', answer = '/damascus retry', answered_by = ${by}, answered_at = now()
      WHERE item_id = ${itemId} AND status = 'open' AND kind = 'blocked' AND EXISTS (SELECT 1 FROM item)
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT item.id, 'work.retried', jsonb_build_object('from', old.state, 'to', item.state, 'by', ${by}::text)
      FROM item, old
    )
    SELECT old.state, (SELECT state FROM item) AS to FROM (SELECT 1) one LEFT JOIN old ON true`;
  const row = rows[0]!;
  if (row.state === null) return { ok: false, itemId, error: `no work item ${itemId}` };
  if (row.to === null) return { ok: false, itemId, error: `retry applies to blocked or cancelled items; item ${itemId} is ${row.state}` };
  return { ok: true, itemId, from: row.state, to: row.to };
}
