import type { Sql } from '../connection.js';
import type { ReviewResult } from '../../review/resultSchema.js';

export type StoreReviewOutcome =
  | { stored: true; itemId: number; wake: boolean }
  | { stored: false; status: 200 | 409; reason: string };

/**
 * Store a review result from the Action, matched to its item and head SHA, deduplicated by run id,
 * and wake the item so its next claim reads the result. One statement: either the result row and
 * the wake-up are written together, or (unknown item, wrong repository, stale SHA) nothing is.
 */
export async function storeReviewResult(sql: Sql, r: ReviewResult): Promise<StoreReviewOutcome> {
  const [row] = await sql<{
    itemId: number | null; repo: string | null; state: string | null; headSha: string | null; prHead: string | null;
    inserted: number | null; duplicate: boolean;
  }[]>`
    WITH item AS (
      SELECT w.id, p.owner || '/' || p.name AS repo, w.state, w.head_sha, w.details ->> 'prHead' AS pr_head
      FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE w.id = ${r.workItem}
    ), ok AS (
      SELECT id FROM item
      WHERE lower(repo) = lower(${r.repository}) AND state = 'review'
        AND lower(COALESCE(pr_head, head_sha, '')) = lower(${r.headSha})
    ), ins AS (
      INSERT INTO ci_results (item_id, head_sha, run_id, passed, exit_code, duration_ms, timed_out, output_tail, failing_tests, details)
      SELECT id, lower(${r.headSha}), ${r.runId}, ${r.passed}, ${r.exitCode}, ${r.durationMs}, ${r.timedOut}, ${r.outputTail},
             ${sql.json((r.tests?.failing ?? []) as never)},
             ${sql.json({ runUrl: r.runUrl, tests: r.tests, outputTruncated: r.outputTruncated, dispatch: r.dispatch ?? null } as never)}
      FROM ok
      ON CONFLICT (item_id, run_id) DO NOTHING
      RETURNING id, item_id
    ), wake AS (
      -- Woken even while leased: a review run that is still dispatching reads lastResultId (deferItem).
      UPDATE work_items SET run_after = NULL,
        details = details || jsonb_build_object('runUrl', ${r.runUrl}::text, 'lastResultId', (SELECT id FROM ins))
      WHERE id IN (SELECT item_id FROM ins)
      RETURNING id
    )
    SELECT (SELECT id FROM item) AS item_id, (SELECT repo FROM item) AS repo, (SELECT state::text FROM item) AS state,
           (SELECT head_sha FROM item) AS head_sha, (SELECT pr_head FROM item) AS pr_head,
           (SELECT id FROM ins) AS inserted, EXISTS (SELECT 1 FROM ok) AND NOT EXISTS (SELECT 1 FROM ins) AS duplicate`;
  const x = row!;
  if (x.itemId === null) return { stored: false, status: 409, reason: `unknown work item ${r.workItem}` };
  if (x.repo!.toLowerCase() !== r.repository.toLowerCase()) return { stored: false, status: 409, reason: `work item ${r.workItem} belongs to ${x.repo}, not ${r.repository}` };
  if (x.state !== 'review') return { stored: false, status: 409, reason: `work item ${r.workItem} is in ${x.state}, not review` };
  const current = x.prHead ?? x.headSha;
  if (!current || current.toLowerCase() !== r.headSha.toLowerCase()) {
    return { stored: false, status: 409, reason: `stale head: the pull request head is ${current ?? 'unknown'}, the result is for ${r.headSha}` };
  }
  if (x.duplicate) return { stored: false, status: 200, reason: `run ${r.runId} was already recorded` };
  return { stored: true, itemId: x.itemId, wake: true };
}
