import type { Sql } from '../connection.js';

export interface ReconcileItem {
  id: number;
  projectId: number;
  issueNumber: number;
  prNumber: number | null;
  state: string;
  /** When it began to wait for a human (an open question, a block, an approval gate); null when it does not wait. */
  waitingSince: Date | null;
}

/** What the reconcile sweep looks at: every project, and the items that are not finished. */
export async function listReconcileTargets(sql: Sql): Promise<{
  /** `tracked`: issue numbers that already have an item that is not cancelled (no need to replay their label). */
  projects: { id: number; owner: string; name: string; tracked: number[] }[];
  items: ReconcileItem[];
}> {
  const projects = await sql<{ id: number; owner: string; name: string; tracked: number[] }[]>`
    SELECT p.id, p.owner, p.name,
           COALESCE((SELECT array_agg(w.issue_number) FROM work_items w WHERE w.project_id = p.id AND w.state <> 'cancelled'), '{}') AS tracked
    FROM projects p ORDER BY p.id`;
  const items = await sql<ReconcileItem[]>`
    SELECT w.id, w.project_id, w.issue_number, w.pr_number, w.state,
           CASE WHEN w.state IN ('awaiting_human', 'blocked') OR w.gate_count > 0 THEN COALESCE(
             (SELECT min(h.created_at) FROM human_issues h WHERE h.item_id = w.id AND h.status = 'open'),
             (SELECT min(g.created_at) FROM coordination_gates g WHERE g.item_id = w.id AND g.is_open),
             w.updated_at) END AS waiting_since
    FROM work_items w WHERE w.state NOT IN ('done', 'cancelled') ORDER BY w.id`;
  return { projects: [...projects], items: [...items] };
}
