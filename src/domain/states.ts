/** States, verdicts and their vocabulary (DESIGN §2). Plain data, no I/O. */

export const ACTIVE_PHASES = ['spec', 'build', 'review'] as const;
export type ActivePhase = (typeof ACTIVE_PHASES)[number];

export const STATES = [...ACTIVE_PHASES, 'awaiting_human', 'blocked', 'done', 'cancelled'] as const;
export type State = (typeof STATES)[number];

export const VERDICTS = ['pass', 'fail', 'spec_wrong', 'needs_human', 'error'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** States an item never leaves on its own (only an operator or a human moves it). */
export const PARKED_STATES = ['awaiting_human', 'blocked'] as const satisfies readonly State[];
export const TERMINAL_STATES = ['done', 'cancelled'] as const satisfies readonly State[];

export function isActivePhase(s: string): s is ActivePhase {
  return (ACTIVE_PHASES as readonly string[]).includes(s);
}

export function isState(s: string): s is State {
  return (STATES as readonly string[]).includes(s);
}

export function isVerdict(s: string): s is Verdict {
  return (VERDICTS as readonly string[]).includes(s);
}

/**
 * The claim's first sort key: finish what is closest to done (review → build → spec).
 * Stored on the row (work_items.claim_rank) so the claim index can order by it.
 */
export function claimRank(state: State): number {
  switch (state) {
    case 'review':
      return 0;
    case 'build':
      return 1;
    default:
      return 2;
  }
}
