import type { Sql } from '../connection.js';
import type { ActivePhase } from '../../domain/states.js';

export interface CostEntry {
  itemId: number;
  phase: ActivePhase;
  kind: 'llm' | 'agent';
  model: string | null;
  inputTokens?: number;
  outputTokens?: number;
  /** null: the cost is unknown (no report, no price for the model); the ledger keeps it as unknown. */
  usd: number | null;
  details?: Record<string, unknown>;
}

/** Write one cost_ledger row and add it (when known) to the item's running total, in one statement. Returns the new total. */
export async function recordCost(sql: Sql, c: CostEntry): Promise<number> {
  const [row] = await sql<{ costUsd: number }[]>`
    WITH ins AS (
      INSERT INTO cost_ledger (item_id, phase, kind, model, input_tokens, output_tokens, usd, details)
      VALUES (${c.itemId}, ${c.phase}, ${c.kind}, ${c.model}, ${c.inputTokens ?? 0}, ${c.outputTokens ?? 0}, ${c.usd}, ${sql.json((c.details ?? {}) as never)})
      RETURNING item_id, usd
    )
    UPDATE work_items w SET cost_usd = w.cost_usd + COALESCE(ins.usd, 0) FROM ins WHERE w.id = ins.item_id
    RETURNING w.cost_usd`;
  return row?.costUsd ?? 0;
}
