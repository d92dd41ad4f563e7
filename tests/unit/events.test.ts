import { triggerLabelChange, type GiteaEvent } from '../../src/domain/webhookEvent.js';
import { isBotSender, routeWebhook } from '../../src/gitea/events.js';
import { ownCapture, ownCaptures, SHARED_ABSENT, SHARED_WEBHOOK_DIR, sharedCaptures, sharedCapturesPresent } from '../support/webhookFixtures.js';
import type { LooseJson } from '../support/looseJson.js';

/**
 * Our Gitea 1.26.3 captures (tests/fixtures/gitea-1.26.3/webhooks, what the live loop's serve received) are the
 * base of every test here. The older third-party captures in ../shared/gitea/webhooks add kinds the loop does not
 * produce (PR conversation comments, reviews, unmerged closes, other events); without them those tests are skipped.
 */
const own = (file: string): Record<string, unknown> => structuredClone(ownCapture(file).payload);
const OPENED = 'issues.issues.opened.json';
const LABELLED = 'issues.issue_label.label_updated.json';
const COMMENTED = 'issue_comment.issue_comment.created.json';
const MERGED = 'pull_request.pull_request.closed.json';
const SYNCED = 'pull_request.pull_request_sync.synchronized.json';

/** The expected kind of each of our captures. */
const OWN_CAPTURES: Record<string, GiteaEvent['kind']> = {
  'issue_comment.issue_comment.created.json': 'comment',
  'issue_comment.issue_comment.edited.json': 'comment',
  'issues.issue_label.label_updated.json': 'issue.labels',
  'issues.issues.closed.json': 'issue.closed',
  'issues.issues.opened.json': 'issue.opened',
  'pull_request.pull_request.closed.json': 'pr.closed',
  'pull_request.pull_request.opened.json': 'ignored',
  'pull_request.pull_request_sync.synchronized.json': 'pr.synchronized',
  'push.push.json': 'ignored',
};

/** Headers from shared/gitea/README.md (derived from Gitea's HookEventType.Event()); the expected kind for each third-party capture. */
const SHARED_CAPTURES: Record<string, { eventType: string; kind: GiteaEvent['kind'] }> = {
  'create.branch.json': { eventType: 'create', kind: 'ignored' },
  'delete.branch.json': { eventType: 'delete', kind: 'ignored' },
  'fork.json': { eventType: 'fork', kind: 'ignored' },
  'issue_comment.created.on-pull-request.json': { eventType: 'pull_request_comment', kind: 'comment' },
  'issues.assigned.json': { eventType: 'issue_assign', kind: 'ignored' },
  'issues.milestoned.json': { eventType: 'issue_milestone', kind: 'ignored' },
  'issues.opened.json': { eventType: 'issues', kind: 'issue.opened' },
  'pull_request.assigned.gitea-com.json': { eventType: 'pull_request_assign', kind: 'ignored' },
  'pull_request.assigned.json': { eventType: 'pull_request_assign', kind: 'ignored' },
  'pull_request.closed-merged.json': { eventType: 'pull_request', kind: 'pr.closed' },
  'pull_request.closed.json': { eventType: 'pull_request', kind: 'pr.closed' },
  'pull_request.edited.title.json': { eventType: 'pull_request', kind: 'ignored' },
  'pull_request.label_cleared.json': { eventType: 'pull_request_label', kind: 'ignored' },
  'pull_request.label_updated.added-label.json': { eventType: 'pull_request_label', kind: 'ignored' },
  'pull_request.label_updated.json': { eventType: 'pull_request_label', kind: 'ignored' },
  'pull_request.milestoned.json': { eventType: 'pull_request_milestone', kind: 'ignored' },
  'pull_request.opened.json': { eventType: 'pull_request', kind: 'ignored' },
  'pull_request.review_requested.json': { eventType: 'pull_request_review_request', kind: 'ignored' },
  'pull_request.synchronized.json': { eventType: 'pull_request_sync', kind: 'pr.synchronized' },
  'pull_request_approved.reviewed.json': { eventType: 'pull_request_review_approved', kind: 'ignored' },
  'pull_request_comment.reviewed.json': { eventType: 'pull_request_review_comment', kind: 'ignored' },
  'pull_request_rejected.reviewed.json': { eventType: 'pull_request_review_rejected', kind: 'ignored' },
  'push.json': { eventType: 'push', kind: 'ignored' },
  'release.published.json': { eventType: 'release', kind: 'ignored' },
  'repository.created.json': { eventType: 'repository', kind: 'ignored' },
};

const routeOwn = (file: string, payload?: unknown) => {
  const c = ownCapture(file);
  return routeWebhook({ event: c.event, eventType: c.eventType, payload: payload ?? c.payload });
};
const SHARED = new Map(sharedCaptures().map((f) => [f.file, f]));
const shared = (file: string): Record<string, unknown> => {
  const f = SHARED.get(file);
  if (!f) throw new Error(`${file} is not in ${SHARED_WEBHOOK_DIR}`);
  return structuredClone(f.payload);
};
const routeShared = (file: string, over: { event?: string; eventType?: string; payload?: unknown } = {}) =>
  routeWebhook({
    event: over.event ?? file.split('.')[0],
    eventType: over.eventType ?? SHARED_CAPTURES[file]?.eventType,
    payload: over.payload ?? shared(file),
  });
const withShared = sharedCapturesPresent ? describe : describe.skip;
if (!sharedCapturesPresent) test.skip(SHARED_ABSENT, () => {});

function expectKind<K extends GiteaEvent['kind']>(e: GiteaEvent, kind: K): GiteaEvent & { kind: K } {
  expect(e.kind).toBe(kind);
  return e as GiteaEvent & { kind: K };
}

describe('every capture of Gitea 1.26.3 routes to its expected kind', () => {
  test('the table covers every capture in tests/fixtures/gitea-1.26.3/webhooks', () => {
    expect(ownCaptures().map((f) => f.file)).toEqual(Object.keys(OWN_CAPTURES).sort());
  });
  for (const [file, kind] of Object.entries(OWN_CAPTURES)) {
    test(`${file} → ${kind}`, () => {
      const e = routeOwn(file);
      expect(e.kind).toBe(kind);
      if (e.kind === 'ignored') expect(e.reason).not.toBe('');
    });
  }
});

withShared('every third-party capture in ../shared/gitea/webhooks routes to its expected kind', () => {
  test('the table covers every capture there', () => {
    expect([...SHARED.keys()].sort()).toEqual(Object.keys(SHARED_CAPTURES).sort());
  });
  for (const [file, { kind }] of Object.entries(SHARED_CAPTURES)) {
    test(`${file} → ${kind}`, () => {
      const e = routeShared(file);
      expect(e.kind).toBe(kind);
      if (e.kind === 'ignored') expect(e.reason).not.toBe('');
    });
  }
});

describe('captured payloads of Gitea 1.26.3 map their fields', () => {
  test('issues/opened: repo, issue (not a pull), labels, sender', () => {
    const p = own(OPENED) as LooseJson;
    const e = expectKind(routeOwn(OPENED), 'issue.opened');
    expect(e.repo).toEqual({
      id: p.repository.id,
      owner: p.repository.owner.login,
      name: p.repository.name,
      fullName: p.repository.full_name,
      defaultBranch: 'main',
      htmlUrl: p.repository.html_url,
      cloneUrl: p.repository.clone_url,
    });
    expect(e.repo.fullName).toBe(`${e.repo.owner}/${e.repo.name}`);
    expect(e.issue).toEqual({ number: p.number, title: p.issue.title, body: p.issue.body, state: 'open', htmlUrl: p.issue.html_url, isPull: false });
    expect(e.issue.number).toBeGreaterThan(0);
    expect(e.labels).toEqual([]);
    expect(e.sender).toEqual({ id: p.sender.id, login: p.sender.login });
  });

  test('issues/issue_label/label_updated carries the full label list', () => {
    const p = own(LABELLED) as LooseJson;
    const e = expectKind(routeOwn(LABELLED), 'issue.labels');
    expect(e.labels).toEqual(p.issue.labels.map((l: LooseJson) => l.name));
    expect(e.labels).toContain('damascus');
    expect(e.cleared).toBe(false);
  });

  test('a comment on a plain issue (type issue_comment) is a comment, not a pull', () => {
    const p = own(COMMENTED) as LooseJson;
    const e = expectKind(routeOwn(COMMENTED), 'comment');
    expect(e.action).toBe('created');
    expect([e.isPull, e.issue.isPull]).toEqual([false, false]);
    expect(e.comment).toEqual({
      id: p.comment.id,
      body: p.comment.body,
      user: { id: p.comment.user.id, login: p.comment.user.login },
      createdAt: p.comment.created_at,
    });
  });

  test('merged PR: merged, head sha/ref, merge commit', () => {
    const p = own(MERGED) as LooseJson;
    const e = expectKind(routeOwn(MERGED), 'pr.closed');
    expect(e).toMatchObject({
      number: p.number,
      merged: true,
      headSha: p.pull_request.head.sha,
      mergeCommitSha: p.pull_request.merge_commit_sha,
      sender: { id: p.sender.id, login: p.sender.login },
    });
    expect(e.headRef).toMatch(/^damascus\/\d+-/);
    expect(e.mergeCommitSha).toMatch(/^[0-9a-f]{40}$/);
    expect(e.repo.defaultBranch).toBe('main');
  });

  test('the same PR closed unmerged (merged false, no merge commit): not merged', () => {
    const p = own(MERGED) as LooseJson;
    Object.assign(p.pull_request, { merged: false, merged_at: null, merge_commit_sha: null, merged_by: null });
    const e = expectKind(routeOwn(MERGED, p), 'pr.closed');
    expect([e.merged, e.mergeCommitSha]).toEqual([false, null]);
  });

  test('synchronized PR: the new head', () => {
    const p = own(SYNCED) as LooseJson;
    const e = expectKind(routeOwn(SYNCED), 'pr.synchronized');
    expect(e).toMatchObject({ number: p.number, headSha: p.pull_request.head.sha, headRef: p.pull_request.head.ref });
    expect(e.repo.owner).toBe(p.repository.owner.login);
  });

  test('head.ref of a deleted branch (refs/pull/N/head) falls back to head.label', () => {
    const p = own(MERGED) as LooseJson;
    p.pull_request.head = { ...p.pull_request.head, ref: `refs/pull/${p.number}/head`, label: 'damascus/item-7' };
    expect(expectKind(routeOwn(MERGED, p), 'pr.closed').headRef).toBe('damascus/item-7');
  });
});

withShared('third-party captured payloads map their fields', () => {
  test('a PR conversation comment is a comment with isPull (X-Gitea-Event issue_comment, type pull_request_comment)', () => {
    const e = expectKind(routeShared('issue_comment.created.on-pull-request.json'), 'comment');
    expect(e.action).toBe('created');
    expect(e.isPull).toBe(true);
    expect(e.issue.isPull).toBe(true);
    expect(e.issue.number).toBe(2);
    expect(e.comment).toEqual({ id: 6, body: 'example', user: { id: 1, login: 'example' }, createdAt: '2022-03-09T16:31:34+09:00' });
  });

  test('closed unmerged PR: merged false, no merge commit', () => {
    const e = expectKind(routeShared('pull_request.closed.json'), 'pr.closed');
    expect(e.merged).toBe(false);
    expect(e.mergeCommitSha).toBeNull();
    expect(e.headRef).toBe('anbraten-patch-1');
  });

  test('review events are ignored whatever their payload, and a review comment is not an issue comment', () => {
    for (const f of ['pull_request_comment.reviewed.json', 'pull_request_approved.reviewed.json', 'pull_request_rejected.reviewed.json']) {
      expect(routeShared(f).kind).toBe('ignored');
    }
    // Even if someone sent the review payload under issue_comment, action "reviewed" is not a comment action.
    expect(routeShared('pull_request_comment.reviewed.json', { event: 'issue_comment', eventType: 'pull_request_comment' }).kind).toBe('ignored');
  });
});

/** Variants of our captures for what the live loop did not send. */
function labelUpdated(labels: string[], action = 'label_updated'): Record<string, unknown> {
  const p = own(LABELLED);
  const issue = p.issue as Record<string, unknown>;
  issue.labels = labels.map((name, i) => ({
    id: i + 1,
    name,
    exclusive: false,
    is_archived: false,
    color: 'ee0701',
    description: '',
    url: `http://localhost:3000/api/v1/repos/example/example/labels/${i + 1}`,
  }));
  return { ...p, action };
}

function plainIssueComment(body: string, action = 'created'): Record<string, unknown> {
  const p = own(COMMENTED);
  return { ...p, action, comment: { ...(p.comment as Record<string, unknown>), body } };
}

describe('variants of the captures', () => {
  test('issues / issue_label / label_updated carries the full label list', () => {
    const e = expectKind(routeWebhook({ event: 'issues', eventType: 'issue_label', payload: labelUpdated(['bug', 'damascus']) }), 'issue.labels');
    expect(e.labels).toEqual(['bug', 'damascus']);
    expect(e.cleared).toBe(false);
    expect(e.issue.number).toBe((own(LABELLED) as LooseJson).number);
  });

  test('label_cleared: the stale list is not trusted, no labels remain', () => {
    const e = expectKind(routeWebhook({ event: 'issues', eventType: 'issue_label', payload: labelUpdated(['damascus'], 'label_cleared') }), 'issue.labels');
    expect(e.labels).toEqual([]);
    expect(e.cleared).toBe(true);
  });

  test('issue_comment on a plain issue (type issue_comment) is a comment, not a pull', () => {
    const e = expectKind(routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload: plainIssueComment('/damascus retry') }), 'comment');
    expect(e.isPull).toBe(false);
    expect(e.comment.body).toBe('/damascus retry');
  });

  test('edited comments are comments; deleted ones are ignored', () => {
    const edited = routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload: plainIssueComment('x', 'edited') });
    expect(expectKind(edited, 'comment').action).toBe('edited');
    expect(routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload: plainIssueComment('x', 'deleted') }).kind).toBe('ignored');
  });

  test('issues closed / reopened', () => {
    const closed = own(OPENED);
    closed.action = 'closed';
    (closed.issue as Record<string, unknown>).state = 'closed';
    expect(expectKind(routeWebhook({ event: 'issues', eventType: 'issues', payload: closed }), 'issue.closed').issue.state).toBe('closed');
    const reopened = { ...own(OPENED), action: 'reopened' };
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload: reopened }).kind).toBe('issue.reopened');
  });

  test('issues opened with labels reports them', () => {
    const p = { ...labelUpdated(['damascus']), action: 'opened' };
    expect(expectKind(routeWebhook({ event: 'issues', eventType: 'issues', payload: p }), 'issue.opened').labels).toEqual(['damascus']);
  });

  test('a missing X-Gitea-Event-Type (Gitea < 1.16) routes on event and action alone', () => {
    expect(routeWebhook({ event: 'issues', eventType: undefined, payload: labelUpdated(['damascus']) }).kind).toBe('issue.labels');
    expect(routeWebhook({ event: 'pull_request', eventType: undefined, payload: own(SYNCED) }).kind).toBe('pr.synchronized');
  });

  test('headers are matched case-insensitively', () => {
    expect(routeWebhook({ event: 'Issues', eventType: 'ISSUE_LABEL', payload: labelUpdated(['damascus']) }).kind).toBe('issue.labels');
  });
});

describe('unknown and malformed input', () => {
  test('unknown or missing event → ignored', () => {
    expect(routeWebhook({ event: 'wiki', eventType: 'wiki', payload: {} }).kind).toBe('ignored');
    expect(routeWebhook({ event: undefined, eventType: undefined, payload: own(OPENED) }).kind).toBe('ignored');
    expect(routeWebhook({ event: '  ', eventType: 'issues', payload: own(OPENED) }).kind).toBe('ignored');
  });

  test('unknown action of a handled event → ignored', () => {
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload: { ...own(OPENED), action: 'transferred' } }).kind).toBe('ignored');
  });

  test('an action that does not belong to the event type → ignored (label_updated sent as type issues)', () => {
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload: labelUpdated(['damascus']) }).kind).toBe('ignored');
  });

  test('GitHub spellings are not Gitea actions', () => {
    expect(routeWebhook({ event: 'pull_request', eventType: 'pull_request_sync', payload: { ...own(SYNCED), action: 'synchronize' } }).kind).toBe('ignored');
    expect(routeWebhook({ event: 'issues', eventType: 'issue_label', payload: { ...labelUpdated(['damascus']), action: 'labeled' } }).kind).toBe('ignored');
  });

  const invalid = (event: string, eventType: string, payload: unknown): string => {
    const e = routeWebhook({ event, eventType, payload });
    return expectKind(e, 'invalid').reason;
  };

  test('non-object payloads of a handled event → invalid', () => {
    expect(invalid('issues', 'issues', null)).toMatch(/payload/);
    expect(invalid('issues', 'issues', [1, 2])).toMatch(/payload/);
    expect(invalid('issues', 'issues', 'opened')).toMatch(/payload/);
    expect(invalid('issues', 'issues', {})).toMatch(/action/);
  });

  test('each required field, when missing or mistyped, makes the event invalid and says which', () => {
    type Parts = Record<'repository' | 'issue' | 'sender', Record<string, unknown>> & Record<string, unknown>;
    const opened = () => own(OPENED) as Parts;
    const cases: [string, (p: Parts) => void, RegExp][] = [
      ['repository', (p) => Reflect.deleteProperty(p, 'repository'), /repository/],
      ['repository.owner', (p) => (p.repository.owner = 'example'), /repository\.owner/],
      ['repository.id', (p) => (p.repository.id = '1'), /repository\.id/],
      ['repository.clone_url', (p) => delete p.repository.clone_url, /clone_url/],
      ['issue.number', (p) => (p.issue.number = 0), /issue\.number/],
      ['issue.number float', (p) => (p.issue.number = 1.5), /issue\.number/],
      ['issue.state', (p) => (p.issue.state = 'merged'), /issue\.state/],
      ['issue.title', (p) => (p.issue.title = 7), /issue\.title/],
      ['issue.labels', (p) => (p.issue.labels = 'damascus'), /issue\.labels/],
      ['issue.labels[0].name', (p) => (p.issue.labels = [{ id: 1 }]), /issue\.labels\[0\]\.name/],
      ['sender', (p) => Reflect.deleteProperty(p, 'sender'), /sender/],
      ['sender.login', (p) => (p.sender.login = ''), /sender\.login/],
    ];
    for (const [, mutate, reason] of cases) {
      const p = opened();
      mutate(p);
      expect(invalid('issues', 'issues', p)).toMatch(reason);
    }
  });

  test('a null issue body reads as empty (Go nil), a null label list as none', () => {
    const p = own(OPENED);
    (p.issue as Record<string, unknown>).body = null;
    (p.issue as Record<string, unknown>).labels = null;
    const e = expectKind(routeWebhook({ event: 'issues', eventType: 'issues', payload: p }), 'issue.opened');
    expect(e.issue.body).toBe('');
    expect(e.labels).toEqual([]);
  });

  test('comment without id/body/user → invalid', () => {
    for (const field of ['id', 'body', 'user', 'created_at']) {
      const p = plainIssueComment('hello');
      delete (p.comment as Record<string, unknown>)[field];
      expect(invalid('issue_comment', 'issue_comment', p)).toMatch(/comment/);
    }
  });

  test('closed PR without a boolean merged flag → invalid (never guess "unmerged")', () => {
    const p = own(MERGED);
    delete (p.pull_request as Record<string, unknown>).merged;
    expect(invalid('pull_request', 'pull_request', p)).toMatch(/merged/);
  });

  test('PR without head sha → invalid', () => {
    const p = own(SYNCED);
    delete ((p.pull_request as Record<string, unknown>).head as Record<string, unknown>).sha;
    expect(invalid('pull_request', 'pull_request_sync', p)).toMatch(/head\.sha/);
  });
});

describe('isBotSender', () => {
  test('the bot login (any case) and gitea-actions are the bot; others are not', () => {
    expect(isBotSender('damascus-bot', 'damascus-bot')).toBe(true);
    expect(isBotSender('Damascus-Bot', 'damascus-bot')).toBe(true);
    expect(isBotSender('gitea-actions', 'damascus-bot')).toBe(true);
    expect(isBotSender('gitea-actions', undefined)).toBe(true);
    expect(isBotSender('alice', 'damascus-bot')).toBe(false);
    expect(isBotSender('damascus-bot2', 'damascus-bot')).toBe(false);
    expect(isBotSender('alice', '')).toBe(false);
  });
});

describe('triggerLabelChange (label_updated has no delta: diff against what is known)', () => {
  test.each([
    [false, ['bug', 'damascus'], 'added'],
    [true, ['bug', 'damascus'], 'none'],
    [true, ['bug'], 'removed'],
    [false, ['bug'], 'none'],
    [true, [], 'removed'],
    [false, ['Damascus'], 'added'],
    [false, ['damascus/spec'], 'none'],
  ] as const)('known=%s labels=%j → %s', (known, labels, expected) => {
    expect(triggerLabelChange(known, [...labels], 'damascus')).toBe(expected);
  });

  test('NUL characters: dropped from free text (PostgreSQL text cannot hold them), refused in names', () => {
    const payload = own(OPENED) as { issue: Record<string, unknown>; sender: Record<string, unknown> };
    payload.issue.title = 'a \u0000title';
    payload.issue.body = 'body\u0000 with NUL';
    const ev = routeWebhook({ event: 'issues', eventType: 'issues', payload });
    expect(ev).toMatchObject({ kind: 'issue.opened', issue: { title: 'a title', body: 'body with NUL' } });
    payload.sender.login = 'mallory\u0000';
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload })).toEqual({
      kind: 'invalid',
      reason: 'sender.login must not contain a NUL character',
    });
  });
});
