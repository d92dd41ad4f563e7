import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { shapeDifferences } from '../support/captureShape.js';
import { startGiteaSim, startWebhookReceiver, type GiteaSim } from '../support/giteaSim/index.js';
import { checkResponse, SWAGGER_AVAILABLE, SWAGGER_PATH } from '../support/giteaSim/validate.js';
import { ownCapture } from '../support/webhookFixtures.js';
import { commitToBranch, initBareRepo, revParse } from '../support/giteaSim/git.js';

const run = promisify(execFile);

// Request and response validation needs Gitea's swagger (../shared); without it those tests say they were skipped.
const withSwagger = SWAGGER_AVAILABLE ? it : it.skip;
if (!SWAGGER_AVAILABLE) it.skip(`swagger validation skipped: ${SWAGGER_PATH} is not there`, () => {});

let sim: GiteaSim;

async function api(method: string, path: string, body?: unknown, token: string | null = sim.token) {
  const headers: Record<string, string> = {};
  if (token) headers.Authorization = `token ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${sim.apiUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

beforeAll(async () => {
  sim = await startGiteaSim();
  await sim.createRepo('acme', 'app', { files: { 'README.md': '# app\n', 'src/a.txt': 'a\n' } });
});

afterAll(async () => {
  await sim.close();
});

afterEach(() => {
  sim.faults.clear();
  expect(sim.responseViolations).toEqual([]);
});

describe('request validation like Gitea', () => {
  withSwagger('answers 422 for a comment without body, naming the field', async () => {
    const n = sim.createIssue('acme', 'app', { title: 'x', user: 'alice' });
    const res = await api('POST', `/repos/acme/app/issues/${n}/comments`, {});
    expect(res.status).toBe(422);
    expect(String(res.body?.message)).toContain('body');
    expect(sim.comments('acme', 'app', n)).toHaveLength(0);
  });

  it('answers 404 for an operation the spec does not have (PUT …/merge)', async () => {
    const res = await api('PUT', '/repos/acme/app/pulls/1/merge', { do: 'merge' });
    expect(res.status).toBe(404);
    expect(res.body).toHaveProperty('message');
  });

  withSwagger('answers 422 for a commit status with state green and for a merge body without do', async () => {
    const sha = (await run('git', ['--git-dir', sim.repoPath('acme', 'app'), 'rev-parse', 'main'])).stdout.trim();
    expect((await api('POST', `/repos/acme/app/statuses/${sha}`, { state: 'green', context: 'ci' })).status).toBe(422);
    expect((await api('POST', '/repos/acme/app/pulls/1/merge', { Do_it: 'merge' })).status).toBe(422);
    expect(sim.statuses('acme', 'app', sha)).toHaveLength(0);
  });

  it('answers 401 "token is required" without a token, and for a wrong token', async () => {
    const none = await api('GET', '/user', undefined, null);
    expect(none.status).toBe(401);
    expect(none.body?.message).toBe('token is required');
    expect((await api('GET', '/user', undefined, 'not-the-token')).status).toBe(401);
    expect((await api('GET', '/user')).body?.login).toBe('damascus-bot');
    // GET /version is public in Gitea.
    expect((await api('GET', '/version', undefined, null)).body).toEqual({ version: '1.26.3' });
  });

  withSwagger('checks responses against the spec (a string id is a violation; Go nulls are not)', async () => {
    expect(await checkResponse('issueCreateComment', 201, { id: 'x', body: 'b' })).toEqual([expect.stringContaining('/id must be integer')]);
    expect(await checkResponse('issueGetIssue', 200, { id: 1, milestone: null, pull_request: null })).toEqual([]);
  });

  it('records every request with its status', async () => {
    const before = sim.requests.length;
    await api('GET', '/repos/acme/app');
    await api('GET', '/repos/acme/nope');
    expect(sim.requests.slice(before).map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', '/repos/acme/app', 200],
      ['GET', '/repos/acme/nope', 404],
    ]);
  });
});

describe('webhooks like Gitea', () => {
  it('sends signed deliveries with the full header set, 2-space JSON and payloads shaped like the captures', async () => {
    const receiver = await startWebhookReceiver();
    try {
      await sim.createRepo('acme', 'hooks');
      const secret = 's3cret';
      sim.addWebhook('acme', 'hooks', { url: receiver.url, secret, events: ['issues', 'issue_comment', 'pull_request'] });
      const n = sim.createIssue('acme', 'hooks', { title: 'Add a feature', body: 'please', user: 'alice', labels: ['damascus'] });
      sim.comment('acme', 'hooks', n, 'an answer', { by: 'bob' });
      await sim.waitForDeliveries();
      expect(receiver.received).toHaveLength(3);
      const [opened, labelled, commented] = receiver.received;

      const expectedHeaders = [
        'user-agent',
        'content-type',
        'content-length',
        'host',
        'connection',
        'accept-encoding',
        'x-gitea-delivery',
        'x-gogs-delivery',
        'x-github-delivery',
        'x-gitea-event',
        'x-gogs-event',
        'x-github-event',
        'x-gitea-event-type',
        'x-gogs-event-type',
        'x-github-event-type',
        'x-gitea-signature',
        'x-gogs-signature',
        'x-hub-signature',
        'x-hub-signature-256',
        'x-gitea-hook-installation-target-type',
        'x-github-hook-installation-target-type',
      ].sort();
      for (const d of receiver.received) {
        expect(Object.keys(d.headers).sort()).toEqual(expectedHeaders);
        expect(d.headers['user-agent']).toBe('Go-http-client/1.1');
        expect(d.headers['content-type']).toBe('application/json');
        expect(d.headers['x-gitea-delivery']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        expect(d.headers['x-github-delivery']).toBe(d.headers['x-gitea-delivery']);
        const hex = createHmac('sha256', secret).update(d.body).digest('hex');
        expect(d.headers['x-gitea-signature']).toBe(hex);
        expect(d.headers['x-hub-signature-256']).toBe(`sha256=${hex}`);
        expect(d.headers['x-hub-signature']).toBe(`sha1=${createHmac('sha1', secret).update(d.body).digest('hex')}`);
        expect(d.headers['x-gitea-hook-installation-target-type']).toBe('repository');
        expect(d.body).toBe(JSON.stringify(JSON.parse(d.body), null, 2));
      }
      expect([opened, labelled, commented].map((d) => [d!.headers['x-gitea-event'], d!.headers['x-gitea-event-type']])).toEqual([
        ['issues', 'issues'],
        ['issues', 'issue_label'],
        ['issue_comment', 'issue_comment'],
      ]);

      const got = JSON.parse(opened!.body) as Record<string, Record<string, unknown>>;
      expect(got.action).toBe('opened');
      expect(shapeDifferences(ownCapture('issues.issues.opened.json').payload, got)).toEqual([]);
      expect(got.issue!.pull_request).toBeNull();
      expect(got.sender!.login).toBe('alice');

      const lab = JSON.parse(labelled!.body) as Record<string, Record<string, unknown> & { labels: Array<{ name: string }> }>;
      expect(lab.action).toBe('label_updated');
      expect(lab.issue!.labels.map((l) => l.name)).toEqual(['damascus']);

      const c = JSON.parse(commented!.body) as Record<string, Record<string, unknown>>;
      expect(c.action).toBe('created');
      expect(c.is_pull).toBe(false);
      expect(c).not.toHaveProperty('pull_request');
      expect(shapeDifferences(ownCapture('issue_comment.issue_comment.created.json').payload, c)).toEqual([]);
      expect(c.comment!.body).toBe('an answer');
      expect(c.sender!.login).toBe('bob');
      expect(sim.deliveries.slice(-3).map((d) => d.status)).toEqual([200, 200, 200]);
    } finally {
      await receiver.close();
    }
  });

  it('echoes bot actions through the API, sends pull_request events shaped like the captures, and honours drop/duplicate', async () => {
    const receiver = await startWebhookReceiver();
    try {
      await sim.createRepo('acme', 'prs');
      sim.addWebhook('acme', 'prs', { url: receiver.url, secret: 'x', events: ['pull_request'] });
      await sim.pushToBranch('acme', 'prs', 'feature', { files: { 'f.txt': 'f\n' } });
      const created = await api('POST', '/repos/acme/prs/pulls', { head: 'feature', base: 'main', title: 'Feature', body: 'b' });
      expect(created.status).toBe(201);
      await sim.waitForDeliveries();
      const opened = JSON.parse(receiver.received.at(-1)!.body) as Record<string, Record<string, unknown>>;
      expect(receiver.received.at(-1)!.headers['x-gitea-event-type']).toBe('pull_request');
      expect(opened.action).toBe('opened');
      expect(opened.sender!.login).toBe('damascus-bot');
      expect(shapeDifferences(ownCapture('pull_request.pull_request.opened.json').payload, opened)).toEqual([]);

      // A push to the PR branch is seen as pull_request_sync / synchronized.
      const newHead = await sim.pushToBranch('acme', 'prs', 'feature', { files: { 'g.txt': 'g\n' }, by: 'alice' });
      await sim.waitForDeliveries();
      const sync = receiver.received.at(-1)!;
      expect(sync.headers['x-gitea-event-type']).toBe('pull_request_sync');
      expect((JSON.parse(sync.body) as { action: string; pull_request: { head: { sha: string } } }).pull_request.head.sha).toBe(newHead);

      const count = receiver.received.length;
      sim.dropWebhooks(true);
      await api('PATCH', `/repos/acme/prs/pulls/${created.body!.number}`, { title: 'Renamed' });
      await sim.waitForDeliveries();
      expect(receiver.received).toHaveLength(count);
      expect(sim.deliveries.at(-1)).toMatchObject({ dropped: true, status: null, action: 'edited' });
      sim.dropWebhooks(false);
      sim.duplicateWebhooks(true);
      await api('PATCH', `/repos/acme/prs/pulls/${created.body!.number}`, { title: 'Renamed again' });
      await sim.waitForDeliveries();
      sim.duplicateWebhooks(false);
      expect(receiver.received).toHaveLength(count + 2);
      expect(receiver.received.at(-1)!.headers['x-gitea-delivery']).toBe(receiver.received.at(-2)!.headers['x-gitea-delivery']);
    } finally {
      await receiver.close();
    }
  });
});

describe('merge is a real git merge', () => {
  it('merges the head into main (file visible with git show), marks the PR merged and sends closed+merged', async () => {
    const receiver = await startWebhookReceiver();
    try {
      await sim.createRepo('acme', 'merge');
      sim.addWebhook('acme', 'merge', { url: receiver.url, secret: 'x', events: ['pull_request'] });
      const head = await sim.pushToBranch('acme', 'merge', 'work', { files: { 'feature.txt': 'hello from work\n' } });
      const pr = await api('POST', '/repos/acme/merge/pulls', { head: 'work', base: 'main', title: 'Work' });
      const n = pr.body!.number as number;
      expect((await api('GET', `/repos/acme/merge/pulls/${n}/merge`)).status).toBe(404);
      const merged = await api('POST', `/repos/acme/merge/pulls/${n}/merge`, { do: 'merge', head_commit_id: head });
      expect(merged.status).toBe(200);
      const bare = sim.repoPath('acme', 'merge');
      expect((await run('git', ['--git-dir', bare, 'show', 'main:feature.txt'])).stdout).toBe('hello from work\n');
      const parents = (await run('git', ['--git-dir', bare, 'rev-list', '--parents', '-n', '1', 'main'])).stdout.trim().split(' ');
      expect(parents).toHaveLength(3); // a merge commit: itself + two parents
      expect(parents[2]).toBe(head);
      const after = await api('GET', `/repos/acme/merge/pulls/${n}`);
      expect(after.body).toMatchObject({ merged: true, state: 'closed', merge_commit_sha: parents[0] });
      expect((await api('GET', `/repos/acme/merge/pulls/${n}/merge`)).status).toBe(204);
      expect((await api('POST', `/repos/acme/merge/pulls/${n}/merge`, { do: 'merge' })).status).toBe(405);
      await sim.waitForDeliveries();
      const closed = JSON.parse(receiver.received.at(-1)!.body) as { action: string; pull_request: { merged: boolean; merge_commit_sha: string } };
      expect(closed.action).toBe('closed');
      expect(closed.pull_request.merged).toBe(true);
      expect(closed.pull_request.merge_commit_sha).toBe(parents[0]);
    } finally {
      await receiver.close();
    }
  });

  it('answers 409 for a stale head_commit_id and leaves main alone; squash makes one commit; WIP is 405', async () => {
    await sim.createRepo('acme', 'stale');
    const bare = sim.repoPath('acme', 'stale');
    const first = await sim.pushToBranch('acme', 'stale', 'topic', { files: { 'one.txt': '1\n' } });
    const pr = await api('POST', '/repos/acme/stale/pulls', { head: 'topic', base: 'main', title: 'Topic' });
    const n = pr.body!.number as number;
    await sim.pushToBranch('acme', 'stale', 'topic', { files: { 'two.txt': '2\n' } });
    const mainBefore = (await run('git', ['--git-dir', bare, 'rev-parse', 'main'])).stdout.trim();
    const stale = await api('POST', `/repos/acme/stale/pulls/${n}/merge`, { do: 'squash', head_commit_id: first });
    expect(stale.status).toBe(409);
    expect((await run('git', ['--git-dir', bare, 'rev-parse', 'main'])).stdout.trim()).toBe(mainBefore);
    expect(sim.issue('acme', 'stale', n).pull!.merged).toBe(false);

    const current = (await api('GET', `/repos/acme/stale/pulls/${n}`)).body!.head as { sha: string };
    expect((await api('POST', `/repos/acme/stale/pulls/${n}/merge`, { do: 'squash', head_commit_id: current.sha })).status).toBe(200);
    const parents = (await run('git', ['--git-dir', bare, 'rev-list', '--parents', '-n', '1', 'main'])).stdout.trim().split(' ');
    expect(parents).toEqual([expect.any(String), mainBefore]);
    expect((await run('git', ['--git-dir', bare, 'show', 'main:two.txt'])).stdout).toBe('2\n');

    await sim.pushToBranch('acme', 'stale', 'wip', { files: { 'w.txt': 'w\n' } });
    const wip = await api('POST', '/repos/acme/stale/pulls', { head: 'wip', base: 'main', title: 'WIP: not yet' });
    expect((await api('POST', `/repos/acme/stale/pulls/${wip.body!.number}/merge`, { do: 'merge' })).status).toBe(405);
    // One open PR per head/base pair.
    expect((await api('POST', '/repos/acme/stale/pulls', { head: 'wip', base: 'main', title: 'again' })).status).toBe(409);
  });
});

describe('git under concurrent requests', () => {
  it('twenty commits to twenty branches of one repo at once all land (git worktree add races a half-made worktree)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'simgit-'));
    const bare = join(root, 'r.git');
    await initBareRepo(bare, { 'a.txt': 'a\n' }, 'main');
    const shas = await Promise.all(
      Array.from({ length: 20 }, (_, i) => commitToBranch(bare, `b${i}`, { files: { [`f${i}.txt`]: `${i}\n` }, message: `c${i}`, from: 'main' })),
    );
    expect(new Set(shas).size).toBe(20);
    for (const [i, sha] of shas.entries()) expect(await revParse(bare, `refs/heads/b${i}`)).toBe(sha);
    await rm(root, { recursive: true, force: true });
  });
});

describe('fault injection', () => {
  it('answers injected statuses the given number of times, then normally', async () => {
    sim.faults.add({ method: 'GET', path: '/repos/acme/app', status: 503, times: 2 });
    expect((await api('GET', '/repos/acme/app')).status).toBe(503);
    expect((await api('GET', '/repos/acme/app')).status).toBe(503);
    expect((await api('GET', '/repos/acme/app')).status).toBe(200);
    sim.faults.add({ path: /\/merge$/, status: 405 });
    const res = await api('POST', '/repos/acme/app/pulls/1/merge', { do: 'merge' });
    expect(res.status).toBe(405);
    expect(res.body?.message).toBe('Please try again later');
  });

  it('hangs and drops the connection for a timeout fault', async () => {
    sim.faults.add({ path: '/user', timeoutMs: 50, times: 1 });
    await expect(fetch(`${sim.apiUrl}/user`, { headers: { Authorization: `token ${sim.token}` } })).rejects.toThrow();
    expect(sim.requests.at(-1)).toMatchObject({ path: '/user', status: null });
    expect((await api('GET', '/user')).status).toBe(200);
  });
});
