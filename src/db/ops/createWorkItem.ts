import type { Queryable } from '../connection.js';
import { parsePhaseState } from '../../domain/phaseState.js';
import type { StoredRow, WorkItem } from '../types.js';
import { createStory } from './createStory.js';

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
 * Create the work item for an issue in `spec`, with its work.created event, as the intake creates a
 * story (createStory), then set its limits. An issue already tracked keeps its item (created = false):
 * a story enters once.
 */
export async function createWorkItem(sql: Queryable, n: NewWorkItem): Promise<CreateResult> {
  const itemId = await createStory(sql, {
    project_id: n.projectId,
    issue_number: n.issueNumber,
    title: n.title ?? '',
    requested_by: null,
    issue_url: null,
    story_body: null,
  });
  const [row] =
    itemId === null
      ? await sql<StoredRow<WorkItem>[]>`SELECT * FROM work_items WHERE project_id = ${n.projectId} AND issue_number = ${n.issueNumber}`
      : await sql<StoredRow<WorkItem>[]>`
        UPDATE work_items SET priority = ${n.priority ?? 0}, budget_cycles = ${n.budgetCycles ?? 3}, max_errors = ${n.maxErrors ?? 5},
          max_cost_usd = ${n.maxCostUsd ?? null}
        WHERE id = ${itemId} RETURNING *`;
  const item = row!;
  return { item: { ...item, details: parsePhaseState(item.details, item.id) }, created: itemId !== null };
}
