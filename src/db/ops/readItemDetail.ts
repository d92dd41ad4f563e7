import type { Sql } from '../connection.js';
import type { ActivePhase } from '../../domain/states.js';
import type { VerdictRow } from '../types.js';
import { ITEM_COLUMNS, type DashboardItemRow } from './readDashboard.js';

export interface ItemQuestionRow {
  id: number;
  tag: string;
  kind: string;
  question: string;
  status: 'open' | 'answered' | 'cancelled';
  resumePhase: ActivePhase | null;
  answer: string | null;
  answeredBy: string | null;
  createdAt: Date;
  answeredAt: Date | null;
}

/** A verdict as the item page lists it: the verdicts row without its item id and details. */
export type ItemVerdictRow = Omit<VerdictRow, 'itemId' | 'details'>;

export interface ItemReviewRunRow {
  runId: string;
  headSha: string;
  passed: boolean;
  exitCode: number | null;
  durationMs: number | null;
  timedOut: boolean;
  superseded: boolean;
  createdAt: Date;
}

export interface ItemDetailFacts {
  now: Date;
  item: DashboardItemRow;
  spec: string | null;
  specVersion: number;
  branch: string | null;
  headSha: string | null;
  /** Every human issue of the item, oldest first. */
  questions: ItemQuestionRow[];
  /** Verdict history, oldest first (the latest `limit`). */
  verdicts: ItemVerdictRow[];
  /** Review-run results the Action reported, oldest first. */
  reviewRuns: ItemReviewRunRow[];
}

/** One item with its questions, verdicts and review runs, in one snapshot; null when there is no such item. */
export async function readItemDetail(sql: Sql, itemId: number, limit = 100): Promise<ItemDetailFacts | null> {
  return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const rows = await tx<(DashboardItemRow & { now: Date; spec: string | null; specVersion: number; branch: string | null; headSha: string | null })[]>`
      SELECT now() AS now, w.spec, w.spec_version, w.branch, w.head_sha,
             ${tx.unsafe(ITEM_COLUMNS)}
      FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE w.id = ${itemId}`;
    const row = rows[0];
    if (!row) return null;
    const { now, spec, specVersion, branch, headSha, ...item } = row;
    const questions = await tx<ItemQuestionRow[]>`
      SELECT id, tag, kind, question, status, resume_phase, answer, answered_by, created_at, answered_at
      FROM human_issues WHERE item_id = ${itemId} ORDER BY id`;
    const verdicts = await tx<ItemVerdictRow[]>`
      SELECT * FROM (
        SELECT id, phase, verdict, from_state, to_state, attempt, reason, worker, created_at
        FROM verdicts WHERE item_id = ${itemId} ORDER BY id DESC LIMIT ${limit}
      ) v ORDER BY id`;
    const reviewRuns = await tx<ItemReviewRunRow[]>`
      SELECT run_id, head_sha, passed, exit_code, duration_ms, timed_out, superseded, created_at
      FROM ci_results WHERE item_id = ${itemId} ORDER BY id DESC LIMIT ${limit}`;
    return { now, item, spec, specVersion, branch, headSha, questions: [...questions], verdicts: [...verdicts], reviewRuns: [...reviewRuns].reverse() };
  }) as Promise<ItemDetailFacts | null>;
}
