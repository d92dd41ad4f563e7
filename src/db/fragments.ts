/**
 * SQL pieces that several operations put in their one statement, so that each rule is written once:
 * how a lease is released, and the human.question event of a new human issue.
 */
import type postgres from 'postgres';
import type { Queryable } from './connection.js';

type Fragment = postgres.PendingQuery<postgres.Row[]>;

/** The work_items SET items that release the item's lease (its slot is freed by `freeSlots` in the same statement). */
export const clearLease = (sql: Queryable): Fragment => sql`lease_owner = NULL, lease_token = NULL, lease_until = NULL`;

/** The statement that frees the lease slots matching `where`. */
export const freeSlots = (sql: Queryable, where: Fragment): Fragment =>
  sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE ${where}`;

/** SELECT list of the human.question event for each row of `hi` (a CTE of inserted human_issues: id, tag, kind, question). */
export const questionEvent = (sql: Queryable): Fragment =>
  sql`'human.question', jsonb_build_object('humanIssueId', hi.id, 'tag', hi.tag, 'kind', hi.kind, 'question', hi.question)`;
