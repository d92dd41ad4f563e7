/** States, verdicts and their vocabulary (DESIGN §2). Plain data, no I/O. */

export const ACTIVE_PHASES = ['spec', 'build', 'review'] as const;
export type ActivePhase = (typeof ACTIVE_PHASES)[number];

export const STATES = [...ACTIVE_PHASES, 'awaiting_human', 'blocked', 'done', 'cancelled'] as const;
export type State = (typeof STATES)[number];

export const VERDICTS = ['pass', 'fail', 'spec_wrong', 'needs_human', 'error'] as const;
export type Verdict = (typeof VERDICTS)[number];

export function isActivePhase(s: string): s is ActivePhase {
  return (ACTIVE_PHASES as readonly string[]).includes(s);
}

export function isState(s: string): s is State {
  return (STATES as readonly string[]).includes(s);
}

export function isVerdict(s: string): s is Verdict {
  return (VERDICTS as readonly string[]).includes(s);
}
