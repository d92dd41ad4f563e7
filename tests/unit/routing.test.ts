import { decideTransition, errorBackoffMs, ROUTES, type ItemSnapshot } from '../../src/domain/routing.js';
import { ACTIVE_PHASES, VERDICTS, type ActivePhase, type State } from '../../src/domain/states.js';

const backoff = { baseMs: 1000, maxMs: 60_000 };
const item = (state: ActivePhase, over: Partial<ItemSnapshot> = {}): ItemSnapshot => ({
  id: 1,
  state,
  attempts: 0,
  budgetCycles: 3,
  errorCount: 0,
  maxErrors: 4,
  ...over,
});

// DESIGN §2, written out again here on purpose: the table under test must match it cell by cell.
const expected: Record<ActivePhase, Record<'pass' | 'fail' | 'spec_wrong' | 'needs_human', State>> = {
  spec: { pass: 'build', fail: 'spec', spec_wrong: 'spec', needs_human: 'awaiting_human' },
  build: { pass: 'review', fail: 'build', spec_wrong: 'spec', needs_human: 'awaiting_human' },
  review: { pass: 'done', fail: 'build', spec_wrong: 'spec', needs_human: 'awaiting_human' },
};

describe('routing table (phase × verdict × budget)', () => {
  for (const phase of ACTIVE_PHASES) {
    for (const verdict of ['pass', 'fail', 'spec_wrong', 'needs_human'] as const) {
      test(`${phase} + ${verdict}, budget left → ${expected[phase][verdict]}`, () => {
        const t = decideTransition(item(phase, { attempts: 0, budgetCycles: 3 }), { verdict }, backoff);
        expect(t.to).toBe(expected[phase][verdict]);
        expect(ROUTES[phase][verdict]).toBe(expected[phase][verdict]);
        const consumes = verdict === 'fail' || verdict === 'spec_wrong';
        expect(t.attemptConsumed).toBe(consumes);
        expect(t.attempts).toBe(consumes ? 1 : 0);
        expect(t.events.map((e) => e.type)).toEqual(['work.verdict']);
        expect(t.errorCount).toBe(0);
        expect(t.delayMs).toBeNull();
        if (verdict === 'needs_human') {
          expect(t.resumePhase).toBe(phase);
          expect(t.humanIssues).toHaveLength(1);
          expect(t.humanIssues[0]!.kind).toBe('question');
        } else {
          expect(t.resumePhase).toBeNull();
          expect(t.humanIssues).toHaveLength(0);
        }
      });

      test(`${phase} + ${verdict}, last budget cycle`, () => {
        const t = decideTransition(item(phase, { attempts: 2, budgetCycles: 3 }), { verdict, reason: 'why' }, backoff);
        if (verdict === 'fail' || verdict === 'spec_wrong') {
          expect(t.to).toBe('blocked');
          expect(t.attempts).toBe(3);
          expect(t.resumePhase).toBe(expected[phase][verdict]);
          expect(t.humanIssues).toEqual([expect.objectContaining({ kind: 'blocked', resumePhase: expected[phase][verdict] })]);
          expect(t.humanIssues[0]!.question).toContain('why');
          expect(t.events.map((e) => e.type)).toEqual(['work.verdict', 'work.blocked']);
        } else {
          // pass and needs_human consume nothing, so the budget does not stop them.
          expect(t.to).toBe(expected[phase][verdict]);
          expect(t.attempts).toBe(2);
          expect(t.events.map((e) => e.type)).toEqual(['work.verdict']);
        }
      });

      test(`${phase} + ${verdict}, budget of one`, () => {
        const t = decideTransition(item(phase, { attempts: 0, budgetCycles: 1 }), { verdict }, backoff);
        const consumes = verdict === 'fail' || verdict === 'spec_wrong';
        expect(t.to).toBe(consumes ? 'blocked' : expected[phase][verdict]);
      });
    }

    test(`${phase} + error below max_errors → retried in place with backoff, no attempt`, () => {
      const t = decideTransition(item(phase, { attempts: 1, errorCount: 1, maxErrors: 4 }), { verdict: 'error', reason: 'LLM 503' }, backoff);
      expect(t.to).toBe(phase);
      expect(t.attempts).toBe(1);
      expect(t.attemptConsumed).toBe(false);
      expect(t.errorCount).toBe(2);
      expect(t.delayMs).toBe(2000);
      expect(t.humanIssues).toHaveLength(0);
    });

    test(`${phase} + error reaching max_errors → blocked, resume ${phase}`, () => {
      const t = decideTransition(item(phase, { errorCount: 3, maxErrors: 4 }), { verdict: 'error', reason: 'Gitea down' }, backoff);
      expect(t.to).toBe('blocked');
      expect(t.errorCount).toBe(4);
      expect(t.attempts).toBe(0);
      expect(t.resumePhase).toBe(phase);
      expect(t.humanIssues[0]!.question).toContain('Gitea down');
      expect(t.events.map((e) => e.type)).toEqual(['work.verdict', 'work.blocked']);
    });
  }

  test('a non-error verdict resets the consecutive error count', () => {
    for (const verdict of ['pass', 'fail', 'spec_wrong', 'needs_human'] as const) {
      expect(decideTransition(item('build', { errorCount: 3 }), { verdict }, backoff).errorCount).toBe(0);
    }
  });

  test('needs_human opens one question per question asked, blank ones dropped', () => {
    const t = decideTransition(item('spec'), { verdict: 'needs_human', questions: ['Which DB?', '  ', 'Which port?'] }, backoff);
    expect(t.humanIssues.map((h) => h.question)).toEqual(['Which DB?', 'Which port?']);
    expect(t.humanIssues.every((h) => h.resumePhase === 'spec')).toBe(true);
  });

  test('every verdict is covered for every phase', () => {
    for (const phase of ACTIVE_PHASES) {
      for (const verdict of VERDICTS) {
        const t = decideTransition(item(phase), { verdict }, backoff);
        expect(t.from).toBe(phase);
        expect(t.verdict).toBe(verdict);
        expect(t.explanation.length).toBeGreaterThan(0);
      }
    }
  });
});

describe('terminal and parked states', () => {
  test('only review + pass reaches done; nothing routes to cancelled', () => {
    const targets = ACTIVE_PHASES.flatMap((p) => Object.entries(ROUTES[p]).map(([v, s]) => `${p}:${v}:${s}`));
    expect(targets.filter((t) => t.endsWith(':done'))).toEqual(['review:pass:done']);
    expect(targets.some((t) => t.endsWith(':cancelled'))).toBe(false);
  });
});

describe('error backoff', () => {
  test('doubles per consecutive error and is capped', () => {
    expect([1, 2, 3, 4].map((n) => errorBackoffMs(n, backoff))).toEqual([1000, 2000, 4000, 8000]);
    expect(errorBackoffMs(50, backoff)).toBe(60_000);
  });
});

describe('forced block (e.g. cost budget spent)', () => {
  test('any non-pass verdict with block parks the item as blocked, resuming the same phase, consuming nothing', () => {
    for (const verdict of ['fail', 'spec_wrong', 'needs_human', 'error'] as const) {
      const t = decideTransition(item('build', { attempts: 1 }), { verdict, block: 'Cost budget spent: $5.10 of $5.00.' }, backoff);
      expect(t.to).toBe('blocked');
      expect(t.attempts).toBe(1);
      expect(t.resumePhase).toBe('build');
      expect(t.humanIssues[0]!.question).toContain('Cost budget spent');
      expect(t.events.map((e) => e.type)).toEqual(['work.verdict', 'work.blocked']);
    }
    expect(decideTransition(item('build'), { verdict: 'pass', block: 'x' }, backoff).to).toBe('review');
  });
});
