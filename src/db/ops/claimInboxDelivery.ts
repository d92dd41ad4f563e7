import type { TxSql } from '../connection.js';

/**
 * Lock one pending delivery for the caller's transaction. False when it was processed meanwhile
 * or another inbox run holds it (SKIP LOCKED): then this run leaves it alone.
 */
export async function claimInboxDelivery(tx: TxSql, deliveryRowId: number): Promise<boolean> {
  const rows = await tx`
    SELECT id FROM webhook_deliveries WHERE id = ${deliveryRowId} AND processed_at IS NULL FOR UPDATE SKIP LOCKED`;
  return rows.length > 0;
}
