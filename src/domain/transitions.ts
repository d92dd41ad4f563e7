/**
 * Every transition that is not a phase's verdict (those are ROUTES/decideTransition in routing.ts): an
 * operator's or writer's command, an answer, the trigger label, the story's pull request. Data plus pure
 * functions: (item snapshot, cause) → the move to apply, or a refusal with its reason. The operations in
 * src/db/ops read the snapshot under the row's lock (or fence on it in the WHERE) and apply the move. Pure.
 */
import { outboxEvent, type OutboxEvent } from './events.js';
import type { HumanIssueDraft } from './routing.js';
import { isActivePhase, type ActivePhase, type State } from './states.js';

/** What these transitions read about the item (under its row lock). */
export interface ItemStateSnapshot {
  id: number;
  state: State;
  resumePhase: ActivePhase | null;
}

export type Cause =
  /** `/damascus cancel`, the trigger label removed, the issue closed by a writer or deleted. */
  | { kind: 'cancel'; by: string; reason: string }
  /** `/damascus retry`: the attempts and errors start again. */
  | { kind: 'retry'; by: string }
  /** Answers to the item's questions; `questionsLeft` open questions remain unanswered. */
  | { kind: 'answer'; by: string; answered: number[]; questionsLeft: number }
  /** The trigger label added again to a cancelled story. */
  | { kind: 'reactivate'; by: string }
  /** The story's pull request was merged (by anyone, in Gitea or by the review phase's merge seen by webhook). */
  | { kind: 'merge'; by: string; mergeCommitSha: string | null }
  /** The story's pull request was closed without merging. */
  | { kind: 'pr_closed'; prNumber: number };
export type CauseKind = Cause['kind'];

/**
 * The table: the states each cause applies in (in any other it is refused), and where it takes the item:
 * `resume` = the phase it was parked from (resume_phase, else spec); `park` = the phase it is in when active,
 * else the one it was parked from, else `parkFallback`.
 */
export const TRANSITIONS: { [K in CauseKind]: { from: readonly State[]; to: State | 'resume'; resumePhase: 'none' | 'park'; parkFallback?: ActivePhase } } = {
  cancel: { from: ['spec', 'build', 'review', 'awaiting_human', 'blocked'], to: 'cancelled', resumePhase: 'park' },
  retry: { from: ['blocked', 'cancelled'], to: 'resume', resumePhase: 'none' },
  answer: { from: ['awaiting_human'], to: 'resume', resumePhase: 'none' },
  reactivate: { from: ['cancelled'], to: 'resume', resumePhase: 'none' },
  // A merge makes its story done even after a cancel: Gitea sends the issue's closing and the merge in no fixed order.
  merge: { from: ['spec', 'build', 'review', 'awaiting_human', 'blocked', 'cancelled'], to: 'done', resumePhase: 'none' },
  pr_closed: { from: ['spec', 'build', 'review', 'awaiting_human', 'blocked'], to: 'awaiting_human', resumePhase: 'park', parkFallback: 'build' },
};

/** Which of the item's open questions a move closes, and how. */
export type SettleQuestions = { kind: 'all'; as: 'cancelled' } | { kind: 'blocked'; as: 'answered'; answer: string; by: string };

export interface Move {
  from: State;
  to: State;
  resumePhase: ActivePhase | null;
  /** run_after is cleared: an active item is claimable at once. */
  clearRunAfter: true;
  /** The item's lease (and its slot) are released: a running phase's late verdict is refused. */
  releaseLease: boolean;
  /** attempts and error_count start again from 0. */
  resetBudget: boolean;
  settleQuestions: SettleQuestions | null;
  /** New human issues; each gets its human.question event from the statement that inserts it. */
  questions: HumanIssueDraft[];
  events: OutboxEvent[];
}

export type Decision = ({ ok: true } & Move) | { ok: false; reason: string };

/** The question a story's pull request closed without merging asks (webhook or review phase alike). */
export function closedPrQuestion(prNumber: number): string {
  return `Pull request #${prNumber} was closed without merging. Reopen it and answer here to continue, or reply \`/damascus cancel\`.`;
}

export function decideItemTransition(item: ItemStateSnapshot, cause: Cause): Decision {
  const rule = TRANSITIONS[cause.kind];
  if (!rule.from.includes(item.state)) return { ok: false, reason: refusal(item, cause) };
  if (cause.kind === 'answer' && (cause.answered.length === 0 || cause.questionsLeft > 0)) {
    return { ok: false, reason: `item ${item.id} still waits on ${cause.questionsLeft} question(s)` };
  }
  const to = rule.to === 'resume' ? (item.resumePhase ?? 'spec') : rule.to;
  const resumePhase = rule.resumePhase === 'none' ? null : isActivePhase(item.state) ? item.state : (item.resumePhase ?? rule.parkFallback ?? null);
  const move: Move = {
    from: item.state,
    to,
    resumePhase,
    clearRunAfter: true,
    releaseLease: cause.kind === 'cancel' || cause.kind === 'merge' || cause.kind === 'pr_closed',
    resetBudget: cause.kind === 'retry',
    settleQuestions: null,
    questions: [],
    events: [],
  };
  switch (cause.kind) {
    case 'cancel':
      return {
        ok: true,
        ...move,
        settleQuestions: { kind: 'all', as: 'cancelled' },
        events: [outboxEvent('work.cancelled', { from: item.state, by: cause.by, reason: cause.reason })],
      };
    case 'retry':
      return {
        ok: true,
        ...move,
        settleQuestions: { kind: 'blocked', as: 'answered', answer: '/damascus retry', by: cause.by },
        events: [outboxEvent('work.retried', { from: item.state, to, by: cause.by })],
      };
    case 'answer':
      return { ok: true, ...move, events: [outboxEvent('work.resumed', { to, answered: cause.answered, by: cause.by })] };
    case 'reactivate':
      return { ok: true, ...move, events: [outboxEvent('work.reactivated', { to, by: cause.by })] };
    case 'merge':
      return { ok: true, ...move, events: [outboxEvent('work.done', { mergedBy: cause.by, mergeCommitSha: cause.mergeCommitSha })] };
    case 'pr_closed':
      return { ok: true, ...move, questions: [{ kind: 'question', question: closedPrQuestion(cause.prNumber), resumePhase: resumePhase! }] };
  }
}

/**
 * Gates closed (a writer's approval; a dependency done, schema/003_gates.sql): the phase the item now resumes
 * in, when no gate is left open and it is in an active phase (the claim skips an item with open gates).
 */
export function resumesAfterGates(item: { state: State | null; gateCount: number | null }): ActivePhase | null {
  return item.gateCount === 0 && item.state !== null && isActivePhase(item.state) ? item.state : null;
}

function refusal(item: ItemStateSnapshot, cause: Cause): string {
  switch (cause.kind) {
    case 'retry':
      return `retry applies to blocked or cancelled items; item ${item.id} is ${item.state}`;
    case 'answer':
      return `item ${item.id} is ${item.state}, not awaiting_human`;
    default:
      return `item ${item.id} is already ${item.state}`;
  }
}
