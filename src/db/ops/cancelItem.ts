import type { Queryable } from '../connection.js';
import type { State } from '../../domain/states.js';

export type OperatorResult =
  | { ok: true; itemId: number; from: State; to: State }
  | { ok: false; itemId: number; error: string };

/**
 * Cancel an item that is not done: its lease is revoked (a running phase's verdict will be
 * refused), its open questions are closed, and a work.cancelled event is written, in one statement.
 * The active phase it was in is kept in resume_phase so it can be reactivated there.
 */
export async function cancelItem(sql: Queryable, itemId: number, by: string, reason = 'cancelled'): Promise<OperatorResult> {
  const rows = await sql<{ state: State | null; changed: boolean }[]>`
    WITH old AS (
      SELECT id, state, lease_token FROM work_items WHERE id = ${itemId} FOR UPDATE
    ), item AS (
      UPDATE work_items w SET
        state = 'cancelled',
        resume_phase = CASE WHEN old.state IN ('spec', 'build', 'review') THEN old.state ELSE w.resume_phase END,
        lease_owner = NULL, lease_token = NULL, lease_until = NULL, run_after = NULL
      FROM old
      WHERE w.id = old.id AND old.state NOT IN ('done', 'cancelled')
      RETURNING w.id
    ), slot AS (
      UPDATE lease_slots s SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL
      FROM old WHERE s.lease_token = old.lease_token AND EXISTS (SELECT 1 FROM item)
    ), hi AS (
      UPDATE human_issues SET status = 'cancelled'
      WHERE item_id = ${itemId} AND status = 'open' AND EXISTS (SELECT 1 FROM item)
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT item.id, 'work.cancelled', jsonb_build_object('from', old.state, 'by', ${by}::text, 'reason', ${reason}::text)
      FROM item, old
    )
    SELECT old.state, EXISTS (SELECT 1 FROM item) AS changed FROM (SELECT 1) one LEFT JOIN old ON true`;
  const row = rows[0]!;
  if (row.state === null) return { ok: false, itemId, error: `no work item ${itemId}` };
  if (!row.changed) return { ok: false, itemId, error: `item ${itemId} is already ${row.state}` };
  return { ok: true, itemId, from: row.state, to: 'cancelled' };
}
