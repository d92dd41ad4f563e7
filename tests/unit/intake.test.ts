import { decideIntake, describeIntakeResult, INTAKE_RESULT_LABEL, intakeFollowUp, type IntakeItem, type IntakeResult } from '../../src/domain/intake.js';
import type { ActionableEvent, IssueRef, RepoRef } from '../../src/domain/webhookEvent.js';
import type { State } from '../../src/domain/states.js';

const repo: RepoRef = {
  id: 7,
  owner: 'acme',
  name: 'shop',
  fullName: 'acme/shop',
  defaultBranch: 'main',
  htmlUrl: 'http://gitea/acme/shop',
  cloneUrl: 'http://gitea/acme/shop.git',
};
const sender = { id: 3, login: 'alice' };
const issue = (over: Partial<IssueRef> = {}): IssueRef => ({
  number: 5,
  title: 'Add a cart',
  body: 'the story',
  state: 'open',
  htmlUrl: 'http://gitea/acme/shop/issues/5',
  isPull: false,
  ...over,
});
const labelled = (labels: string[], over: Partial<IssueRef> = {}): ActionableEvent => ({
  kind: 'issue.labels',
  repo,
  issue: issue(over),
  labels,
  cleared: false,
  sender,
});
const cleared: ActionableEvent = { kind: 'issue.labels', repo, issue: issue(), labels: ['damascus'], cleared: true, sender };
const opened = (labels: string[]): ActionableEvent => ({ kind: 'issue.opened', repo, issue: issue(), labels, sender });
const closedIssue: ActionableEvent = { kind: 'issue.closed', repo, issue: issue({ state: 'closed' }), sender };
const comment: ActionableEvent = {
  kind: 'comment',
  action: 'created',
  repo,
  issue: issue(),
  isPull: false,
  comment: { id: 1, body: 'hi', user: sender, createdAt: '2026-01-01T00:00:00Z' },
  sender,
};
const prClosed = (merged: boolean): ActionableEvent => ({
  kind: 'pr.closed',
  repo,
  number: 12,
  merged,
  headSha: 'abc',
  headRef: 'damascus/5',
  mergeCommitSha: merged ? 'def' : null,
  sender,
});
const prSync: ActionableEvent = { kind: 'pr.synchronized', repo, number: 12, headSha: 'abc2', headRef: 'damascus/5', sender };

const item = (state: State, over: Partial<IntakeItem> = {}): IntakeItem => ({ id: 40, state, resumePhase: null, issueDeleted: false, ...over });
const decide = (ev: ActionableEvent, it: IntakeItem | null = null) => decideIntake(ev, { item: it, triggerLabel: 'damascus' });

describe('decideIntake', () => {
  test('the trigger label on an issue without an item creates the story as labelled, with its dependencies', () => {
    const story = { repo, issueNumber: 5, title: 'Add a cart', body: 'the story', by: 'alice', issueUrl: 'http://gitea/acme/shop/issues/5' };
    expect(decide(labelled(['bug', 'Damascus']))).toEqual({ kind: 'create', story, dependencies: [] });
    expect(decide(opened(['damascus']))).toEqual({ kind: 'create', story, dependencies: [] });
    expect(decide(labelled(['damascus'], { body: 'Depends on #3 and other/lib#4' }))).toEqual({
      kind: 'create',
      story: { ...story, body: 'Depends on #3 and other/lib#4' },
      dependencies: [
        { owner: 'acme', name: 'shop', number: 3 },
        { owner: 'other', name: 'lib', number: 4 },
      ],
    });
  });

  test('the trigger label on a cancelled item reactivates it with what is labelled now', () => {
    expect(decide(labelled(['damascus'], { title: 'New title', body: 'new body' }), item('cancelled', { resumePhase: 'build' }))).toEqual({
      kind: 'reactivate',
      itemId: 40,
      story: { by: 'alice', title: 'New title', body: 'new body' },
    });
  });

  test('the trigger label is ignored on a pull request, a closed issue, a done story and a deleted issue', () => {
    expect(decide(labelled(['damascus'], { isPull: true }))).toEqual({ kind: 'ignore', itemId: null, reason: 'labels on a pull request' });
    expect(decide(labelled(['damascus'], { state: 'closed' }))).toEqual({ kind: 'ignore', itemId: null, reason: 'trigger label on a closed issue' });
    expect(decide(labelled(['damascus'], { state: 'closed' }), item('cancelled'))).toEqual({
      kind: 'ignore',
      itemId: 40,
      reason: 'trigger label on a closed issue',
    });
    expect(decide(labelled(['damascus']), item('done'))).toEqual({ kind: 'ignore', itemId: 40, reason: 'story already done' });
    expect(decide(labelled(['damascus']), item('cancelled', { issueDeleted: true }))).toEqual({ kind: 'ignore', itemId: 40, reason: 'the issue was deleted' });
  });

  test('the trigger label removed (or all labels cleared) cancels an active item', () => {
    const cancel = { kind: 'cancel', itemId: 40, by: 'alice', reason: 'trigger label removed' };
    expect(decide(labelled(['bug']), item('build'))).toEqual(cancel);
    expect(decide(cleared, item('awaiting_human'))).toEqual(cancel);
  });

  test('no change of the trigger label does nothing', () => {
    expect(decide(labelled(['damascus']), item('spec'))).toEqual({ kind: 'ignore', itemId: 40, reason: 'trigger label unchanged' });
    expect(decide(labelled(['bug']))).toEqual({ kind: 'ignore', itemId: null, reason: 'trigger label unchanged' });
    expect(decide(labelled(['bug']), item('cancelled'))).toEqual({ kind: 'ignore', itemId: 40, reason: 'trigger label unchanged' });
    expect(decide(cleared)).toEqual({ kind: 'ignore', itemId: null, reason: 'trigger label unchanged' });
  });

  test('a closed issue of an unfinished story goes to the inbox (who closed it is checked there)', () => {
    expect(decide(closedIssue, item('review'))).toEqual({ kind: 'to-inbox', itemId: 40, what: 'issue closed' });
    expect(decide(closedIssue, item('done'))).toEqual({ kind: 'ignore', itemId: 40, reason: 'already finished' });
    expect(decide(closedIssue, item('cancelled'))).toEqual({ kind: 'ignore', itemId: 40, reason: 'already finished' });
    expect(decide(closedIssue)).toEqual({ kind: 'ignore', itemId: null, reason: 'not a story' });
  });

  test('a reopened issue is ignored', () => {
    const reopened: ActionableEvent = { kind: 'issue.reopened', repo, issue: issue(), sender };
    expect(decide(reopened, item('cancelled'))).toEqual({ kind: 'ignore', itemId: null, reason: 'reopened (add the trigger label again to resume)' });
  });

  test('a deleted issue marks its item, whatever its state', () => {
    const deleted: ActionableEvent = { kind: 'issue.deleted', repo, issue: issue(), sender };
    expect(decide(deleted, item('done'))).toEqual({ kind: 'issue-deleted', itemId: 40, by: 'alice' });
    expect(decide(deleted)).toEqual({ kind: 'ignore', itemId: null, reason: 'not a story' });
  });

  test('a comment on a story goes to the inbox', () => {
    expect(decide(comment, item('awaiting_human'))).toEqual({ kind: 'to-inbox', itemId: 40, what: 'comment' });
    expect(decide(comment)).toEqual({ kind: 'ignore', itemId: null, reason: 'not a story' });
  });

  test('a merged PR makes its story done, even a cancelled one; a closed one parks it with a question', () => {
    const done = { kind: 'done', itemId: 40, merge: { by: 'alice', mergeCommitSha: 'def' } };
    expect(decide(prClosed(true), item('review'))).toEqual(done);
    expect(decide(prClosed(true), item('cancelled'))).toEqual(done);
    expect(decide(prClosed(true), item('done'))).toEqual({ kind: 'ignore', itemId: 40, reason: 'already finished' });
    expect(decide(prClosed(false), item('cancelled'))).toEqual({ kind: 'ignore', itemId: 40, reason: 'already finished' });
    const blocked = item('blocked', { resumePhase: 'review' });
    expect(decide(prClosed(false), blocked)).toEqual({ kind: 'park-closed-pr', item: blocked, prNumber: 12 });
    expect(decide(prClosed(false))).toEqual({ kind: 'ignore', itemId: null, reason: 'not a story PR' });
  });

  test('a moved PR head is recorded; a story in review wakes', () => {
    expect(decide(prSync, item('review'))).toEqual({ kind: 'head-moved', itemId: 40, headSha: 'abc2', inReview: true });
    expect(decide(prSync, item('build'))).toEqual({ kind: 'head-moved', itemId: 40, headSha: 'abc2', inReview: false });
    expect(decide(prSync)).toEqual({ kind: 'ignore', itemId: null, reason: 'not a story PR' });
  });
});

describe('intake results: the stored text, the metric label and what follows the commit', () => {
  test.each<[IntakeResult, string, string, { wake: boolean; relay: boolean; inbox: boolean }]>([
    [{ kind: 'created', itemId: 1, waitingOn: 0 }, 'created', 'created', { wake: true, relay: true, inbox: false }],
    [{ kind: 'created', itemId: 1, waitingOn: 1 }, 'created: waiting on 1 dependency', 'created', { wake: false, relay: true, inbox: false }],
    [{ kind: 'created', itemId: 1, waitingOn: 2 }, 'created: waiting on 2 dependencies', 'created', { wake: false, relay: true, inbox: false }],
    [{ kind: 'reactivated', itemId: 1 }, 'reactivated', 'reactivated', { wake: true, relay: true, inbox: false }],
    [{ kind: 'cancelled', itemId: 1, reason: 'trigger label removed' }, 'cancelled', 'cancelled', { wake: false, relay: true, inbox: false }],
    [{ kind: 'cancelled', itemId: 1, reason: 'issue deleted' }, 'cancelled: issue deleted', 'cancelled', { wake: false, relay: true, inbox: false }],
    [{ kind: 'done', itemId: 1 }, 'done: merged', 'done', { wake: false, relay: true, inbox: false }],
    [{ kind: 'parked', itemId: 1 }, 'parked: PR closed unmerged', 'parked', { wake: false, relay: true, inbox: false }],
    [{ kind: 'head-moved', itemId: 1, wake: true }, 'head moved', 'head moved', { wake: true, relay: false, inbox: false }],
    [{ kind: 'head-moved', itemId: 1, wake: false }, 'head moved', 'head moved', { wake: false, relay: false, inbox: false }],
    [{ kind: 'to-inbox', itemId: 1, what: 'issue closed' }, 'inbox: issue closed', 'inbox', { wake: false, relay: true, inbox: true }],
    [{ kind: 'to-inbox', itemId: 1, what: 'comment' }, 'inbox', 'inbox', { wake: false, relay: true, inbox: true }],
    [{ kind: 'ignored', itemId: 1, reason: 'already finished' }, 'ignored: already finished', 'ignored', { wake: false, relay: false, inbox: false }],
    [{ kind: 'ignored', itemId: 1, reason: null }, 'ignored', 'ignored', { wake: false, relay: false, inbox: false }],
  ])('%j → %s', (result, text, label, followUp) => {
    expect(describeIntakeResult(result)).toBe(text);
    expect(INTAKE_RESULT_LABEL[result.kind]).toBe(label);
    expect(intakeFollowUp(result)).toEqual(followUp);
  });
});
