import type { Sql } from '../connection.js';

export interface InboxDelivery {
  id: number;
  itemId: number | null;
  /** The routed GiteaEvent as the intake stored it (untrusted until checked). */
  payload: unknown;
}

/** The inbox: webhook deliveries recorded but not processed yet, oldest first. */
export async function listInboxDeliveries(sql: Sql, batch: number): Promise<InboxDelivery[]> {
  const rows = await sql<InboxDelivery[]>`
    SELECT id, item_id, payload FROM webhook_deliveries WHERE processed_at IS NULL ORDER BY id LIMIT ${batch}`;
  return [...rows];
}
