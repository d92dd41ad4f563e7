import type postgres from 'postgres';
import type { Sql } from '../connection.js';

/** How many rows each table lost. */
export interface SweepReport {
  webhookDeliveries: number;
  outboxEvents: number;
}

export interface SweepOptions {
  /** Rows settled longer ago than this many days go; 0 keeps every row. */
  olderThanDays: number;
  /** Rows per statement (each statement is its own short transaction). */
  batch?: number;
  /** Stops the sweep between two batches (a worker shutting down). */
  signal?: AbortSignal;
}

/**
 * The last row a batch chose, in the order the table is walked: the next batch starts after it. The time stays
 * PostgreSQL's text (sent as ::text): a JS Date would drop its microseconds.
 */
interface Cursor {
  at: string;
  id: number;
}

interface Batch {
  /** Rows the batch chose. */
  chosen: number;
  /** Rows it deleted (fewer when a concurrent sweep deleted some first). */
  deleted: number;
  lastAt: string | null;
  lastId: number | null;
}

/**
 * The retention sweep: deletes rows that are settled and older than `olderThanDays`, in batches, each table walked
 * once in order (schema/009's indexes), each batch starting after the last row the one before chose, so the rows it
 * keeps are read once per sweep and the recent ones not at all. Any number of sweeps may run at once.
 *
 * - Webhook deliveries received that long ago and processed. A comment's delivery stays while its story is not done:
 *   the reconcile sweep reads a waiting story's comments from when it began to wait, and this row is what tells it
 *   the comment was taken (schema/004); a cancelled story may be reactivated and wait again. A delivery id that is
 *   gone is no longer a duplicate: why a day is long enough, docs/OPERATIONS.md "Retention".
 * - Outbox events delivered that long ago, except each item's newest state event (work.*, human.question), from
 *   which readItemView reads when the item last changed state.
 *
 * Never an unprocessed delivery (the comment inbox) nor a pending, claimed or parked event.
 */
export async function sweepOldRows(sql: Sql, o: SweepOptions): Promise<SweepReport> {
  const batch = o.batch ?? 1000;
  const days = o.olderThanDays;
  if (days === 0) return { webhookDeliveries: 0, outboxEvents: 0 };
  const webhookDeliveries = await inBatches(
    sql,
    'webhook_deliveries',
    batch,
    o.signal,
    (after) => sql`
    SELECT d.ctid, d.id, d.received_at AS at FROM webhook_deliveries d
    WHERE d.received_at < now() - make_interval(days => ${days}) AND (d.received_at, d.id) > (${after.at}::text::timestamptz, ${after.id})
      AND d.processed_at IS NOT NULL
      AND (d.comment_id IS NULL OR d.item_id IS NULL OR (SELECT w.state FROM work_items w WHERE w.id = d.item_id) = 'done')
    ORDER BY d.received_at, d.id
    LIMIT ${batch}`,
  );
  const outboxEvents = await inBatches(
    sql,
    'events_outbox',
    batch,
    o.signal,
    (after) => sql`
    SELECT e.ctid, e.id, e.delivered_at AS at FROM events_outbox e
    WHERE e.delivered_at < now() - make_interval(days => ${days}) AND (e.delivered_at, e.id) > (${after.at}::text::timestamptz, ${after.id})
      AND NOT (e.item_id IS NOT NULL AND (e.type LIKE 'work.%' OR e.type = 'human.question') AND NOT EXISTS (
        SELECT 1 FROM events_outbox n
        WHERE n.item_id = e.item_id AND (n.type LIKE 'work.%' OR n.type = 'human.question') AND n.created_at > e.created_at))
    ORDER BY e.delivered_at, e.id
    LIMIT ${batch}`,
  );
  return { webhookDeliveries, outboxEvents };
}

/**
 * Delete from `table`, a batch per statement, the rows `choose` selects (ctid, id, and `at`, the time the table is
 * walked by, in that order) after the cursor, from the start of the table until a batch chooses fewer than `batch`
 * rows. Rows are deleted by their TIDs: joined by id, a plan could scan the whole table for each batch. The rows deleted.
 */
async function inBatches(
  sql: Sql,
  table: string,
  batch: number,
  signal: AbortSignal | undefined,
  choose: (after: Cursor) => postgres.PendingQuery<postgres.Row[]>,
): Promise<number> {
  let after: Cursor = { at: '-infinity', id: 0 };
  let deleted = 0;
  for (;;) {
    const [r] = await sql<Batch[]>`
      WITH chosen AS (${choose(after)}), gone AS (
        DELETE FROM ${sql(table)} t WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM chosen)) RETURNING t.id
      )
      SELECT (SELECT count(*)::int FROM chosen) AS chosen, (SELECT count(*)::int FROM gone) AS deleted, last.at AS last_at, last.id AS last_id
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (SELECT at::text AS at, id FROM chosen ORDER BY at DESC, id DESC LIMIT 1) last ON true`;
    deleted += r!.deleted;
    if (r!.chosen < batch || signal?.aborted) return deleted;
    after = { at: r!.lastAt!, id: r!.lastId! };
  }
}
