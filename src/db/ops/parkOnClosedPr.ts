import type { TxSql } from '../connection.js';
import type { ActivePhase, State } from '../../domain/states.js';
import { decideItemTransition } from '../../domain/transitions.js';
import { applyItemMove } from './applyItemMove.js';

/**
 * The story's pull request was closed without merging: the item waits in awaiting_human on a question
 * (closedPrQuestion), to resume the phase it was in, its lease and slot released (src/domain/transitions.ts).
 * `item` is the caller's snapshot, read under the row's lock; a done or cancelled item is left alone.
 */
export async function parkOnClosedPr(tx: TxSql, item: { id: number; state: State; resumePhase: ActivePhase | null }, prNumber: number): Promise<void> {
  const decision = decideItemTransition(item, { kind: 'pr_closed', prNumber });
  if (decision.ok) await applyItemMove(tx, item, decision);
}
