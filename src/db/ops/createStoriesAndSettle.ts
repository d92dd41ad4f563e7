import type { TxSql } from '../connection.js';
import { insertStories, type StoryRow } from './insertStories.js';

/** A story as insertStories reads it, with its delivery's row. */
export type CreateRow = StoryRow & { n: number; delivery_row_id: number; deliveryTid: string };

/** A delivery's result; payload: an inbox delivery's event, kept for the relay job. */
export interface Settle {
  deliveryRowId: number;
  deliveryTid: string;
  result: string;
  itemId: number | null;
  payload: unknown;
}

/**
 * The closing statement: create the new stories (each with its work.created event) and write every
 * delivery's result. Returns the created item id by delivery index (absent: the item already existed).
 */
export async function createStoriesAndSettle(tx: TxSql, creates: CreateRow[], settles: Settle[]): Promise<Map<number, number>> {
  const rows = await tx<{ n: number; itemId: number | null }[]>`
    WITH c AS (
      SELECT * FROM jsonb_to_recordset(${tx.json(creates as never)}::jsonb)
        AS c(n int, delivery_row_id bigint, project_id bigint, issue_number int, title text, requested_by text, issue_url text, story_body text)
    ), ${insertStories(tx, 'c')}, made AS (
      SELECT c.n, c.delivery_row_id, ins.id FROM c LEFT JOIN ins ON ins.project_id = c.project_id AND ins.issue_number = c.issue_number
    ), settle_created AS (
      -- rows found by TID: joined to 100 estimated input rows alone, a plan cached while the table
      -- was small would scan the whole table
      UPDATE webhook_deliveries d SET result = CASE WHEN made.id IS NULL THEN 'ignored: item already exists' ELSE 'created' END,
        item_id = made.id, processed_at = now()
      FROM made WHERE d.ctid = ANY(${creates.map((c) => c.deliveryTid)}::tid[]) AND d.id = made.delivery_row_id
    ), s AS (
      SELECT * FROM jsonb_to_recordset(${tx.json(settles as never)}::jsonb) AS s("deliveryRowId" bigint, result text, "itemId" bigint, payload jsonb)
    ), settle_others AS (
      -- an inbox delivery (a comment) keeps its event and stays unprocessed until the relay job checks its sender
      UPDATE webhook_deliveries d SET result = s.result, item_id = s."itemId", payload = s.payload,
        processed_at = CASE WHEN s.payload IS NULL THEN now() END
      FROM s WHERE d.ctid = ANY(${settles.map((x) => x.deliveryTid)}::tid[]) AND d.id = s."deliveryRowId"
    )
    SELECT n, id AS item_id FROM made`;
  return new Map(rows.filter((r) => r.itemId !== null).map((r) => [r.n, r.itemId!]));
}
