import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isBotSender, routeWebhook, triggerLabelChange, type GiteaEvent } from '../../src/gitea/events.js';

const DIR = fileURLToPath(new URL('../../../shared/gitea/webhooks/', import.meta.url));
const load = (file: string): Record<string, unknown> => JSON.parse(readFileSync(DIR + file, 'utf8')) as Record<string, unknown>;

/** Headers from shared/gitea/README.md (derived from Gitea's HookEventType.Event()); the expected kind for each capture. */
const CAPTURES: Record<string, { eventType: string; kind: GiteaEvent['kind'] }> = {
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

const route = (file: string, over: { event?: string; eventType?: string; payload?: unknown } = {}) =>
  routeWebhook({
    event: over.event ?? file.split('.')[0],
    eventType: over.eventType ?? CAPTURES[file]?.eventType,
    payload: over.payload ?? load(file),
  });

function expectKind<K extends GiteaEvent['kind']>(e: GiteaEvent, kind: K): GiteaEvent & { kind: K } {
  expect(e.kind).toBe(kind);
  return e as GiteaEvent & { kind: K };
}

describe('every real capture routes to its expected kind', () => {
  test('the table covers every capture in shared/gitea/webhooks', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(Object.keys(CAPTURES).sort());
  });
  for (const [file, { kind }] of Object.entries(CAPTURES)) {
    test(`${file} → ${kind}`, () => {
      const e = route(file);
      expect(e.kind).toBe(kind);
      if (e.kind === 'ignored') expect(e.reason).not.toBe('');
    });
  }
});

describe('captured payloads map their fields', () => {
  test('issues.opened: repo, issue (not a pull), labels, sender', () => {
    const e = expectKind(route('issues.opened.json'), 'issue.opened');
    expect(e.repo).toEqual({
      id: 1,
      owner: 'example',
      name: 'example',
      fullName: 'example/example',
      defaultBranch: 'master',
      htmlUrl: 'http://localhost:3000/example/example',
      cloneUrl: 'http://localhost:3000/example/example.git',
    });
    expect(e.issue).toEqual({
      number: 1,
      title: 'example',
      body: '',
      state: 'open',
      htmlUrl: 'http://localhost:3000/example/example/issues/1',
      isPull: false,
    });
    expect(e.labels).toEqual([]);
    expect(e.sender).toEqual({ id: 1, login: 'example' });
  });

  test('a PR conversation comment is a comment with isPull (X-Gitea-Event issue_comment, type pull_request_comment)', () => {
    const e = expectKind(route('issue_comment.created.on-pull-request.json'), 'comment');
    expect(e.action).toBe('created');
    expect(e.isPull).toBe(true);
    expect(e.issue.isPull).toBe(true);
    expect(e.issue.number).toBe(2);
    expect(e.comment).toEqual({ id: 6, body: 'example', user: { id: 1, login: 'example' }, createdAt: '2022-03-09T16:31:34+09:00' });
  });

  test('merged PR: merged, head sha/ref, merge commit', () => {
    const e = expectKind(route('pull_request.closed-merged.json'), 'pr.closed');
    expect(e).toMatchObject({
      number: 1,
      merged: true,
      headSha: 'd555a5dd07f4d0148a58d4686ec381502ae6a2d4',
      headRef: 'anbraten-patch-1',
      mergeCommitSha: 'f2440f050054df0f8ecabcace648f1683509064c',
      sender: { id: 26907, login: 'anbraten' },
    });
    expect(e.repo.fullName).toBe('anbraten/test-repo');
    expect(e.repo.defaultBranch).toBe('main');
  });

  test('closed unmerged PR: merged false, no merge commit', () => {
    const e = expectKind(route('pull_request.closed.json'), 'pr.closed');
    expect(e.merged).toBe(false);
    expect(e.mergeCommitSha).toBeNull();
    expect(e.headRef).toBe('anbraten-patch-1');
  });

  test('synchronized PR: the new head', () => {
    const e = expectKind(route('pull_request.synchronized.json'), 'pr.synchronized');
    expect(e).toMatchObject({ number: 2, headSha: '788ed8d02d3b7fcfcf6386dbcbca696aa1d4dc25', headRef: 'test-patch-1' });
    expect(e.repo.owner).toBe('Test-CI');
  });

  test('head.ref of a deleted branch (refs/pull/N/head) falls back to head.label', () => {
    const p = load('pull_request.closed-merged.json');
    const pr = p.pull_request as Record<string, Record<string, unknown>>;
    pr.head = { ...pr.head, ref: 'refs/pull/1/head', label: 'damascus/item-7' };
    const e = expectKind(route('pull_request.closed-merged.json', { payload: p }), 'pr.closed');
    expect(e.headRef).toBe('damascus/item-7');
  });

  test('review events are ignored whatever their payload, and a review comment is not an issue comment', () => {
    for (const f of ['pull_request_comment.reviewed.json', 'pull_request_approved.reviewed.json', 'pull_request_rejected.reviewed.json']) {
      expect(route(f).kind).toBe('ignored');
    }
    // Even if someone sent the review payload under issue_comment, action "reviewed" is not a comment action.
    expect(route('pull_request_comment.reviewed.json', { event: 'issue_comment', eventType: 'pull_request_comment' }).kind).toBe('ignored');
  });
});

/** Synthesised from issues.opened.json's shape: FACTS says no capture of these exists. */
function labelUpdated(labels: string[], action = 'label_updated'): Record<string, unknown> {
  const p = load('issues.opened.json');
  const issue = p.issue as Record<string, unknown>;
  issue.labels = labels.map((name, i) => ({ id: i + 1, name, color: 'ee0701', description: '', url: `http://localhost:3000/api/v1/repos/example/example/labels/${i + 1}` }));
  return { ...p, action };
}

function plainIssueComment(body: string, action = 'created'): Record<string, unknown> {
  const p = load('issue_comment.created.on-pull-request.json');
  const issue = { ...(p.issue as Record<string, unknown>), pull_request: null };
  const comment = { ...(p.comment as Record<string, unknown>), body, pull_request_url: '' };
  return { ...p, action, issue, comment, is_pull: false };
}

describe('synthesised events with no capture', () => {
  test('issues / issue_label / label_updated carries the full label list', () => {
    const e = expectKind(
      routeWebhook({ event: 'issues', eventType: 'issue_label', payload: labelUpdated(['bug', 'damascus']) }),
      'issue.labels',
    );
    expect(e.labels).toEqual(['bug', 'damascus']);
    expect(e.cleared).toBe(false);
    expect(e.issue.number).toBe(1);
  });

  test('label_cleared: the stale list is not trusted, no labels remain', () => {
    const e = expectKind(
      routeWebhook({ event: 'issues', eventType: 'issue_label', payload: labelUpdated(['damascus'], 'label_cleared') }),
      'issue.labels',
    );
    expect(e.labels).toEqual([]);
    expect(e.cleared).toBe(true);
  });

  test('issue_comment on a plain issue (type issue_comment) is a comment, not a pull', () => {
    const e = expectKind(
      routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload: plainIssueComment('/damascus retry') }),
      'comment',
    );
    expect(e.isPull).toBe(false);
    expect(e.comment.body).toBe('/damascus retry');
  });

  test('edited comments are comments; deleted ones are ignored', () => {
    const edited = routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload: plainIssueComment('x', 'edited') });
    expect(expectKind(edited, 'comment').action).toBe('edited');
    expect(routeWebhook({ event: 'issue_comment', eventType: 'issue_comment', payload: plainIssueComment('x', 'deleted') }).kind).toBe('ignored');
  });

  test('issues closed / reopened', () => {
    const closed = load('issues.opened.json');
    closed.action = 'closed';
    (closed.issue as Record<string, unknown>).state = 'closed';
    expect(expectKind(routeWebhook({ event: 'issues', eventType: 'issues', payload: closed }), 'issue.closed').issue.state).toBe('closed');
    const reopened = { ...load('issues.opened.json'), action: 'reopened' };
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload: reopened }).kind).toBe('issue.reopened');
  });

  test('issues opened with labels reports them', () => {
    const p = { ...labelUpdated(['damascus']), action: 'opened' };
    expect(expectKind(routeWebhook({ event: 'issues', eventType: 'issues', payload: p }), 'issue.opened').labels).toEqual(['damascus']);
  });

  test('a missing X-Gitea-Event-Type (Gitea < 1.16) routes on event and action alone', () => {
    expect(routeWebhook({ event: 'issues', eventType: undefined, payload: labelUpdated(['damascus']) }).kind).toBe('issue.labels');
    expect(routeWebhook({ event: 'pull_request', eventType: undefined, payload: load('pull_request.synchronized.json') }).kind).toBe(
      'pr.synchronized',
    );
  });

  test('headers are matched case-insensitively', () => {
    expect(routeWebhook({ event: 'Issues', eventType: 'ISSUE_LABEL', payload: labelUpdated(['damascus']) }).kind).toBe('issue.labels');
  });
});

describe('unknown and malformed input', () => {
  test('unknown or missing event → ignored', () => {
    expect(routeWebhook({ event: 'wiki', eventType: 'wiki', payload: {} }).kind).toBe('ignored');
    expect(routeWebhook({ event: undefined, eventType: undefined, payload: load('issues.opened.json') }).kind).toBe('ignored');
    expect(routeWebhook({ event: '  ', eventType: 'issues', payload: load('issues.opened.json') }).kind).toBe('ignored');
  });

  test('unknown action of a handled event → ignored', () => {
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload: { ...load('issues.opened.json'), action: 'transferred' } }).kind).toBe('ignored');
  });

  test('an action that does not belong to the event type → ignored (label_updated sent as type issues)', () => {
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload: labelUpdated(['damascus']) }).kind).toBe('ignored');
  });

  test('GitHub spellings are not Gitea actions', () => {
    expect(routeWebhook({ event: 'pull_request', eventType: 'pull_request_sync', payload: { ...load('pull_request.synchronized.json'), action: 'synchronize' } }).kind).toBe(
      'ignored',
    );
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
    const opened = () => load('issues.opened.json') as Parts;
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
    const p = load('issues.opened.json');
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
      expect(invalid('issue_comment', 'issue_comment', p)).toMatch(new RegExp(`comment`));
    }
  });

  test('closed PR without a boolean merged flag → invalid (never guess "unmerged")', () => {
    const p = load('pull_request.closed-merged.json');
    delete (p.pull_request as Record<string, unknown>).merged;
    expect(invalid('pull_request', 'pull_request', p)).toMatch(/merged/);
  });

  test('PR without head sha → invalid', () => {
    const p = load('pull_request.synchronized.json');
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
    const payload = load('issues.opened.json') as { issue: Record<string, unknown>; sender: Record<string, unknown> };
    payload.issue.title = 'a \u0000title';
    payload.issue.body = 'body\u0000 with NUL';
    const ev = routeWebhook({ event: 'issues', eventType: 'issues', payload });
    expect(ev).toMatchObject({ kind: 'issue.opened', issue: { title: 'a title', body: 'body with NUL' } });
    payload.sender.login = 'mallory\u0000';
    expect(routeWebhook({ event: 'issues', eventType: 'issues', payload })).toEqual({ kind: 'invalid', reason: 'sender.login must not contain a NUL character' });
  });
});
