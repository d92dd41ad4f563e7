import type { ItemView } from '../../src/db/ops/readItemView.js';
import { waitKind, type WaitFacts, type WaitKind } from '../../src/domain/waiting.js';
import { whyItWaits } from '../../src/http/itemsApi.js';
import { buildStatusView } from '../../src/mirror/statusView.js';

const NOW = new Date('2030-01-01T12:00:00Z');
const LATER = new Date('2030-01-01T12:30:00Z');
const EARLIER = new Date('2030-01-01T11:30:00Z');

const idle: WaitFacts = { state: 'build', leaseOwner: null, leaseUntil: null, runAfter: null, gateCount: 0, errorCount: 0 };
const running = { leaseOwner: 'host-a:42', leaseUntil: LATER };

/**
 * The cases where the dashboard and the status comment used to disagree (the dashboard checked lease, run_after,
 * gates; the status comment gates, lease, then any run_after, past or not), and what both say now.
 */
const DISAGREED: [string, Partial<WaitFacts>, WaitKind][] = [
  ['a live lease on a gated item: it runs (the status comment said gated)', { ...running, gateCount: 1 }, 'running'],
  ['a gated item whose retry is ahead: the gate holds it (the dashboard said error retry)', { gateCount: 2, runAfter: LATER, errorCount: 1 }, 'gated'],
  ['a gated review waiting on its run: the gate holds it (the dashboard said review run)', { state: 'review', gateCount: 1, runAfter: LATER }, 'gated'],
  ['a retry time that has passed: claimable, queued (the status comment said retry)', { runAfter: EARLIER, errorCount: 1 }, 'queued'],
  ['a review run time that has passed: queued (the status comment said the review run)', { state: 'review', runAfter: EARLIER }, 'queued'],
];

describe('why an item waits (src/domain/waiting.ts)', () => {
  test.each(DISAGREED)('%s', (_case, facts, kind) => {
    expect(waitKind({ ...idle, ...facts }, NOW)).toBe(kind);
  });

  test('the cases they always agreed on', () => {
    expect(waitKind({ ...idle, ...running, runAfter: LATER }, NOW)).toBe('running');
    expect(waitKind({ ...idle, leaseOwner: 'host-a:42', leaseUntil: EARLIER }, NOW)).toBe('queued');
    expect(waitKind({ ...idle, state: 'review', runAfter: LATER }, NOW)).toBe('review_run');
    expect(waitKind({ ...idle, state: 'review', runAfter: LATER, errorCount: 1 }, NOW)).toBe('error_retry');
    expect(waitKind({ ...idle, state: 'spec', runAfter: LATER }, NOW)).toBe('error_retry');
    expect(waitKind({ ...idle, gateCount: 1 }, NOW)).toBe('gated');
    expect(waitKind(idle, NOW)).toBe('queued');
    expect(waitKind({ ...idle, state: 'awaiting_human', ...running }, NOW)).toBe('question');
    expect(waitKind({ ...idle, state: 'blocked', gateCount: 1 }, NOW)).toBe('blocked');
    expect(waitKind({ ...idle, state: 'done' }, NOW)).toBe('finished');
    expect(waitKind({ ...idle, state: 'cancelled', ...running }, NOW)).toBe('finished');
  });
});

describe('the dashboard and the status comment say the same', () => {
  /** An item's view as the mirror reads it, with these wait facts. */
  const view = (facts: WaitFacts): ItemView => ({
    id: 7,
    owner: 'acme',
    repo: 'widgets',
    projectHtmlUrl: null,
    issueNumber: 3,
    issueUrl: null,
    title: 't',
    resumePhase: null,
    attempts: 0,
    budgetCycles: 3,
    maxErrors: 5,
    costUsd: 0,
    unknownCostRuns: 0,
    maxCostUsd: null,
    leasedAt: null,
    prNumber: null,
    prUrl: null,
    runUrl: null,
    explanation: null,
    createdAt: EARLIER,
    updatedAt: EARLIER,
    ...facts,
    now: NOW,
    leased: facts.leaseOwner !== null && facts.leaseUntil !== null && facts.leaseUntil > NOW,
    details: {},
    statusCommentId: null,
    agentProgress: null,
    since: EARLIER,
    questions: [],
  });
  const STATUS_WORDS: Partial<Record<WaitKind, RegExp>> = {
    gated: /open gate/,
    review_run: /^the review run$/,
    error_retry: /^a retry after an infrastructure error/,
    queued: /^a free worker$/,
  };

  test.each(DISAGREED)('%s', (_case, facts, kind) => {
    const v = view({ ...idle, ...facts });
    expect(whyItWaits(v, [], NOW).kind).toBe(kind);
    const status = buildStatusView(v);
    if (kind === 'running') {
      expect(status.waitingOn).toBeNull();
      expect(status.next).toMatch(/is running/);
    } else {
      expect(status.waitingOn).toMatch(STATUS_WORDS[kind]!);
    }
  });
});
