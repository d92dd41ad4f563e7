import type { Sql } from '../connection.js';

/** Remember the comment that asks a human issue's question. */
export async function setQuestionCommentId(sql: Sql, humanIssueId: number, commentId: number): Promise<void> {
  await sql`UPDATE human_issues SET comment_id = ${commentId} WHERE id = ${humanIssueId} AND comment_id IS DISTINCT FROM ${commentId}`;
}
