import type { Sql } from '../connection.js';

/** Remember the item's status comment, so later runs edit it without searching. */
export async function setStatusCommentId(sql: Sql, itemId: number, commentId: number): Promise<void> {
  await sql`UPDATE work_items SET status_comment_id = ${commentId} WHERE id = ${itemId} AND status_comment_id IS DISTINCT FROM ${commentId}`;
}
