import type postgres from 'postgres';
import type { Queryable } from '../connection.js';
import { clearLease, freeSlots, insertQuestions, questionEvent } from '../fragments.js';
import { decideItemTransition, type Cause, type Decision, type ItemStateSnapshot, type Move, type SettleQuestions } from '../../domain/transitions.js';
import { readItemState } from './readItemState.js';

/** The decision applied, or null when there is no such item. */
export type Applied = Decision | null;

/**
 * A cause applied to the item: its snapshot read under its row lock, the move decided by the domain table
 * and applied fenced on that snapshot (read again if the item changed meanwhile, which only a caller
 * outside a transaction can see). A refusal writes nothing.
 */
export async function applyCause(sql: Queryable, itemId: number, cause: Cause, set?: postgres.PendingQuery<postgres.Row[]>): Promise<Applied> {
  for (;;) {
    const item = await readItemState(sql, itemId);
    if (!item) return null;
    const decision = decideItemTransition(item, cause);
    if (!decision.ok || (await applyItemMove(sql, item, decision, set))) return decision;
  }
}

/**
 * Apply a transition decided by src/domain/transitions.ts, in one statement: the item's new state, resume
 * phase and run_after, its lease and slot released, its open questions settled, new questions with their
 * human.question events, and the move's events. Fenced on the snapshot the move was decided from (state
 * and resume phase): false, and nothing written, when the item changed meanwhile. `set` adds SET items.
 */
export async function applyItemMove(sql: Queryable, item: ItemStateSnapshot, move: Move, set?: postgres.PendingQuery<postgres.Row[]>): Promise<boolean> {
  const rows = await sql`
    WITH upd AS (
      UPDATE work_items w SET state = ${move.to}, resume_phase = ${move.resumePhase}::work_state, run_after = NULL
        ${move.releaseLease ? sql`, ${clearLease(sql)}` : sql``}
        ${move.resetBudget ? sql`, attempts = 0, error_count = 0` : sql``}
        ${set ? sql`, ${set}` : sql``}
      WHERE w.id = ${item.id} AND w.state = ${item.state} AND w.resume_phase IS NOT DISTINCT FROM ${item.resumePhase}::work_state
      RETURNING w.id
    ), slot AS (
      ${move.releaseLease ? freeSlots(sql, sql`item_id = ${item.id} AND EXISTS (SELECT 1 FROM upd)`) : sql`SELECT 1`}
    ), settled AS (
      ${settleQuestions(sql, item.id, move.settleQuestions)}
    ), hi AS (
      ${insertQuestions(sql, 'upd', move.questions)}
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT upd.id, e.type, e.payload FROM upd, jsonb_to_recordset(${sql.json(move.events as never)}::jsonb) AS e(type text, payload jsonb)
      UNION ALL
      SELECT upd.id, ${questionEvent(sql)} FROM upd, hi
    )
    SELECT id FROM upd`;
  return rows.length > 0;
}

function settleQuestions(sql: Queryable, itemId: number, settle: SettleQuestions | null): postgres.PendingQuery<postgres.Row[]> {
  if (settle === null) return sql`SELECT 1`;
  if (settle.as === 'cancelled') {
    return sql`UPDATE human_issues SET status = 'cancelled' WHERE item_id = ${itemId} AND status = 'open' AND EXISTS (SELECT 1 FROM upd)`;
  }
  return sql`
    UPDATE human_issues SET status = 'answered', answer = ${settle.answer}, answered_by = ${settle.by}, answered_at = now()
    WHERE item_id = ${itemId} AND status = 'open' AND kind = ${settle.kind} AND EXISTS (SELECT 1 FROM upd)`;
}
