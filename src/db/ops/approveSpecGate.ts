import type { Queryable } from '../connection.js';
import type { State } from '../../domain/states.js';

/**
 * Close the item's open spec-approval gates (resolved by `by`) and take them off its gate count,
 * in one statement. `closed` = 0 when there was nothing to approve.
 */
export async function approveSpecGate(sql: Queryable, itemId: number, by: string): Promise<{ closed: number; state: State | null; gateCount: number | null }> {
  const [row] = await sql<{ closed: number; state: State | null; gateCount: number | null }[]>`
    WITH g AS (
      UPDATE coordination_gates SET is_open = false, resolved_by = ${by}, resolved_at = now()
      WHERE item_id = ${itemId} AND kind = 'spec_approval' AND is_open
      RETURNING id
    ), w AS (
      UPDATE work_items SET gate_count = GREATEST(gate_count - (SELECT count(*) FROM g)::int, 0)
      WHERE id = ${itemId} AND EXISTS (SELECT 1 FROM g)
      RETURNING state, gate_count
    )
    SELECT (SELECT count(*) FROM g)::int AS closed, (SELECT state FROM w) AS state, (SELECT gate_count FROM w) AS gate_count`;
  return row!;
}
