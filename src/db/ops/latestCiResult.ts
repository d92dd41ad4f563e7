import type { Sql } from '../connection.js';

export interface CiResultRow {
  id: number;
  headSha: string;
  runId: string;
  passed: boolean;
  exitCode: number | null;
  timedOut: boolean;
  outputTail: string | null;
  failingTests: string[];
  superseded: boolean;
  details: Record<string, unknown>;
}

/**
 * The newest review result that still counts for this head (not superseded by a push), and the
 * failing-test sets of the item's other failed results (for no-progress detection).
 */
export async function latestCiResult(
  sql: Sql,
  itemId: number,
  headSha: string,
): Promise<{ current: CiResultRow | null; earlierFailingSets: string[][]; newestId: number }> {
  const rows = await sql<CiResultRow[]>`
    SELECT id, head_sha, run_id, passed, exit_code, timed_out, output_tail, failing_tests, superseded, details
    FROM ci_results WHERE item_id = ${itemId} ORDER BY id DESC LIMIT 50`;
  const current = rows.find((r) => !r.superseded && r.headSha.toLowerCase() === headSha.toLowerCase()) ?? null;
  return {
    current,
    newestId: rows[0]?.id ?? 0,
    earlierFailingSets: rows.filter((r) => r !== current && !r.passed).map((r) => [...r.failingTests].sort()),
  };
}
