import type { Queryable } from '../connection.js';

/** Add one event for the relay (inside the caller's transaction, with the change it reports). */
export async function writeOutboxEvent(sql: Queryable, itemId: number, type: string, payload: Record<string, unknown>): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    INSERT INTO events_outbox (item_id, type, payload) VALUES (${itemId}, ${type}, ${sql.json(payload as never)}) RETURNING id`;
  return row!.id;
}
