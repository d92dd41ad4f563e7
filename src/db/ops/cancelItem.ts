import type { Queryable } from '../connection.js';
import type { State } from '../../domain/states.js';
import { applyCause, type Applied } from './applyItemMove.js';

export type OperatorResult = { ok: true; itemId: number; from: State; to: State } | { ok: false; itemId: number; error: string };

/**
 * Cancel an item that is not done: its lease is revoked (a running phase's verdict will be
 * refused), its open questions are closed, and a work.cancelled event is written. The active phase
 * it was in is kept in resume_phase so it can be reactivated there (src/domain/transitions.ts).
 */
export async function cancelItem(sql: Queryable, itemId: number, by: string, reason = 'cancelled'): Promise<OperatorResult> {
  return operatorResult(itemId, await applyCause(sql, itemId, { kind: 'cancel', by, reason }));
}

export function operatorResult(itemId: number, applied: Applied): OperatorResult {
  if (applied === null) return { ok: false, itemId, error: `no work item ${itemId}` };
  if (!applied.ok) return { ok: false, itemId, error: applied.reason };
  return { ok: true, itemId, from: applied.from, to: applied.to };
}
