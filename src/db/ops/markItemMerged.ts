import type { TxSql } from '../connection.js';
import { applyCause } from './applyItemMove.js';

/**
 * The story's pull request was merged: the item is done (even after a cancel; src/domain/transitions.ts),
 * its lease and slot released, with a work.done event. A done item is left alone.
 */
export async function markItemMerged(tx: TxSql, itemId: number, merge: { by: string; mergeCommitSha: string | null }): Promise<void> {
  await applyCause(tx, itemId, { kind: 'merge', by: merge.by, mergeCommitSha: merge.mergeCommitSha });
}
