import type { Sql } from '../connection.js';

/** Hand claimed events back untouched (due at once): the relay skipped them this run. */
export async function releaseOutboxEvents(sql: Sql, eventIds: number[]): Promise<void> {
  if (eventIds.length === 0) return;
  await sql`
    UPDATE events_outbox SET next_attempt_at = now()
    WHERE id = ANY(${eventIds}::bigint[]) AND delivered_at IS NULL AND parked_at IS NULL`;
}
