import type { Sql } from '../connection.js';

/**
 * Store a running agent's progress and ask the relay to show it, in one statement: only while our lease holds
 * (a run that lost its item writes nothing). Returns false when the lease is gone.
 */
export async function recordAgentProgress(sql: Sql, itemId: number, leaseToken: string, progress: Record<string, unknown>): Promise<boolean> {
  const rows = await sql`
    WITH item AS (
      UPDATE work_items SET agent_progress = ${sql.json(progress as never)}
      WHERE id = ${itemId} AND lease_token = ${leaseToken} AND lease_until > now()
      RETURNING id
    )
    INSERT INTO events_outbox (item_id, type, payload) SELECT id, 'agent.progress', '{}'::jsonb FROM item
    RETURNING id`;
  return rows.length > 0;
}
