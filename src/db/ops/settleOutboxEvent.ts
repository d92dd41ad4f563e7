import type { Sql } from '../connection.js';

export type OutboxOutcome = { ok: true } | { ok: false; error: string; backoffMs: number; maxAttempts: number };

/**
 * Record what happened to one claimed event: delivered, or one more failed attempt with its error
 * and the time of the next try; at `maxAttempts` failures it is parked (kept, never deleted).
 * Returns null when the event was already delivered (another relay finished it).
 */
export async function settleOutboxEvent(sql: Sql, eventId: number, outcome: OutboxOutcome): Promise<{ attempts: number; parked: boolean } | null> {
  const rows = outcome.ok
    ? await sql<{ attempts: number; parked: boolean }[]>`
        UPDATE events_outbox SET delivered_at = now(), last_error = NULL
        WHERE id = ${eventId} AND delivered_at IS NULL
        RETURNING attempts, false AS parked`
    : await sql<{ attempts: number; parked: boolean }[]>`
        UPDATE events_outbox SET
          attempts = attempts + 1,
          last_error = ${outcome.error},
          next_attempt_at = now() + ${outcome.backoffMs} * interval '1 millisecond',
          parked_at = CASE WHEN attempts + 1 >= ${outcome.maxAttempts} THEN now() ELSE NULL END
        WHERE id = ${eventId} AND delivered_at IS NULL
        RETURNING attempts, parked_at IS NOT NULL AS parked`;
  return rows[0] ?? null;
}
