import type { Queryable } from '../connection.js';

/**
 * Mark an inbox delivery processed with what it did (`result`), or leave it pending with the
 * error that stopped it (tried again next run).
 */
export async function settleInboxDelivery(sql: Queryable, deliveryRowId: number, outcome: { result: string } | { error: string }): Promise<void> {
  if ('result' in outcome) {
    await sql`UPDATE webhook_deliveries SET processed_at = now(), result = ${outcome.result}, error = NULL WHERE id = ${deliveryRowId}`;
  } else {
    await sql`UPDATE webhook_deliveries SET error = ${outcome.error} WHERE id = ${deliveryRowId} AND processed_at IS NULL`;
  }
}
