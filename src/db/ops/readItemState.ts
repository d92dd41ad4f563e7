import type { Queryable } from '../connection.js';
import type { ItemStateSnapshot } from '../../domain/transitions.js';

/** The item's state and resume phase, its row locked for the caller's transaction; null when there is no such item. */
export async function readItemState(sql: Queryable, itemId: number): Promise<ItemStateSnapshot | null> {
  const [row] = await sql<ItemStateSnapshot[]>`SELECT id, state, resume_phase FROM work_items WHERE id = ${itemId} FOR UPDATE`;
  return row ?? null;
}
