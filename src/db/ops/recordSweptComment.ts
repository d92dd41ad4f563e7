import type { Sql } from '../connection.js';

/**
 * A comment the reconcile sweep found on a story that waits for a human: put into the inbox exactly as its
 * webhook would have been, unless that webhook (or an earlier sweep) already recorded the comment. One statement;
 * true when it was new.
 */
export async function recordSweptComment(sql: Sql, c: { itemId: number; commentId: number; eventType: string; payload: unknown }): Promise<boolean> {
  const rows = await sql`
    INSERT INTO webhook_deliveries (delivery_id, event, event_type, action, result, item_id, payload, comment_id)
    VALUES (${`reconcile:comment:${c.commentId}`}, 'issue_comment', ${c.eventType}, 'created', 'inbox', ${c.itemId}, ${sql.json(c.payload as never)}, ${c.commentId})
    ON CONFLICT DO NOTHING
    RETURNING id`;
  return rows.length > 0;
}
