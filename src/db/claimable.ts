/**
 * Which work items can be claimed, the one definition the claim (ops/claimNextItem.ts) and the heartbeat's count
 * (ops/countTickWork.ts) both use: three conditions over `work_items`, each the predicate of the partial index its
 * path scans (schema/001_core.sql), so the planner keeps using them. An item is claimable by exactly one path.
 */
export const CLAIMABLE = {
  /** Runnable now: an active phase, no lease, nothing to wait for, no open gate (work_items_ready). */
  ready: `state IN ('spec', 'build', 'review') AND lease_token IS NULL AND run_after IS NULL AND gate_count = 0`,
  /** Waiting items whose run_after has passed (work_items_waiting). */
  due: `state IN ('spec', 'build', 'review') AND lease_token IS NULL AND run_after IS NOT NULL AND gate_count = 0 AND run_after <= now()`,
  /** Items whose worker's lease ran out (work_items_leased). */
  expired: `lease_token IS NOT NULL AND lease_until < now() AND gate_count = 0`,
} as const;
