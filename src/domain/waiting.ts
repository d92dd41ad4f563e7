/**
 * Why an item waits, the one rule the dashboard and the status comment both phrase (pure). It follows the claim:
 * a live lease is a run, an open gate keeps the item unclaimable whatever its run_after, a run_after still ahead
 * holds it back, and anything else is claimable and waits for a free worker.
 */
import type { State } from './states.js';

export type WaitKind = 'running' | 'review_run' | 'error_retry' | 'gated' | 'question' | 'blocked' | 'queued' | 'finished';

export interface WaitFacts {
  state: State;
  /** The lease's holder and end, as stored (a lease is live while it has a holder and its end is ahead). */
  leaseOwner: string | null;
  leaseUntil: Date | null;
  runAfter: Date | null;
  gateCount: number;
  errorCount: number;
}

/** What the item waits on at `now` (the database's clock at the read that gave the facts). */
export function waitKind(f: WaitFacts, now: Date): WaitKind {
  switch (f.state) {
    case 'done':
    case 'cancelled':
      return 'finished';
    case 'blocked':
      return 'blocked';
    case 'awaiting_human':
      return 'question';
    default:
      if (f.leaseOwner !== null && f.leaseUntil !== null && f.leaseUntil > now) return 'running';
      if (f.gateCount > 0) return 'gated';
      // In review and without errors, run_after is the wait for the review run the phase dispatched.
      if (f.runAfter !== null && f.runAfter > now) return f.state === 'review' && f.errorCount === 0 ? 'review_run' : 'error_retry';
      return 'queued';
  }
}
