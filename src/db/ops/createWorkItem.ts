import type { Queryable } from '../connection.js';
import { parsePhaseState } from '../../domain/phaseState.js';
import type { StoredRow, WorkItem } from '../types.js';

export interface NewWorkItem {
  projectId: number;
  issueNumber: number;
  title?: string;
  priority?: number;
  budgetCycles?: number;
  maxErrors?: number;
  maxCostUsd?: number | null;
}

export interface CreateResult {
  item: WorkItem;
  created: boolean;
}

/**
 * Create the work item for an issue in `spec`, with its work.created event, in one statement.
 * An issue already tracked keeps its item (created = false): a story enters once.
 */
export async function createWorkItem(sql: Queryable, n: NewWorkItem): Promise<CreateResult> {
  const rows = await sql<(StoredRow<WorkItem> & { created: boolean })[]>`
    WITH ins AS (
      INSERT INTO work_items (project_id, issue_number, title, priority, budget_cycles, max_errors, max_cost_usd)
      VALUES (${n.projectId}, ${n.issueNumber}, ${n.title ?? ''}, ${n.priority ?? 0},
              ${n.budgetCycles ?? 3}, ${n.maxErrors ?? 5}, ${n.maxCostUsd ?? null})
      ON CONFLICT (project_id, issue_number) DO NOTHING
      RETURNING *
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT id, 'work.created', jsonb_build_object('issueNumber', issue_number, 'title', title, 'by', requested_by) FROM ins
    )
    SELECT ins.*, true AS created FROM ins
    UNION ALL
    SELECT w.*, false AS created FROM work_items w
    WHERE w.project_id = ${n.projectId} AND w.issue_number = ${n.issueNumber} AND NOT EXISTS (SELECT 1 FROM ins)`;
  const row = rows[0]!;
  const { created, ...item } = row;
  return { item: { ...item, details: parsePhaseState(item.details, item.id) }, created };
}
