import type { Sql } from '../connection.js';
import { outboxEvent, type OutboxEvent } from '../../domain/events.js';
import { clearLease, freeSlots } from '../fragments.js';
import type { ClaimedItem } from '../types.js';
import type { ItemPatch } from './recordVerdict.js';

/**
 * End a phase run without a verdict: the item waits (e.g. for the review run it just dispatched)
 * until now + delayMs, its lease and slot are released, and an event says why it waits. Fenced by
 * the lease token like every lease write; no attempt is consumed.
 */
export async function deferItem(
  sql: Sql,
  item: ClaimedItem,
  d: {
    delayMs: number;
    reason: string;
    patch?: ItemPatch;
    event?: OutboxEvent;
    /** Do not wait if a review result newer than this ci_results id has been stored meanwhile. */
    wakeIfResultAfter?: number;
  },
): Promise<boolean> {
  const patch = d.patch ?? {};
  const event = d.event ?? outboxEvent('work.waiting', { reason: d.reason });
  const rows = await sql`
    WITH item AS (
      UPDATE work_items w SET
        -- The Action can answer before the dispatching run has finished. storeReviewResult stamps
        -- details.lastResultId on the row; this UPDATE reads the row's latest version (after any
        -- concurrent write committed), so a result that raced ahead is never slept past.
        run_after = CASE
          WHEN ${d.wakeIfResultAfter ?? null}::bigint IS NOT NULL
               AND COALESCE((w.details ->> 'lastResultId')::bigint, 0) > ${d.wakeIfResultAfter ?? null}::bigint THEN now()
          ELSE now() + ${d.delayMs}::bigint * interval '1 millisecond' END,
        ${clearLease(sql)},
        branch = COALESCE(${patch.branch ?? null}, w.branch),
        pr_number = COALESCE(${patch.prNumber ?? null}, w.pr_number),
        head_sha = COALESCE(${patch.headSha ?? null}, w.head_sha),
        details = w.details || ${sql.json(patch.details ?? {})}::jsonb
                          || jsonb_build_object('waiting', jsonb_build_object('reason', ${d.reason}::text, 'since', now()))
      WHERE id = ${item.id} AND lease_token = ${item.leaseToken}
      RETURNING id
    ), slot AS (
      ${freeSlots(sql, sql`lease_token = ${item.leaseToken} AND EXISTS (SELECT 1 FROM item)`)}
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT id, ${event.type}, ${sql.json(event.payload as never)} FROM item
    )
    SELECT id FROM item`;
  return rows.length > 0;
}
