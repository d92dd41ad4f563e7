import { randomUUID } from 'node:crypto';
import { CLAIMABLE } from '../claimable.js';
import type { Sql } from '../connection.js';
import { PhaseStateError, readPhaseState } from '../../domain/phaseState.js';
import type { ClaimedItem, StoredRow } from '../types.js';

export interface ClaimOptions {
  /** The global cap on live leases (DAMASCUS_CONCURRENCY). */
  cap: number;
  leaseMs: number;
}

/**
 * Claim one item and lease it, in one statement that commits at once (DESIGN §3).
 *
 * A free lease slot (slot < cap, no live lease) is taken with the item, so the cap holds across
 * every process. Candidates come from three short index paths (src/db/claimable.ts), each the first unlocked row:
 *  - ready:   runnable now, ordered review → build → spec, priority, age (work_items_ready);
 *  - due:     waiting items whose run_after has passed (work_items_waiting);
 *  - expired: items whose worker's lease ran out (work_items_leased).
 * The best of the three by claim order wins. Leased and waiting rows are outside the ready
 * index, so a claim stays short however many items run or wait on CI.
 *
 * The claim's commit does not wait for the WAL flush (synchronous_commit off for this transaction
 * only; call it outside any transaction of yours). A claim lost in a crash is a lease that never
 * existed: the item is claimable again and the fenced verdict writes nothing. The verdict's
 * commit waits, and flushes the claim's records with its own.
 */
/**
 * The claim took an item whose phase state does not fit (src/domain/phaseState.ts): the lease is held, and the
 * caller records an infrastructure error on `item` (which carries the keys that fit) instead of running its phase.
 */
export class UnfitClaimError extends PhaseStateError {
  override name = 'UnfitClaimError';
  constructor(
    readonly item: ClaimedItem,
    problems: string[],
  ) {
    super(item.id, problems);
  }
}

export async function claimNextItem(sql: Sql, workerId: string, opts: ClaimOptions): Promise<ClaimedItem | null> {
  const token = randomUUID();
  const rows = await sql<StoredRow<ClaimedItem>[]>`
    WITH slot AS (
      SELECT slot FROM lease_slots
      WHERE slot < ${opts.cap} AND (lease_token IS NULL OR lease_until < now())
      ORDER BY slot LIMIT 1
      FOR UPDATE SKIP LOCKED
    ), ready AS (
      SELECT id, claim_rank, priority FROM work_items
      WHERE ${sql.unsafe(CLAIMABLE.ready)} AND EXISTS (SELECT 1 FROM slot)
      ORDER BY claim_rank, priority DESC, id LIMIT 1
      FOR UPDATE SKIP LOCKED
    ), due AS (
      SELECT id, claim_rank, priority FROM work_items
      WHERE ${sql.unsafe(CLAIMABLE.due)} AND EXISTS (SELECT 1 FROM slot)
      ORDER BY run_after LIMIT 1
      FOR UPDATE SKIP LOCKED
    ), expired AS (
      SELECT id, claim_rank, priority FROM work_items
      WHERE ${sql.unsafe(CLAIMABLE.expired)} AND EXISTS (SELECT 1 FROM slot)
      ORDER BY lease_until LIMIT 1
      FOR UPDATE SKIP LOCKED
    ), pick AS (
      SELECT id FROM (SELECT * FROM ready UNION ALL SELECT * FROM due UNION ALL SELECT * FROM expired) c
      ORDER BY claim_rank, priority DESC, id LIMIT 1
    ), item AS (
      UPDATE work_items w
      SET lease_owner = ${workerId}, lease_token = ${token}, run_after = NULL, leased_at = now(),
          lease_until = now() + ${opts.leaseMs} * interval '1 millisecond'
      FROM pick, slot
      WHERE w.id = pick.id
      RETURNING w.*
    ), taken AS (
      UPDATE lease_slots s
      SET item_id = item.id, lease_owner = item.lease_owner, lease_token = item.lease_token, lease_until = item.lease_until
      FROM item, slot
      WHERE s.slot = slot.slot
      RETURNING s.slot
    ), relaxed AS (
      -- referenced below so that it runs; is_local = true: this transaction only
      SELECT set_config('synchronous_commit', 'off', true) AS v
    )
    SELECT item.*, taken.slot FROM item, taken, relaxed`;
  const row = rows[0];
  if (!row) return null;
  const { state, problems } = readPhaseState(row.details);
  const item: ClaimedItem = { ...row, details: state };
  if (problems.length > 0) throw new UnfitClaimError(item, problems);
  return item;
}
