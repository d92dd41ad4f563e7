import type { TxSql } from '../connection.js';
import type { IntakeItem } from '../../domain/intake.js';
import type { ActivePhase, State } from '../../domain/states.js';
import { isPrEvent, type ActionableEvent } from '../../domain/webhookEvent.js';
import { projectIsCurrent } from './upsertProject.js';

/** A delivery's headers. */
export interface Delivery {
  deliveryId: string;
  event: string;
  eventType: string | null;
  action: string | null;
}

/** What the store knows about a recorded delivery's subject. */
export interface DeliveryContext {
  deliveryRowId: number;
  /** Where the delivery row is: the closing statement updates it by TID, whatever plan the cache holds. */
  deliveryTid: string;
  /** The story's item, row-locked for this transaction: by its issue number, or by its pull request. */
  item: IntakeItem | null;
  /** The project's id when its row already says what this payload says about the repository. */
  currentProjectId: number | null;
}

/** Record the deliveries and read what each is about, in one statement; null for a duplicate. */
export async function recordDeliveries(tx: TxSql, deliveries: readonly { delivery: Delivery; event: ActionableEvent }[]): Promise<(DeliveryContext | null)[]> {
  const input = deliveries.map(({ delivery: d, event: ev }, n) => ({
    n,
    delivery_id: d.deliveryId,
    event: d.event,
    event_type: d.eventType,
    action: d.action,
    owner: ev.repo.owner,
    name: ev.repo.name,
    repo_id: ev.repo.id,
    default_branch: ev.repo.defaultBranch,
    html_url: ev.repo.htmlUrl,
    clone_url: ev.repo.cloneUrl,
    issue_number: isPrEvent(ev) ? null : ev.issue.number,
    pr_number: isPrEvent(ev) ? ev.number : null,
    // A new comment is taken once, by whichever of its webhook and the reconcile sweep comes first.
    comment_id: ev.kind === 'comment' && ev.action === 'created' ? ev.comment.id : null,
  }));
  // the delivery's item by one work_items column, the same in the input
  const itemBy = (column: 'issue_number' | 'pr_number') => tx`
      SELECT i.n, w.id, w.state, w.resume_phase, w.issue_deleted FROM input i
      CROSS JOIN LATERAL (
        SELECT w.id, w.state, w.resume_phase, COALESCE((w.details ->> 'issueDeleted')::boolean, false) AS issue_deleted FROM work_items w
        WHERE w.project_id = (SELECT p.id FROM projects p WHERE p.owner = i.owner AND p.name = i.name)
          AND w.${tx(column)} = i.${tx(column)}
        FOR UPDATE
      ) w`;
  const rows = await tx<
    {
      n: number;
      deliveryRowId: number;
      deliveryTid: string;
      itemId: number | null;
      state: State | null;
      resumePhase: ActivePhase | null;
      issueDeleted: boolean | null;
      currentProjectId: number | null;
    }[]
  >`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${tx.json(input as never)}::jsonb) AS i(
        n int, delivery_id text, event text, event_type text, action text, owner text, name text, repo_id bigint,
        default_branch text, html_url text, clone_url text, issue_number int, pr_number int, comment_id bigint)
    ), d AS (
      -- processed from the start (the closing statement reopens an inbox delivery), so the settling
      -- update leaves the pending index alone
      INSERT INTO webhook_deliveries (delivery_id, event, event_type, action, result, processed_at, comment_id)
      SELECT delivery_id, event, event_type, action, 'received', now(), comment_id FROM input ORDER BY n
      ON CONFLICT DO NOTHING
      RETURNING id, ctid, delivery_id
    ), item AS (
      -- one index probe per delivery (a join could be planned as a scan of the whole table: the
      -- planner takes the input for 100 rows, and a cached plan outlives the table's growth)
      ${itemBy('issue_number')}
      UNION ALL
      ${itemBy('pr_number')}
    ), project AS (
      SELECT i.n, p.id FROM input i JOIN projects p ON p.owner = i.owner AND p.name = i.name
      WHERE ${projectIsCurrent(tx, 'p', { repoId: tx`i.repo_id`, defaultBranch: tx`COALESCE(i.default_branch, 'main')`, htmlUrl: tx`i.html_url`, cloneUrl: tx`i.clone_url` })}
    )
    SELECT i.n, d.id AS delivery_row_id, d.ctid::text AS delivery_tid, item.id AS item_id, item.state, item.resume_phase, item.issue_deleted, project.id AS current_project_id
    FROM input i JOIN d ON d.delivery_id = i.delivery_id
    LEFT JOIN item ON item.n = i.n LEFT JOIN project ON project.n = i.n
    ORDER BY i.n`;
  const out: (DeliveryContext | null)[] = deliveries.map(() => null);
  for (const r of rows) {
    if (out[r.n]) continue; // a second item with the same PR number: the first one counts
    out[r.n] = {
      deliveryRowId: r.deliveryRowId,
      deliveryTid: r.deliveryTid,
      item: r.itemId === null ? null : { id: r.itemId, state: r.state!, resumePhase: r.resumePhase, issueDeleted: r.issueDeleted === true },
      currentProjectId: r.currentProjectId,
    };
  }
  return out;
}
