import type { TxSql } from '../connection.js';
import { cancelItem } from './cancelItem.js';

/**
 * The story's issue is gone: the item is cancelled, and marked so that the relay stops mirroring to it (Gitea
 * answers 404 for the issue and 500 for its comments from now on) and a trigger label seen later cannot revive it.
 * False when the item was already finished (it is marked all the same).
 */
export async function markIssueDeleted(tx: TxSql, itemId: number, by: string): Promise<boolean> {
  const r = await cancelItem(tx, itemId, by, 'issue deleted');
  await tx`UPDATE work_items SET details = details || '{"issueDeleted": true}'::jsonb WHERE id = ${itemId}`;
  return r.ok;
}
