/**
 * SQL pieces that several operations put in their one statement, so that each rule is written once:
 * how a lease is released, and how a new human issue is asked (its row and its human.question event).
 */
import type postgres from 'postgres';
import type { Queryable } from './connection.js';
import type { HumanIssueDraft } from '../domain/routing.js';

type Fragment = postgres.PendingQuery<postgres.Row[]>;

/** The work_items SET items that release the item's lease (its slot is freed by `freeSlots` in the same statement). */
export const clearLease = (sql: Queryable): Fragment => sql`lease_owner = NULL, lease_token = NULL, lease_until = NULL`;

/** The statement that frees the lease slots matching `where`. */
export const freeSlots = (sql: Queryable, where: Fragment): Fragment =>
  sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE ${where}`;

/**
 * The statement that inserts one human issue per draft for the item of CTE `item` (one row: id), returning
 * what `questionEvent` reads.
 */
export const insertQuestions = (sql: Queryable, item: string, drafts: readonly HumanIssueDraft[]): Fragment => {
  const rows = drafts.map((q) => ({ kind: q.kind, question: q.question, resume_phase: q.resumePhase }));
  return sql`
    INSERT INTO human_issues (item_id, kind, question, resume_phase)
    SELECT ${sql(item)}.id, q.kind, q.question, q.resume_phase::work_state
    FROM ${sql(item)}, jsonb_to_recordset(${sql.json(rows as never)}::jsonb) AS q(kind text, question text, resume_phase text)
    RETURNING id, tag, kind, question`;
};

/** SELECT list of the human.question event for each row of `hi` (a CTE of inserted human_issues: id, tag, kind, question). */
export const questionEvent = (sql: Queryable): Fragment =>
  sql`'human.question', jsonb_build_object('humanIssueId', hi.id, 'tag', hi.tag, 'kind', hi.kind, 'question', hi.question)`;
