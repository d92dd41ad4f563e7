import type { Queryable } from '../connection.js';
import type { State } from '../../domain/states.js';

/**
 * Close the item's open spec-approval gates (resolved by `by`, at now: the record of who approved) and take
 * them off its gate count, in one statement. A gate that carries a test command (testCommandSha256) approves
 * exactly that command; `shaPrefix`, when given, must start it, else nothing is approved. `closed` = 0 when
 * there was nothing to approve.
 */
export async function approveSpecGate(
  sql: Queryable,
  itemId: number,
  by: string,
  shaPrefix: string | null = null,
): Promise<{ closed: number; state: State | null; gateCount: number | null }> {
  const prefix = shaPrefix === null ? null : shaPrefix.toLowerCase();
  const [row] = await sql<{ closed: number; state: State | null; gateCount: number | null }[]>`
    WITH g AS (
      UPDATE coordination_gates SET is_open = false, resolved_by = ${by}, resolved_at = now()
      WHERE item_id = ${itemId} AND kind = 'spec_approval' AND is_open
        AND (${prefix}::text IS NULL OR (${prefix}::text ~ '^[0-9a-f]{8,64}$' AND starts_with(details ->> 'testCommandSha256', ${prefix}::text)))
      RETURNING id
    ), w AS (
      UPDATE work_items SET gate_count = GREATEST(gate_count - (SELECT count(*) FROM g)::int, 0)
      WHERE id = ${itemId} AND EXISTS (SELECT 1 FROM g)
      RETURNING state, gate_count
    )
    SELECT (SELECT count(*) FROM g)::int AS closed, (SELECT state FROM w) AS state, (SELECT gate_count FROM w) AS gate_count`;
  return row!;
}
