import type { Sql } from '../connection.js';

/**
 * Extend a lease we hold. Returns false when the lease is no longer ours (it expired and was
 * claimed again, or the item was cancelled): the phase should stop, its verdict will be refused.
 */
export async function renewLease(sql: Sql, itemId: number, token: string, leaseMs: number): Promise<boolean> {
  const rows = await sql`
    WITH item AS (
      UPDATE work_items SET lease_until = now() + ${leaseMs} * interval '1 millisecond'
      WHERE id = ${itemId} AND lease_token = ${token}
      RETURNING lease_until
    )
    UPDATE lease_slots s SET lease_until = item.lease_until FROM item
    WHERE s.lease_token = ${token}
    RETURNING s.slot`;
  return rows.length > 0;
}
