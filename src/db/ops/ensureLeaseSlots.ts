import type { Sql } from '../connection.js';

/** Make sure slots 0..cap-1 exist (idempotent; run by every process that claims). */
export async function ensureLeaseSlots(sql: Sql, cap: number): Promise<void> {
  await sql`INSERT INTO lease_slots (slot) SELECT generate_series(0, ${cap - 1}) ON CONFLICT (slot) DO NOTHING`;
}
