import type { Sql } from '../connection.js';
import type { ActivePhase, State } from '../../domain/states.js';

/** The facts of one item the dashboard needs (plain row; src/http/itemsApi.ts turns it into a summary). */
export interface DashboardItemRow {
  id: number;
  owner: string;
  repo: string;
  projectHtmlUrl: string | null;
  issueNumber: number;
  issueUrl: string | null;
  title: string;
  state: State;
  resumePhase: ActivePhase | null;
  attempts: number;
  budgetCycles: number;
  errorCount: number;
  maxErrors: number;
  /** Cost so far: the larger of work_items.cost_usd and the cost ledger's sum. */
  costUsd: number;
  /** Runs whose cost nobody knows (shown as unknown, never as zero). */
  unknownCostRuns: number;
  maxCostUsd: number | null;
  runAfter: Date | null;
  gateCount: number;
  /** Set only while the lease is live (lease_until in the future). */
  leaseOwner: string | null;
  leasedAt: Date | null;
  leaseUntil: Date | null;
  prNumber: number | null;
  prUrl: string | null;
  runUrl: string | null;
  explanation: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface OpenQuestionRow {
  id: number;
  tag: string;
  itemId: number;
  kind: string;
  question: string;
  createdAt: Date;
}

export interface DashboardFacts {
  /** The database's clock at the time of the read (waits are judged against it, not the web server's). */
  now: Date;
  counts: Record<string, number>;
  items: DashboardItemRow[];
  /** Open human issues, oldest first. */
  openQuestions: OpenQuestionRow[];
  liveLeases: number;
}

/** The columns of DashboardItemRow over `work_items w JOIN projects p`; the lease shows only while it is live. */
export const ITEM_COLUMNS = `
  w.id, p.owner, p.name AS repo, p.html_url AS project_html_url, w.issue_number, w.issue_url, w.title, w.state,
  w.resume_phase, w.attempts, w.budget_cycles, w.error_count, w.max_errors,
  GREATEST(w.cost_usd, COALESCE((SELECT sum(c.usd) FROM cost_ledger c WHERE c.item_id = w.id), 0)) AS cost_usd,
  (SELECT count(*)::int FROM cost_ledger c WHERE c.item_id = w.id AND c.usd IS NULL) AS unknown_cost_runs,
  w.max_cost_usd, w.run_after, w.gate_count,
  CASE WHEN w.lease_until > now() THEN w.lease_owner END AS lease_owner,
  CASE WHEN w.lease_until > now() THEN w.leased_at END AS leased_at,
  CASE WHEN w.lease_until > now() THEN w.lease_until END AS lease_until,
  w.pr_number, w.details ->> 'prUrl' AS pr_url, w.details ->> 'runUrl' AS run_url,
  w.details -> 'lastTransition' ->> 'explanation' AS explanation, w.created_at, w.updated_at`;

/**
 * Everything the dashboard shows, in one repeatable-read snapshot: every unfinished item, the most
 * recently finished ones, counts by state, open questions and the number of live leases.
 */
export async function readDashboard(sql: Sql, opts: { recentFinished?: number; maxItems?: number } = {}): Promise<DashboardFacts> {
  const recentFinished = opts.recentFinished ?? 20;
  const maxItems = opts.maxItems ?? 1000;
  return sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
    const [clock] = await tx<{ now: Date; liveLeases: number }[]>`
      SELECT now() AS now,
             (SELECT count(*)::int FROM work_items WHERE lease_token IS NOT NULL AND lease_until > now()) AS live_leases`;
    const countRows = await tx<{ state: State; n: number }[]>`SELECT state, count(*)::int AS n FROM work_items GROUP BY state`;
    const unfinished = await tx<DashboardItemRow[]>`
      SELECT ${tx.unsafe(ITEM_COLUMNS)} FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE w.state NOT IN ('done', 'cancelled') ORDER BY w.claim_rank, w.priority DESC, w.id LIMIT ${maxItems}`;
    const finished = await tx<DashboardItemRow[]>`
      SELECT ${tx.unsafe(ITEM_COLUMNS)} FROM work_items w JOIN projects p ON p.id = w.project_id
      WHERE w.state IN ('done', 'cancelled') ORDER BY w.updated_at DESC, w.id DESC LIMIT ${recentFinished}`;
    const openQuestions = await tx<OpenQuestionRow[]>`
      SELECT id, tag, item_id, kind, question, created_at FROM human_issues
      WHERE status = 'open' ORDER BY created_at, id`;
    return {
      now: clock!.now,
      counts: Object.fromEntries(countRows.map((c) => [c.state, c.n])),
      items: [...unfinished, ...finished],
      openQuestions: [...openQuestions],
      liveLeases: clock!.liveLeases,
    };
  }) as Promise<DashboardFacts>;
}
