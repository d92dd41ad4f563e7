import type { Queryable } from '../connection.js';

/**
 * The sha256 of every test command a writer approved for this item: spec_approval gates that carried a
 * command and were closed by `/damascus approve` (approveSpecGate is the only thing that closes them).
 */
export async function readApprovedTestCommands(sql: Queryable, itemId: number): Promise<string[]> {
  const rows = await sql<{ sha: string }[]>`
    SELECT details ->> 'testCommandSha256' AS sha FROM coordination_gates
    WHERE item_id = ${itemId} AND kind = 'spec_approval' AND NOT is_open AND resolved_by IS NOT NULL
      AND details ? 'testCommandSha256'`;
  return rows.map((r) => r.sha);
}
