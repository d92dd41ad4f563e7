import type { TxSql } from '../connection.js';
import { applyCause } from './applyItemMove.js';

/**
 * The trigger label added again to a cancelled story: it resumes the phase it was cancelled in
 * (src/domain/transitions.ts), with a new snapshot of what is labelled now, to be vouched for again
 * (spec phase), and a work.reactivated event. An item that is not cancelled is left alone.
 */
export async function reactivateItem(tx: TxSql, itemId: number, story: { by: string; title: string; body: string }): Promise<void> {
  await applyCause(
    tx,
    itemId,
    { kind: 'reactivate', by: story.by },
    tx`requested_by = ${story.by}, title = ${story.title}, story_body = ${story.body}, story_vouched_by = NULL`,
  );
}
