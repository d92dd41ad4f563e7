import type { Sql } from '../connection.js';
import { clearLease, freeSlots } from '../fragments.js';

/**
 * Hand a lease back without a verdict (shutdown): the item is claimable again at once and
 * nothing about its progress changes. Fenced by the token like every lease write.
 */
export async function releaseLease(sql: Sql, itemId: number, token: string): Promise<boolean> {
  const rows = await sql`
    WITH item AS (
      UPDATE work_items SET ${clearLease(sql)}
      WHERE id = ${itemId} AND lease_token = ${token}
      RETURNING id
    ), slot AS (
      ${freeSlots(sql, sql`lease_token = ${token} AND EXISTS (SELECT 1 FROM item)`)}
    )
    SELECT id FROM item`;
  return rows.length > 0;
}
