/**
 * The simulator does what Gitea 1.26.3 does where Damascus broke on the real thing (FACTS §0, checked against a
 * real Gitea 1.26.3 and in its source). Each case is one of the behaviours the live suite met; tests/gitea/captures
 * holds the simulator's answers against recorded ones field by field.
 */
import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { GiteaError } from '../../src/gitea/errors.js';
import { startGiteaSim, startWebhookReceiver, type GiteaSim } from '../support/giteaSim/index.js';

const run = promisify(execFile);
let sim: GiteaSim;
let c: GiteaClient;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

beforeAll(async () => {
  sim = await startGiteaSim();
  c = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await sim.close();
  await receiver.close();
  expect(sim.responseViolations).toEqual([]);
});
beforeEach(() => {
  receiver.received.length = 0;
});

const status = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof GiteaError ? `${err.status} ${(err.body as { message?: string })?.message ?? ''}`.trim() : String(err);
  }
};

test('Actions secrets need the owner: an admin collaborator gets 403 "user should be the owner of the repo"', async () => {
  await sim.createRepo('cal', 'admin', { botPermission: 'admin' });
  await sim.createRepo('cal', 'owned');
  expect(await status(c.setActionsSecret('cal', 'admin', 'X', 'v'))).toBe('403 user should be the owner of the repo');
  expect(await status(c.setActionsSecret('cal', 'owned', 'X', 'v'))).toBe('ok');
  expect(await c.getCollaboratorPermission('cal', 'owned', sim.botLogin)).toBe('owner');
  expect(await c.getCollaboratorPermission('cal', 'admin', sim.botLogin)).toBe('admin');
});

test('editing a hook ignores config.secret: deliveries stay signed with the first secret', async () => {
  await sim.createRepo('cal', 'hook');
  const hook = await c.createHook('cal', 'hook', { url: receiver.url, secret: 'first', events: ['issues'], active: true, name: 'h' });
  await c.editHook('cal', 'hook', hook.id, { config: { url: receiver.url, content_type: 'json', secret: 'second' }, events: ['issues'], active: true });
  sim.createIssue('cal', 'hook', { title: 'x', user: 'alice' });
  await sim.waitForDeliveries();
  const body = receiver.received[0]!.body;
  expect(receiver.received[0]!.headers['x-gitea-signature']).toBe(createHmac('sha256', 'first').update(body).digest('hex'));
  expect(JSON.stringify(await c.listHooks('cal', 'hook'))).not.toMatch(/first|second/);
});

test('a conflicting PR: mergeable false, merge 405 "Please try again later", update 409; a clean one behind its base updates', async () => {
  await sim.createRepo('cal', 'merge', { files: { 'shared.txt': 'line0\n' } });
  await sim.pushToBranch('cal', 'merge', 'a', { files: { 'shared.txt': 'line0\nA\n' } });
  await sim.pushToBranch('cal', 'merge', 'b', { files: { 'shared.txt': 'line0\nB\n' } });
  await sim.pushToBranch('cal', 'merge', 'c', { files: { 'c.txt': 'c\n' } });
  const a = await c.createPullRequest('cal', 'merge', { head: 'a', base: 'main', title: 'A' });
  const b = await c.createPullRequest('cal', 'merge', { head: 'b', base: 'main', title: 'B' });
  const cc = await c.createPullRequest('cal', 'merge', { head: 'c', base: 'main', title: 'C' });
  expect([a.mergeable, b.mergeable, cc.mergeable]).toEqual([true, true, true]);
  await c.mergePullRequest('cal', 'merge', a.number, { style: 'merge', headCommitId: a.head.sha });
  const conflicting = await c.getPullRequest('cal', 'merge', b.number);
  expect(conflicting.mergeable).toBe(false);
  expect(await status(c.mergePullRequest('cal', 'merge', b.number, { style: 'merge', headCommitId: b.head.sha }))).toBe('405 Please try again later');
  expect(await status(c.updatePullRequest('cal', 'merge', b.number, 'merge'))).toBe('409 merge failed because of conflict');
  expect(await status(c.updatePullRequest('cal', 'merge', b.number, 'rebase'))).toBe('409 rebase failed because of conflict');
  // C is behind main but does not conflict: its merge base is not main's tip, and an update merges main into it.
  const behind = await c.getPullRequest('cal', 'merge', cc.number);
  expect(behind.mergeable).toBe(true);
  expect(behind.merge_base).not.toBe((await c.getBranch('cal', 'merge', 'main'))!.commit.id);
  expect(await status(c.updatePullRequest('cal', 'merge', cc.number, 'merge'))).toBe('ok');
  const updated = await c.getPullRequest('cal', 'merge', cc.number);
  expect(updated.head.sha).not.toBe(cc.head.sha);
  expect(updated.merge_base).toBe((await c.getBranch('cal', 'merge', 'main'))!.commit.id);
  // Not behind any more: Gitea's update fails with an internal error ("HeadBranch … is up to date").
  expect(await status(c.updatePullRequest('cal', 'merge', cc.number, 'merge'))).toBe('500');
});

test('right after its head or base moved, Gitea is checking a PR: mergeable false and merge 405 until the check is done', async () => {
  const checking = await startGiteaSim({ mergeCheckMs: 400 });
  try {
    const cc = createGiteaClient({ baseUrl: checking.url, token: checking.token, retries: 0 });
    await checking.createRepo('cal', 'check');
    await checking.pushToBranch('cal', 'check', 'x', { files: { 'x.txt': '1\n' } });
    const pr = await cc.createPullRequest('cal', 'check', { head: 'x', base: 'main', title: 'X' });
    const head = await checking.pushToBranch('cal', 'check', 'x', { files: { 'x.txt': '2\n' } });
    expect((await cc.getPullRequest('cal', 'check', pr.number)).mergeable).toBe(false);
    expect(await status(cc.mergePullRequest('cal', 'check', pr.number, { style: 'merge', headCommitId: head }))).toBe('405 Please try again later');
    await new Promise((r) => setTimeout(r, 450));
    expect((await cc.getPullRequest('cal', 'check', pr.number)).mergeable).toBe(true);
    expect(await status(cc.mergePullRequest('cal', 'check', pr.number, { style: 'merge', headCommitId: head }))).toBe('ok');
  } finally {
    await checking.close();
  }
});

test('labels, hooks and timelines send X-Total-Count and no Link; issues send both', async () => {
  await sim.createRepo('cal', 'pages');
  for (let i = 0; i < 3; i++) sim.createLabel('cal', 'pages', { name: `l${i}` });
  for (let i = 0; i < 3; i++) sim.createIssue('cal', 'pages', { title: `i${i}`, user: 'alice' });
  const get = (path: string) => fetch(`${sim.apiUrl}/repos/cal/pages/${path}`, { headers: { Authorization: `token ${sim.token}` } });
  for (const path of ['labels?limit=1', 'hooks?limit=1', 'issues/1/timeline?limit=1']) {
    const res = await get(path);
    expect([path, res.headers.get('link'), res.headers.get('x-total-count') !== null]).toEqual([path, null, true]);
  }
  const issues = await get('issues?limit=1');
  expect(issues.headers.get('link')).toMatch(/rel="next"/);
});

test('GET …/pulls/{base}/{head} answers the first PR of those branches, an old closed one included', async () => {
  await sim.createRepo('cal', 'bh');
  await sim.pushToBranch('cal', 'bh', 'feature', { files: { 'f.txt': 'f\n' } });
  const old = await c.createPullRequest('cal', 'bh', { head: 'feature', base: 'main', title: 'old' });
  sim.closeIssue('cal', 'bh', old.number, { by: 'alice' });
  const current = await c.createPullRequest('cal', 'bh', { head: 'feature', base: 'main', title: 'current' });
  const res = await fetch(`${sim.apiUrl}/repos/cal/bh/pulls/main/feature`, { headers: { Authorization: `token ${sim.token}` } });
  expect((await res.json()) as { number: number; state: string }).toMatchObject({ number: old.number, state: 'closed' });
  expect(current.number).not.toBe(old.number);
});

test('deliveries from several queue workers overtake each other; held ones can be released newest first', async () => {
  await sim.createRepo('cal', 'order');
  sim.addWebhook('cal', 'order', { url: receiver.url, secret: 's', events: ['issues'] });
  const n = sim.createIssue('cal', 'order', { title: 'order', user: 'alice' });
  await sim.waitForDeliveries();
  receiver.received.length = 0;
  sim.holdWebhooks();
  sim.labelIssue('cal', 'order', n, ['damascus'], { by: 'alice' });
  sim.unlabel('cal', 'order', n, ['damascus'], { by: 'alice' });
  sim.releaseWebhooks('reverse');
  await sim.waitForDeliveries();
  const labels = receiver.received.map((w) => (JSON.parse(w.body) as { issue: { labels: { name: string }[] } }).issue.labels.map((l) => l.name));
  // The removal (no labels) arrives before the addition: the last delivery says the label is there, Gitea says it is not.
  expect(labels).toEqual([[], ['damascus']]);
  expect(sim.issueLabels('cal', 'order', n)).toEqual([]);
});

test('a deleted issue: one issues/deleted delivery; then 404 for the issue and its labels, 500 for its comments and timeline', async () => {
  await sim.createRepo('cal', 'del');
  sim.addWebhook('cal', 'del', { url: receiver.url, secret: 's', events: ['issues'] });
  const n = sim.createIssue('cal', 'del', { title: 'doomed', user: 'alice' });
  await sim.waitForDeliveries();
  receiver.received.length = 0;
  sim.deleteIssue('cal', 'del', n, { by: 'alice' });
  await sim.waitForDeliveries();
  expect(receiver.received.map((w) => `${w.headers['x-gitea-event']}/${(JSON.parse(w.body) as { action: string }).action}`)).toEqual(['issues/deleted']);
  expect(await status(c.getIssue('cal', 'del', n))).toBe('404 not found');
  expect(await status(c.getIssueLabels('cal', 'del', n))).toBe('404 not found');
  expect(await status(c.listIssueComments('cal', 'del', n))).toBe('500');
  expect(await status(c.getIssueTimeline('cal', 'del', n))).toBe('500');
  expect(await status(c.createIssueComment('cal', 'del', n, 'x'))).toBe('500');
  expect((await c.listIssues('cal', 'del', { state: 'all' })).map((i) => i.number)).not.toContain(n);
});

test('an answer lost after the work was done: the comment exists though the client saw a timeout', async () => {
  await sim.createRepo('cal', 'lost');
  const n = sim.createIssue('cal', 'lost', { title: 'lost', user: 'alice' });
  sim.faults.add({ method: 'POST', path: `/repos/cal/lost/issues/${n}/comments`, applied: true, timeoutMs: 200, times: 1 });
  const quick = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0, timeoutMs: 100 });
  expect(await status(quick.createIssueComment('cal', 'lost', n, 'made anyway'))).toMatch(/^null/);
  expect(sim.comments('cal', 'lost', n).map((x) => x.body)).toEqual(['made anyway']);
  sim.faults.clear();
});

test("git over HTTP at the ROOT_URL: anonymous clone of a public repo, push only with a writer's token; clone_url comes from ROOT_URL", async () => {
  await sim.createRepo('cal', 'git', { files: { 'a.txt': 'a\n' } });
  const dir = await mkdtemp(join(tmpdir(), 'cal-git-'));
  try {
    const env = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
    const url = `${sim.url}/cal/git.git`;
    await run('git', ['clone', '-q', url, dir], { env });
    await run('git', ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '--allow-empty', '-m', 'x'], { env });
    await expect(run('git', ['-C', dir, 'push', '-q', url, 'HEAD:refs/heads/anon'], { env })).rejects.toThrow(/could not read Username|Authentication/);
    const reader = sim.createToken('reader-only');
    sim.setPermission('cal', 'git', 'reader-only', 'read');
    await expect(
      run('git', ['-C', dir, '-c', `http.extraHeader=Authorization: token ${reader}`, 'push', '-q', url, 'HEAD:refs/heads/r'], { env }),
    ).rejects.toThrow(/403/);
    await run('git', ['-C', dir, '-c', `http.extraHeader=Authorization: token ${sim.token}`, 'push', '-q', url, 'HEAD:refs/heads/bot'], { env });
    expect(await c.getBranch('cal', 'git', 'bot')).not.toBeNull();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  expect((await c.getRepo('cal', 'git')).clone_url).toBe(`${sim.url}/cal/git.git`);
  const behindProxy = await startGiteaSim({ rootUrl: 'http://gitea.invalid:3000/' });
  try {
    await behindProxy.createRepo('cal', 'git');
    const repo = await createGiteaClient({ baseUrl: behindProxy.url, token: behindProxy.token }).getRepo('cal', 'git');
    expect(repo.clone_url).toBe('http://gitea.invalid:3000/cal/git.git');
  } finally {
    await behindProxy.close();
  }
});

test('.gitea/workflows hides .github/workflows: a dispatch finds only what the folder Gitea reads holds', async () => {
  await sim.createRepo('cal', 'dirs', {
    files: { '.github/workflows/ci.yml': 'on: workflow_dispatch\n', '.gitea/workflows/other.yml': 'on: workflow_dispatch\n' },
  });
  expect(await status(c.dispatchWorkflow('cal', 'dirs', 'ci.yml', { ref: 'main' }))).toMatch(/^404/);
  expect(await status(c.dispatchWorkflow('cal', 'dirs', 'other.yml', { ref: 'main' }))).toBe('ok');
  expect((await c.listWorkflows('cal', 'dirs')).map((w) => w.path)).toEqual(['.gitea/workflows/other.yml']);
});

test("a dispatch names its run; the run title is the workflow's run-name with the inputs filled in; its link names the run id", async () => {
  await sim.createRepo('cal', 'runs', {
    files: {
      '.gitea/workflows/r.yml': 'name: r\nrun-name: "review of ${{ inputs.item }}"\non:\n  workflow_dispatch:\n    inputs:\n      item: { type: string }\n',
    },
  });
  const first = await c.dispatchWorkflow('cal', 'runs', 'r.yml', { ref: 'main', inputs: { item: '7' } });
  const runs = await c.listWorkflowRuns('cal', 'runs', { event: 'workflow_dispatch' });
  expect(runs.map((r) => [r.id, r.display_title, r.run_number])).toEqual([[first!.workflow_run_id, 'review of 7', 1]]);
  // 1.26's web route takes the id first (the number only as a fallback, or with ?by_index=1).
  expect(first!.html_url).toBe(`${sim.url}/cal/runs/actions/runs/${first!.workflow_run_id}`);
});

test("a token without a scope gets Gitea's 403, which names what is required and what the token has (checked before the body)", async () => {
  await sim.createRepo('cal', 'scope');
  const t = sim.createToken(sim.botLogin, ['write:repository', 'read:user']);
  const scoped = createGiteaClient({ baseUrl: sim.url, token: t, retries: 0 });
  expect(await status(scoped.createIssueComment('cal', 'scope', 0, ''))).toBe(
    '403 token does not have at least one of required scope(s), required=[write:issue], token scope=write:repository,read:user',
  );
  expect(await status(scoped.createCurrentUserRepo({ name: '' }))).toMatch(/^403 .*required=\[write:user\]/);
  expect(await status(scoped.editHook('cal', 'scope', 0, {}))).toMatch(/^404/);
});

test('the timeline names who added ("1") and removed ("") each label', async () => {
  await sim.createRepo('cal', 'timeline');
  const n = sim.createIssue('cal', 'timeline', { title: 't', user: 'alice' });
  sim.labelIssue('cal', 'timeline', n, ['damascus'], { by: 'alice' });
  sim.unlabel('cal', 'timeline', n, ['damascus'], { by: 'bob' });
  sim.labelIssue('cal', 'timeline', n, ['damascus'], { by: 'carol' });
  const entries = (await c.getIssueTimeline('cal', 'timeline', n)).filter((t) => t.type === 'label');
  expect(entries.map((t) => `${t.user?.login}:${t.body}:${t.label?.name}`)).toEqual(['alice:1:damascus', 'bob::damascus', 'carol:1:damascus']);
});
