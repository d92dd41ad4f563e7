import type { Queryable } from '../connection.js';

/**
 * `/damascus approve` of a guarded build change (src/phases/build.ts): bind the approval to the change's diff
 * fingerprint (details.pendingApproval) and record who gave it and when (details.changeApproval), only while the
 * item waits on that change's approval question (or this comment's prose just answered it). `fingerprintPrefix`, when given, must start the pending
 * fingerprint: an approve written for an earlier change approves nothing. Returns the approval question's id
 * (for answerQuestions, which resumes the build) or null when there was nothing to approve.
 */
export async function recordChangeApproval(
  sql: Queryable,
  itemId: number,
  by: string,
  fingerprintPrefix: string | null,
): Promise<{ questionId: number; fingerprint: string } | null> {
  const prefix = fingerprintPrefix === null ? null : fingerprintPrefix.toLowerCase();
  if (prefix !== null && !/^[0-9a-f]{8,64}$/.test(prefix)) return null;
  const [row] = await sql<{ questionId: number; fingerprint: string }[]>`
    WITH q AS (
      SELECT h.id, w.details ->> 'pendingApproval' AS fingerprint
      FROM work_items w JOIN human_issues h ON h.item_id = w.id
      WHERE w.id = ${itemId} AND w.details ->> 'pendingApproval' IS NOT NULL
        AND (${prefix}::text IS NULL OR starts_with(w.details ->> 'pendingApproval', ${prefix}::text))
        AND h.kind = 'question' AND h.question = w.details ->> 'approvalQuestion'
        -- waiting on the question, or its prose answered it in this very comment (same transaction: now() is equal)
        AND ((w.state = 'awaiting_human' AND h.status = 'open')
          OR (h.status = 'answered' AND h.answered_by = ${by} AND h.answered_at = now() AND w.lease_token IS NULL))
      ORDER BY h.id DESC LIMIT 1
    ), upd AS (
      UPDATE work_items w SET details = w.details || jsonb_build_object('changeApproval',
        jsonb_build_object('fingerprint', q.fingerprint, 'by', ${by}::text, 'at', now()))
      FROM q WHERE w.id = ${itemId}
      RETURNING w.id
    )
    SELECT q.id AS question_id, q.fingerprint FROM q WHERE EXISTS (SELECT 1 FROM upd)`;
  return row ?? null;
}
