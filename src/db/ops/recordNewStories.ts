import type { Queryable } from '../connection.js';
import { insertStories } from './insertStories.js';
import { projectIsCurrent } from './upsertProject.js';

/** A delivery that, by its payload alone, starts a story: the trigger label on an open issue, no dependencies. */
export interface NewStoryDelivery {
  deliveryId: string;
  event: string;
  eventType: string | null;
  action: string | null;
  owner: string;
  name: string;
  repoId: number | null;
  defaultBranch: string;
  htmlUrl: string | null;
  cloneUrl: string | null;
  issueNumber: number;
  title: string;
  /** The issue's body in the labelling event (the story snapshot). */
  body: string;
  by: string;
  issueUrl: string;
}

/**
 * The intake's common case in one statement (its own transaction when run alone): for each delivery
 * whose id is new, whose project row is current and whose issue has no item yet, create the item in
 * spec with its work.created event and record the delivery as 'created'. Returns the new item's id
 * per delivery, or null for a delivery it left alone, which wrote nothing: the caller takes those
 * down the general path (applyWebhookEvents), which knows every other case.
 *
 * Only index probes: the lookups are scalar subqueries (never turned into joins that a plan made
 * while the tables were small could run as scans), and the delivery id's unique index decides a
 * race with a concurrent copy of the same delivery (the statement fails and writes nothing).
 */
export async function recordNewStories(sql: Queryable, deliveries: readonly NewStoryDelivery[]): Promise<(number | null)[]> {
  if (deliveries.length === 0) return [];
  const input = deliveries.map((d, n) => ({ n, ...d }));
  const rows = await sql<{ n: number; itemId: number }[]>`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${sql.json(input as never)}::jsonb) AS i(
        n int, "deliveryId" text, event text, "eventType" text, action text, owner text, name text, "repoId" bigint,
        "defaultBranch" text, "htmlUrl" text, "cloneUrl" text, "issueNumber" int, title text, body text, by text, "issueUrl" text)
    ), fresh AS (
      SELECT i.n, i."deliveryId", i.event, i."eventType", i.action, p.id AS project_id, i."issueNumber" AS issue_number,
             i.title, i.by AS requested_by, i."issueUrl" AS issue_url, i.body AS story_body
      FROM input i
      JOIN projects p ON p.owner = i.owner AND p.name = i.name
        AND ${projectIsCurrent(sql, 'p', { repoId: sql`i."repoId"`, defaultBranch: sql`i."defaultBranch"`, htmlUrl: sql`i."htmlUrl"`, cloneUrl: sql`i."cloneUrl"` })}
      WHERE (SELECT d.id FROM webhook_deliveries d WHERE d.delivery_id = i."deliveryId") IS NULL
        AND (SELECT w.id FROM work_items w WHERE w.project_id = p.id AND w.issue_number = i."issueNumber") IS NULL
    ), ${insertStories(sql, 'fresh')}, made AS (
      SELECT f.n, f."deliveryId", f.event, f."eventType", f.action, ins.id
      FROM fresh f JOIN ins ON ins.project_id = f.project_id AND ins.issue_number = f.issue_number
    ), recorded AS (
      INSERT INTO webhook_deliveries (delivery_id, event, event_type, action, result, item_id, processed_at)
      SELECT "deliveryId", event, "eventType", action, 'created', id, now() FROM made ORDER BY n
    )
    SELECT n, id AS item_id FROM made`;
  const out: (number | null)[] = deliveries.map(() => null);
  for (const r of rows) out[r.n] = r.itemId;
  return out;
}
