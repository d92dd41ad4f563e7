import type { Sql } from '../connection.js';
import type { ClaimedOutboxEvent } from './claimOutboxEvents.js';

/**
 * Push a relay's claim on these events `claimMs` ahead again, before it starts on their item: a
 * long run (a slow Gitea, a large batch) must not let its claim lapse while it still works, or a
 * second relay would take the same item and both would post its comments. Fenced like a lease:
 * an event whose next_attempt_at is no longer the one this claim wrote (another relay claimed it
 * after this claim lapsed) is not renewed. Returns the events renewed, with their new claim.
 */
export async function renewOutboxClaim(sql: Sql, events: readonly ClaimedOutboxEvent[], claimMs: number): Promise<ClaimedOutboxEvent[]> {
  if (events.length === 0) return [];
  const claims = events.map((e) => ({ id: e.id, until: e.claimedUntil }));
  const rows = await sql<{ id: number; claimedUntil: string }[]>`
    UPDATE events_outbox e SET next_attempt_at = now() + ${claimMs} * interval '1 millisecond'
    FROM jsonb_to_recordset(${sql.json(claims as never)}::jsonb) AS c(id bigint, until timestamptz)
    WHERE e.id = c.id AND e.next_attempt_at = c.until AND e.delivered_at IS NULL AND e.parked_at IS NULL
    RETURNING e.id, e.next_attempt_at::text AS claimed_until`;
  const renewed = new Map(rows.map((r) => [r.id, r.claimedUntil]));
  return events.filter((e) => renewed.has(e.id)).map((e) => ({ ...e, claimedUntil: renewed.get(e.id)! }));
}
