import type { Queryable } from '../connection.js';
import { applyCause } from './applyItemMove.js';
import { operatorResult, type OperatorResult } from './cancelItem.js';

/**
 * Resume a blocked or cancelled item at the active phase it left, with a fresh attempt budget
 * and error count; the questions that parked it are marked answered by `by` (src/domain/transitions.ts).
 */
export async function retryItem(sql: Queryable, itemId: number, by: string): Promise<OperatorResult> {
  return operatorResult(itemId, await applyCause(sql, itemId, { kind: 'retry', by }));
}
