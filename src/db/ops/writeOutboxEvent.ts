import type { Queryable } from '../connection.js';
import type { OutboxEvent } from '../../domain/events.js';

/** Add one event for the relay (inside the caller's transaction, with the change it reports). */
export async function writeOutboxEvent(sql: Queryable, itemId: number, event: OutboxEvent): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    INSERT INTO events_outbox (item_id, type, payload) VALUES (${itemId}, ${event.type}, ${sql.json(event.payload as never)}) RETURNING id`;
  return row!.id;
}
