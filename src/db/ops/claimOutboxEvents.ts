import type { Sql, TxSql } from '../connection.js';

/** A claimed events_outbox row as stored (src/domain/events.ts readOutboxEvent gives its typed event). */
export interface ClaimedOutboxEvent {
  id: number;
  itemId: number | null;
  type: string;
  payload: unknown;
  /** Failed attempts so far (before this one). */
  attempts: number;
  /** This claim's next_attempt_at, exactly as stored: the token renewOutboxClaim fences on. */
  claimedUntil: string;
}

/**
 * Claim up to `batch` due outbox events in one short transaction: their next_attempt_at moves `claimMs`
 * ahead, so a second relay (in any process) does not take them while this one works, and a relay
 * that dies leaves them due again after `claimMs`. An event waits while an earlier event of the
 * same item is pending but not due (backing off, or claimed by another relay), so each item's
 * comments keep their order. Returned in item, then id order.
 */
export async function claimOutboxEvents(sql: Sql, opts: { batch: number; claimMs: number }): Promise<ClaimedOutboxEvent[]> {
  // Items, not single events, are claimed, in two statements of one short transaction: the first
  // locks the items' rows (SKIP LOCKED), the second — with a fresh snapshot, so it sees what another
  // relay committed meanwhile — takes their due events. Two relays therefore never split one item's
  // events between them (each would find no status comment yet and post one). After commit the
  // claimed events' next_attempt_at is in the future, which holds that item's later events back.
  //
  // The first statement's snapshot can predate another relay's commit: it then locks items whose
  // events that relay has just claimed and finds none of them due. That is a lost race, not an
  // empty outbox, so it tries again (each lost race means another relay got work; the bound only
  // guards against a bug).
  for (let attempt = 1; ; attempt++) {
    const { locked, events } = await claimOnce(sql, opts);
    if (events.length > 0 || locked === 0 || attempt === 10) {
      return [...events].sort((a, b) => (a.itemId ?? 0) - (b.itemId ?? 0) || a.id - b.id);
    }
  }
}

async function claimOnce(sql: Sql, opts: { batch: number; claimMs: number }): Promise<{ locked: number; events: ClaimedOutboxEvent[] }> {
  return sql.begin(async (tx) => {
    const items = await tx<{ id: number }[]>`
      SELECT w.id FROM work_items w
      WHERE EXISTS (
        SELECT 1 FROM events_outbox e
        WHERE e.item_id = w.id AND e.delivered_at IS NULL AND e.parked_at IS NULL AND e.next_attempt_at <= now()
          AND NOT EXISTS (${heldBack(tx)}))
      ORDER BY w.id
      LIMIT ${opts.batch}
      FOR UPDATE SKIP LOCKED`;
    if (items.length === 0) return { locked: 0, events: [] };
    const events = await tx<ClaimedOutboxEvent[]>`
      WITH due AS (
        SELECT e.id FROM events_outbox e
        WHERE e.item_id IN ${tx(items.map((i) => i.id))}
          AND e.delivered_at IS NULL AND e.parked_at IS NULL AND e.next_attempt_at <= now()
          AND NOT EXISTS (${heldBack(tx)})
        ORDER BY e.id
        LIMIT ${opts.batch}
      )
      UPDATE events_outbox e SET next_attempt_at = now() + ${opts.claimMs} * interval '1 millisecond'
      FROM due WHERE e.id = due.id
      RETURNING e.id, e.item_id, e.type, e.payload, e.attempts, e.next_attempt_at::text AS claimed_until`;
    return { locked: items.length, events: [...events] };
  }) as Promise<{ locked: number; events: ClaimedOutboxEvent[] }>;
}

/** An earlier event of e's item is pending but not due (backing off, or claimed by another relay): e waits. */
const heldBack = (tx: TxSql) => tx`
  SELECT 1 FROM events_outbox b
  WHERE b.item_id = e.item_id AND b.id < e.id AND b.delivered_at IS NULL AND b.parked_at IS NULL
    AND b.next_attempt_at > now()`;
