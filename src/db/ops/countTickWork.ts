import { CLAIMABLE } from '../claimable.js';
import type { Sql } from '../connection.js';

/**
 * What a heartbeat needs: free slots under the global cap, and how many items could be claimed
 * now (counted only up to `free`, by the claim's own three conditions, src/db/claimable.ts).
 */
export async function countTickWork(sql: Sql, cap: number): Promise<{ live: number; free: number; claimable: number }> {
  const [row] = await sql<{ live: number }[]>`
    SELECT count(*)::int AS live FROM lease_slots WHERE slot < ${cap} AND lease_token IS NOT NULL AND lease_until > now()`;
  const live = row!.live;
  const free = Math.max(0, cap - live);
  if (free === 0) return { live, free, claimable: 0 };
  const [c] = await sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM (
      (SELECT 1 FROM work_items WHERE ${sql.unsafe(CLAIMABLE.ready)} LIMIT ${free})
      UNION ALL
      (SELECT 1 FROM work_items WHERE ${sql.unsafe(CLAIMABLE.due)} LIMIT ${free})
      UNION ALL
      (SELECT 1 FROM work_items WHERE ${sql.unsafe(CLAIMABLE.expired)} LIMIT ${free})
    ) c`;
  return { live, free, claimable: Math.min(free, c!.n) };
}
