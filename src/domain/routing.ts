import type { EventWithout, VerdictContext, VerdictPayload } from './events.js';
import type { ActivePhase, State, Verdict } from './states.js';

/**
 * The routing table of DESIGN §2: where each (phase, verdict) goes when nothing else intervenes.
 * `review` + `pass` means the review phase has merged, so the item is done.
 */
export const ROUTES: Record<ActivePhase, Record<Exclude<Verdict, 'error'>, State>> = {
  spec: { pass: 'build', fail: 'spec', spec_wrong: 'spec', needs_human: 'awaiting_human' },
  build: { pass: 'review', fail: 'build', spec_wrong: 'spec', needs_human: 'awaiting_human' },
  review: { pass: 'done', fail: 'build', spec_wrong: 'spec', needs_human: 'awaiting_human' },
};

/** What a transition needs to know about the item (a snapshot taken under its lease). */
export interface ItemSnapshot {
  id: number;
  state: ActivePhase;
  attempts: number;
  budgetCycles: number;
  errorCount: number;
  maxErrors: number;
}

export interface VerdictInput {
  verdict: Verdict;
  /** One line a human can read: why this verdict. */
  reason?: string;
  /** needs_human: one question each. */
  questions?: string[];
  /**
   * Park the item as blocked whatever the budget says (e.g. its cost budget is spent), with this
   * sentence as the question. Applies to non-pass verdicts; consumes no attempt.
   */
  block?: string;
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/** A verdict's events as decided: recordVerdict adds their VerdictContext. */
export type VerdictEvent = EventWithout<'work.verdict' | 'work.blocked', keyof VerdictContext>;
type VerdictExtra = Pick<VerdictPayload, 'errorCount' | 'retryInMs'>;

export interface HumanIssueDraft {
  kind: 'question' | 'blocked';
  question: string;
  resumePhase: ActivePhase;
}

export interface Transition {
  from: ActivePhase;
  to: State;
  verdict: Verdict;
  /** The active phase to resume when the item leaves awaiting_human/blocked (null when active or done). */
  resumePhase: ActivePhase | null;
  attempts: number;
  errorCount: number;
  /** Milliseconds to wait before the item may be claimed again (error backoff); null = at once. */
  delayMs: number | null;
  /** True when this verdict used up one of the item's budget cycles. */
  attemptConsumed: boolean;
  humanIssues: HumanIssueDraft[];
  events: VerdictEvent[];
  /** Why the transition went where it went, in a sentence (shown by `/damascus why`). */
  explanation: string;
}

/** Exponential backoff for the n-th consecutive error (n ≥ 1), capped. */
export function errorBackoffMs(n: number, policy: BackoffPolicy): number {
  const exp = Math.min(n - 1, 30);
  return Math.min(policy.baseMs * 2 ** exp, policy.maxMs);
}

/**
 * Decide the transition for one verdict. Pure: the store applies the result in one transaction.
 * - fail / spec_wrong consume an attempt; when attempts reach budget_cycles the item is blocked
 *   (loop-breaker) with a human issue and a work.blocked event.
 * - error consumes no attempt: retried after backoff; max_errors consecutive errors block the item.
 * - needs_human parks the item in awaiting_human with one question per human issue.
 */
export function decideTransition(item: ItemSnapshot, input: VerdictInput, backoff: BackoffPolicy): Transition {
  const from = item.state;
  const base = {
    from,
    verdict: input.verdict,
    attempts: item.attempts,
    errorCount: 0,
    delayMs: null as number | null,
    attemptConsumed: false,
    humanIssues: [] as HumanIssueDraft[],
  };
  const verdictEvent = (to: State, extra: VerdictExtra = {}): VerdictEvent => ({
    type: 'work.verdict',
    payload: { phase: from, verdict: input.verdict, from, to, reason: input.reason ?? null, ...extra },
  });

  if (input.block && input.verdict !== 'pass') {
    const question = `${input.block} Reply \`/damascus retry\` to resume ${from} once that is settled.`;
    return blocked({ ...base, errorCount: input.verdict === 'error' ? item.errorCount : 0 }, from, question, input, verdictEvent, input.block);
  }

  if (input.verdict === 'error') {
    const errorCount = item.errorCount + 1;
    if (errorCount >= item.maxErrors) {
      const question =
        `${from} failed with an infrastructure error ${errorCount} times in a row` +
        (input.reason ? ` (last: ${input.reason})` : '') +
        '. Fix the cause, then reply `/damascus retry`.';
      return blocked({ ...base, errorCount }, from, question, input, verdictEvent, `${errorCount} consecutive errors reached max_errors (${item.maxErrors})`);
    }
    const delayMs = errorBackoffMs(errorCount, backoff);
    return {
      ...base,
      to: from,
      errorCount,
      delayMs,
      resumePhase: null,
      events: [verdictEvent(from, { errorCount, retryInMs: delayMs })],
      explanation: `infrastructure error ${errorCount} of ${item.maxErrors}; ${from} is retried in ${Math.round(delayMs / 1000)} s`,
    };
  }

  const routed = ROUTES[from][input.verdict];

  if (input.verdict === 'needs_human') {
    const questions = (input.questions ?? []).map((q) => q.trim()).filter((q) => q !== '');
    const asked = questions.length > 0 ? questions : [input.reason?.trim() || `The ${from} phase needs a human decision.`];
    return {
      ...base,
      to: 'awaiting_human',
      resumePhase: from,
      humanIssues: asked.map((question) => ({ kind: 'question', question, resumePhase: from })),
      events: [verdictEvent('awaiting_human')],
      explanation: `${from} asked ${asked.length} question(s); ${from} resumes when they are answered`,
    };
  }

  if (input.verdict === 'pass') {
    return {
      ...base,
      to: routed,
      resumePhase: null,
      events: [verdictEvent(routed)],
      explanation: routed === 'done' ? 'review passed and the pull request was merged' : `${from} passed; next is ${routed}`,
    };
  }

  // fail or spec_wrong: one attempt consumed, and the loop-breaker may park the item.
  const attempts = item.attempts + 1;
  const next = routed as ActivePhase;
  if (attempts >= item.budgetCycles) {
    const question =
      `Stopped after ${attempts} of ${item.budgetCycles} attempts: ${from} said ${input.verdict}` +
      (input.reason ? ` (${input.reason})` : '') +
      `. Clarify the story, then reply \`/damascus retry\` to resume ${next}.`;
    return blocked(
      { ...base, attempts, attemptConsumed: true },
      next,
      question,
      input,
      verdictEvent,
      `attempt ${attempts} reached budget_cycles (${item.budgetCycles})`,
    );
  }
  return {
    ...base,
    to: next,
    attempts,
    attemptConsumed: true,
    resumePhase: null,
    events: [verdictEvent(next)],
    explanation: `${from} said ${input.verdict}; attempt ${attempts} of ${item.budgetCycles}, next is ${next}`,
  };
}

function blocked(
  base: Omit<Transition, 'to' | 'resumePhase' | 'events' | 'explanation'>,
  resumePhase: ActivePhase,
  question: string,
  input: VerdictInput,
  verdictEvent: (to: State, extra?: VerdictExtra) => VerdictEvent,
  explanation: string,
): Transition {
  return {
    ...base,
    to: 'blocked',
    resumePhase,
    humanIssues: [{ kind: 'blocked', question, resumePhase }],
    events: [verdictEvent('blocked'), { type: 'work.blocked', payload: { phase: base.from, verdict: input.verdict, reason: explanation, resumePhase } }],
    explanation,
  };
}
