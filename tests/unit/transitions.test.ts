import { STATES, type ActivePhase, type State } from '../../src/domain/states.js';
import { closedPrQuestion, decideItemTransition, resumesAfterGates, type Cause, type CauseKind } from '../../src/domain/transitions.js';

const causes: { [K in CauseKind]: Extract<Cause, { kind: K }> } = {
  cancel: { kind: 'cancel', by: 'alice', reason: 'not now' },
  retry: { kind: 'retry', by: 'alice' },
  answer: { kind: 'answer', by: 'bob', answered: [4, 5], questionsLeft: 0 },
  reactivate: { kind: 'reactivate', by: 'carol' },
  merge: { kind: 'merge', by: 'dave', mergeCommitSha: 'c0ffee' },
  pr_closed: { kind: 'pr_closed', prNumber: 12 },
};

/**
 * The whole table, for an item that remembers `review` as its resume phase (so a kept resume phase shows):
 * [next state, resume_phase] per state, or null where the cause is refused.
 */
const TABLE: Record<CauseKind, Record<State, [State, ActivePhase | null] | null>> = {
  cancel: {
    spec: ['cancelled', 'spec'],
    build: ['cancelled', 'build'],
    review: ['cancelled', 'review'],
    awaiting_human: ['cancelled', 'review'],
    blocked: ['cancelled', 'review'],
    done: null,
    cancelled: null,
  },
  retry: { spec: null, build: null, review: null, awaiting_human: null, blocked: ['review', null], done: null, cancelled: ['review', null] },
  answer: { spec: null, build: null, review: null, awaiting_human: ['review', null], blocked: null, done: null, cancelled: null },
  reactivate: { spec: null, build: null, review: null, awaiting_human: null, blocked: null, done: null, cancelled: ['review', null] },
  merge: {
    spec: ['done', null],
    build: ['done', null],
    review: ['done', null],
    awaiting_human: ['done', null],
    blocked: ['done', null],
    done: null,
    cancelled: ['done', null],
  },
  pr_closed: {
    spec: ['awaiting_human', 'spec'],
    build: ['awaiting_human', 'build'],
    review: ['awaiting_human', 'review'],
    awaiting_human: ['awaiting_human', 'review'],
    blocked: ['awaiting_human', 'review'],
    done: null,
    cancelled: null,
  },
};

describe('the transition table: every state × cause', () => {
  for (const kind of Object.keys(TABLE) as CauseKind[]) {
    for (const state of STATES) {
      const expected = TABLE[kind][state];
      test(`${kind} in ${state} → ${expected ? `${expected[0]} (resume_phase ${expected[1]})` : 'refused'}`, () => {
        const d = decideItemTransition({ id: 7, state, resumePhase: 'review' }, causes[kind]);
        if (expected === null) {
          expect(d.ok).toBe(false);
          if (!d.ok) expect(d.reason).toContain('item 7');
        } else {
          expect(d).toMatchObject({ ok: true, from: state, to: expected[0], resumePhase: expected[1], clearRunAfter: true });
        }
      });
    }
  }
});

describe('the resume_phase rule of each cause, for an item that remembers none', () => {
  const decide = (state: State, kind: CauseKind) => decideItemTransition({ id: 7, state, resumePhase: null }, causes[kind]);
  test('retry, an answer and reactivation resume spec', () => {
    expect(decide('blocked', 'retry')).toMatchObject({ to: 'spec', resumePhase: null });
    expect(decide('cancelled', 'retry')).toMatchObject({ to: 'spec', resumePhase: null });
    expect(decide('awaiting_human', 'answer')).toMatchObject({ to: 'spec', resumePhase: null });
    expect(decide('cancelled', 'reactivate')).toMatchObject({ to: 'spec', resumePhase: null });
  });
  test('a cancel outside an active phase keeps none; a closed PR falls back to build', () => {
    expect(decide('blocked', 'cancel')).toMatchObject({ to: 'cancelled', resumePhase: null });
    expect(decide('awaiting_human', 'pr_closed')).toMatchObject({ to: 'awaiting_human', resumePhase: 'build' });
    expect(decide('blocked', 'pr_closed')).toMatchObject({ to: 'awaiting_human', resumePhase: 'build' });
  });
});

describe('the effects of each move', () => {
  const at = (state: State, kind: CauseKind, resumePhase: ActivePhase | null = 'build') => {
    const d = decideItemTransition({ id: 7, state, resumePhase }, causes[kind]);
    if (!d.ok) throw new Error(d.reason);
    return d;
  };
  test('cancel: lease released, every open question cancelled, work.cancelled', () => {
    expect(at('review', 'cancel')).toMatchObject({
      releaseLease: true,
      resetBudget: false,
      questions: [],
      settleQuestions: { kind: 'all', as: 'cancelled' },
      events: [{ type: 'work.cancelled', payload: { from: 'review', by: 'alice', reason: 'not now' } }],
    });
  });
  test('retry: a fresh budget, the blocking questions answered by the retry, work.retried', () => {
    expect(at('blocked', 'retry')).toMatchObject({
      releaseLease: false,
      resetBudget: true,
      settleQuestions: { kind: 'blocked', as: 'answered', answer: '/damascus retry', by: 'alice' },
      events: [{ type: 'work.retried', payload: { from: 'blocked', to: 'build', by: 'alice' } }],
    });
  });
  test('answers resume only when none is left open, with work.resumed', () => {
    expect(at('awaiting_human', 'answer')).toMatchObject({
      releaseLease: false,
      resetBudget: false,
      settleQuestions: null,
      events: [{ type: 'work.resumed', payload: { to: 'build', answered: [4, 5], by: 'bob' } }],
    });
    expect(decideItemTransition({ id: 7, state: 'awaiting_human', resumePhase: 'build' }, { ...causes.answer, questionsLeft: 1 })).toEqual({
      ok: false,
      reason: 'item 7 still waits on 1 question(s)',
    });
    expect(decideItemTransition({ id: 7, state: 'awaiting_human', resumePhase: 'build' }, { ...causes.answer, answered: [] }).ok).toBe(false);
  });
  test('reactivation: work.reactivated; a merge: lease released, work.done', () => {
    expect(at('cancelled', 'reactivate')).toMatchObject({ releaseLease: false, events: [{ type: 'work.reactivated', payload: { to: 'build', by: 'carol' } }] });
    expect(at('build', 'merge')).toMatchObject({
      releaseLease: true,
      settleQuestions: null,
      events: [{ type: 'work.done', payload: { mergedBy: 'dave', mergeCommitSha: 'c0ffee' } }],
    });
  });
  test('a PR closed unmerged: lease released, one question that resumes the phase, no other event', () => {
    expect(at('review', 'pr_closed')).toMatchObject({
      releaseLease: true,
      events: [],
      questions: [{ kind: 'question', question: closedPrQuestion(12), resumePhase: 'review' }],
    });
    expect(closedPrQuestion(12)).toBe('Pull request #12 was closed without merging. Reopen it and answer here to continue, or reply `/damascus cancel`.');
  });
  test('refusals say why', () => {
    expect(decideItemTransition({ id: 7, state: 'review', resumePhase: null }, causes.retry)).toEqual({
      ok: false,
      reason: 'retry applies to blocked or cancelled items; item 7 is review',
    });
    expect(decideItemTransition({ id: 7, state: 'done', resumePhase: null }, causes.cancel)).toEqual({ ok: false, reason: 'item 7 is already done' });
  });
});

describe('gate release', () => {
  test('an item resumes its active phase once no gate is left open', () => {
    expect(resumesAfterGates({ state: 'build', gateCount: 0 })).toBe('build');
    expect(resumesAfterGates({ state: 'build', gateCount: 1 })).toBeNull();
    expect(resumesAfterGates({ state: 'awaiting_human', gateCount: 0 })).toBeNull();
    expect(resumesAfterGates({ state: null, gateCount: null })).toBeNull();
  });
});
