import type { Sql } from '../connection.js';
import type { ReviewResult } from '../../domain/reviewResult.js';

export type StoreReviewOutcome = { stored: true; itemId: number; wake: boolean } | { stored: false; status: 200 | 409; reason: string };

/**
 * Store a review result from the Action, matched to its item, its head SHA and the nonce of the item's current
 * dispatch (details.reviewDispatch, written by the review phase), and wake the item so its next claim reads the
 * result. Each nonce is accepted once: the same delivery again (same run id) is a harmless duplicate, another run
 * with a used nonce (a replay, or a re-run of a run that already reported) is refused. One statement: either the
 * result row and the wake-up are written together, or nothing is.
 */
export async function storeReviewResult(sql: Sql, r: ReviewResult): Promise<StoreReviewOutcome> {
  const nonce = r.dispatch ?? null;
  const [row] = await sql<
    {
      itemId: number | null;
      repo: string | null;
      state: string | null;
      headSha: string | null;
      currentNonce: string | null;
      dispatchSha: string | null;
      usedBy: string | null;
      inserted: number | null;
      duplicate: boolean;
    }[]
  >`
    WITH item AS (
      SELECT w.id, p.owner || '/' || p.name AS repo, w.state, w.head_sha,
             w.details -> 'reviewDispatch' ->> 'nonce' AS current_nonce, w.details -> 'reviewDispatch' ->> 'sha' AS dispatch_sha
      FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE w.id = ${r.workItem}
    ), used AS (
      SELECT run_id FROM ci_results WHERE dispatch_nonce = ${nonce}::text
    ), ok AS (
      SELECT id FROM item
      WHERE lower(repo) = lower(${r.repository}) AND state = 'review'
        AND lower(COALESCE(head_sha, '')) = lower(${r.headSha})
        AND current_nonce = ${nonce}::text AND lower(dispatch_sha) = lower(${r.headSha})
        AND NOT EXISTS (SELECT 1 FROM used)
    ), ins AS (
      INSERT INTO ci_results (item_id, head_sha, run_id, dispatch_nonce, passed, exit_code, duration_ms, timed_out, output_tail, failing_tests, details)
      SELECT id, lower(${r.headSha}), ${r.runId}, ${nonce}::text, ${r.passed}, ${r.exitCode}, ${r.durationMs}, ${r.timedOut}, ${r.outputTail},
             ${sql.json((r.tests?.failing ?? []) as never)},
             ${sql.json({ runUrl: r.runUrl, tests: r.tests, outputTruncated: r.outputTruncated, dispatch: nonce } as never)}
      FROM ok
      ON CONFLICT DO NOTHING
      RETURNING id, item_id
    ), wake AS (
      -- Woken even while leased: a review run that is still dispatching reads lastResultId (deferItem).
      UPDATE work_items SET run_after = NULL,
        details = details || jsonb_build_object('runUrl', ${r.runUrl}::text, 'lastResultId', (SELECT id FROM ins))
      WHERE id IN (SELECT item_id FROM ins)
      RETURNING id
    )
    SELECT (SELECT id FROM item) AS item_id, (SELECT repo FROM item) AS repo, (SELECT state::text FROM item) AS state,
           (SELECT head_sha FROM item) AS head_sha,
           (SELECT current_nonce FROM item) AS current_nonce, (SELECT dispatch_sha FROM item) AS dispatch_sha,
           (SELECT run_id FROM used LIMIT 1) AS used_by,
           (SELECT id FROM ins) AS inserted, EXISTS (SELECT 1 FROM ok) AND NOT EXISTS (SELECT 1 FROM ins) AS duplicate`;
  const x = row!;
  if (x.itemId === null) return { stored: false, status: 409, reason: `unknown work item ${r.workItem}` };
  if (x.repo!.toLowerCase() !== r.repository.toLowerCase())
    return { stored: false, status: 409, reason: `work item ${r.workItem} belongs to ${x.repo}, not ${r.repository}` };
  if (x.state !== 'review') return { stored: false, status: 409, reason: `work item ${r.workItem} is in ${x.state}, not review` };
  const current = x.headSha;
  if (!current || current.toLowerCase() !== r.headSha.toLowerCase()) {
    return { stored: false, status: 409, reason: `stale head: the pull request head is ${current ?? 'unknown'}, the result is for ${r.headSha}` };
  }
  if (nonce === null) return { stored: false, status: 409, reason: 'the result names no dispatch nonce: only a run Damascus dispatched can report' };
  if (x.currentNonce !== nonce || x.dispatchSha?.toLowerCase() !== r.headSha.toLowerCase()) {
    return { stored: false, status: 409, reason: `dispatch ${nonce} is not work item ${r.workItem}'s current review dispatch for ${r.headSha}` };
  }
  if (x.usedBy !== null) {
    return x.usedBy === r.runId
      ? { stored: false, status: 200, reason: `run ${r.runId} was already recorded` }
      : { stored: false, status: 409, reason: `dispatch ${nonce} was already answered by run ${x.usedBy}; a result is accepted once per dispatch` };
  }
  // A concurrent delivery of the same dispatch got in first.
  if (x.duplicate) return { stored: false, status: 409, reason: `dispatch ${nonce} was answered concurrently; a result is accepted once per dispatch` };
  return { stored: true, itemId: x.itemId, wake: true };
}
