import type { Queryable } from '../connection.js';
import type { ActivePhase, State } from '../../domain/states.js';

export interface ItemQuestion {
  id: number;
  /** `Q-<id>` */
  tag: string;
  kind: string;
  question: string;
  status: 'open' | 'answered' | 'cancelled';
  resumePhase: ActivePhase | null;
  commentId: number | null;
}

/** What the mirror shows about one item: the row's facts, its project, its questions and its cost. */
export interface ItemView {
  id: number;
  owner: string;
  repo: string;
  issueNumber: number;
  projectHtmlUrl: string | null;
  state: State;
  resumePhase: ActivePhase | null;
  attempts: number;
  budgetCycles: number;
  errorCount: number;
  maxErrors: number;
  runAfter: Date | null;
  gateCount: number;
  leased: boolean;
  prNumber: number | null;
  /** The larger of work_items.cost_usd and the cost ledger's sum. */
  costUsd: number;
  maxCostUsd: number | null;
  details: Record<string, unknown>;
  statusCommentId: number | null;
  /** When the item last changed state (its latest work.* / human.question event), else its creation. */
  since: Date;
  /** Every human issue of the item, oldest first. */
  questions: ItemQuestion[];
}

export async function readItemView(sql: Queryable, itemId: number): Promise<ItemView | null> {
  const rows = await sql<Omit<ItemView, 'questions'>[]>`
    SELECT w.id, p.owner, p.name AS repo, w.issue_number, p.html_url AS project_html_url, w.state, w.resume_phase,
           w.attempts, w.budget_cycles, w.error_count, w.max_errors, w.run_after, w.gate_count,
           (w.lease_token IS NOT NULL AND w.lease_until > now()) AS leased, w.pr_number,
           GREATEST(w.cost_usd, COALESCE((SELECT sum(c.usd) FROM cost_ledger c WHERE c.item_id = w.id), 0)) AS cost_usd,
           w.max_cost_usd, w.details, w.status_comment_id,
           COALESCE((SELECT max(e.created_at) FROM events_outbox e
                     WHERE e.item_id = w.id AND (e.type LIKE 'work.%' OR e.type = 'human.question')), w.created_at) AS since
    FROM work_items w JOIN projects p ON p.id = w.project_id
    WHERE w.id = ${itemId}`;
  const row = rows[0];
  if (!row) return null;
  const questions = await sql<ItemQuestion[]>`
    SELECT id, tag, kind, question, status, resume_phase, comment_id FROM human_issues WHERE item_id = ${itemId} ORDER BY id`;
  return { ...row, questions: [...questions] };
}
