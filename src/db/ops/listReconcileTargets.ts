import type { Sql } from '../connection.js';

/** What the reconcile sweep looks at: every project, and the items that are not finished. */
export async function listReconcileTargets(sql: Sql): Promise<{
  /** `tracked`: issue numbers that already have an item that is not cancelled (no need to replay their label). */
  projects: { id: number; owner: string; name: string; tracked: number[] }[];
  items: { id: number; projectId: number; issueNumber: number; prNumber: number | null; state: string }[];
}> {
  const projects = await sql<{ id: number; owner: string; name: string; tracked: number[] }[]>`
    SELECT p.id, p.owner, p.name,
           COALESCE((SELECT array_agg(w.issue_number) FROM work_items w WHERE w.project_id = p.id AND w.state <> 'cancelled'), '{}') AS tracked
    FROM projects p ORDER BY p.id`;
  const items = await sql<{ id: number; projectId: number; issueNumber: number; prNumber: number | null; state: string }[]>`
    SELECT id, project_id, issue_number, pr_number, state FROM work_items WHERE state NOT IN ('done', 'cancelled') ORDER BY id`;
  return { projects: [...projects], items: [...items] };
}
