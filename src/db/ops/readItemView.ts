import { readPhaseState, type PhaseState } from '../../domain/phaseState.js';
import type { Queryable } from '../connection.js';
import { ITEM_COLUMNS, type DashboardItemRow } from './readDashboard.js';
import type { ItemQuestionRow } from './readItemDetail.js';

/** One of the item's human issues, as the mirror needs it. */
export interface ItemQuestion extends Pick<ItemQuestionRow, 'id' | 'tag' | 'kind' | 'question' | 'status' | 'resumePhase'> {
  /** The bot's comment that asked it. */
  commentId: number | null;
}

/** What the mirror shows about one item: the dashboard's facts of it, and its details, comment, questions. */
export interface ItemView extends DashboardItemRow {
  /** The database's clock at the read (what it waits on is judged against it, as on the dashboard). */
  now: Date;
  /** A live lease is held on it. */
  leased: boolean;
  /** The keys of its phase state that fit their types: the mirror shows what it can of a row the claim would refuse. */
  details: PhaseState;
  statusCommentId: number | null;
  /** The running agent's last progress report (schema/007), or null. */
  agentProgress: Record<string, unknown> | null;
  /** When the item last changed state (its latest work.* / human.question event), else its creation. */
  since: Date;
  /** Every human issue of the item, oldest first. */
  questions: ItemQuestion[];
}

export async function readItemView(sql: Queryable, itemId: number): Promise<ItemView | null> {
  const rows = await sql<(Omit<ItemView, 'questions' | 'details'> & { details: unknown })[]>`
    SELECT ${sql.unsafe(ITEM_COLUMNS)}, now() AS now, (w.lease_token IS NOT NULL AND w.lease_until > now()) AS leased,
           w.details, w.status_comment_id, w.agent_progress,
           COALESCE((SELECT max(e.created_at) FROM events_outbox e
                     WHERE e.item_id = w.id AND (e.type LIKE 'work.%' OR e.type = 'human.question')), w.created_at) AS since
    FROM work_items w JOIN projects p ON p.id = w.project_id
    WHERE w.id = ${itemId}`;
  const row = rows[0];
  if (!row) return null;
  const questions = await sql<ItemQuestion[]>`
    SELECT id, tag, kind, question, status, resume_phase, comment_id FROM human_issues WHERE item_id = ${itemId} ORDER BY id`;
  return { ...row, details: readPhaseState(row.details).state, questions: [...questions] };
}
