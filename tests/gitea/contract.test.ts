import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';
import { SWAGGER_AVAILABLE, SWAGGER_PATH } from '../support/giteaSim/validate.js';

/**
 * Every request the client can make goes through the simulator's swagger validator: each must match an operation
 * of Gitea's spec and pass its parameter/body schemas (recorded as `operationId`), and every response the
 * simulator sent must validate against the spec (`responseViolations`).
 */
let sim: GiteaSim;
let c: GiteaClient;

beforeAll(async () => {
  sim = await startGiteaSim();
  await sim.createRepo('acme', 'app', {
    files: { 'README.md': '# app\n', '.gitea/damascus.yml': 'test: npm test\n', '.gitea/workflows/review.yml': 'on: workflow_dispatch\n' },
    wiki: { Home: 'Welcome' },
  });
  sim.addUser('alice', { permissions: { 'acme/app': 'write' } });
  c = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
});
afterAll(async () => {
  await sim.close();
});

// Without Gitea's swagger beside the repo (../shared), the simulator routes but cannot validate: say so.
const withSwagger = SWAGGER_AVAILABLE ? it : it.skip;
if (!SWAGGER_AVAILABLE) it.skip(`swagger validation skipped: ${SWAGGER_PATH} is not there`, () => {});

withSwagger('sends only requests Gitea’s swagger accepts and gets only responses it declares', async () => {
  const n = sim.createIssue('acme', 'app', { title: 'Story', body: 'do it', user: 'alice', labels: ['damascus'] });
  const head = await sim.pushToBranch('acme', 'app', 'damascus/1', { files: { 'f.txt': 'f\n' } });

  expect((await c.getVersion()).version).toBe('1.26.3');
  expect((await c.checkServer()).missing).toEqual([]);
  expect((await c.getCurrentUser()).login).toBe('damascus-bot');
  expect((await c.getRepo('acme', 'app')).default_branch).toBe('main');
  expect(
    (await c.listIssues('acme', 'app', { state: 'open', labels: ['damascus'], type: 'issues', since: '2000-01-01T00:00:00Z' })).map((i) => i.number),
  ).toEqual([n]);
  expect((await c.getIssue('acme', 'app', n)).title).toBe('Story');
  expect((await c.editIssue('acme', 'app', n, { body: 'do it well' })).body).toBe('do it well');
  const comment = await c.createIssueComment('acme', 'app', n, 'status <!-- damascus:event:1 -->');
  expect((await c.editIssueComment('acme', 'app', comment.id, 'status v2')).body).toBe('status v2');
  expect((await c.listIssueComments('acme', 'app', n)).map((x) => x.body)).toEqual(['status v2']);
  const spec = await c.createRepoLabel('acme', 'app', { name: 'damascus/spec', color: 'aabbcc', description: 'phase' });
  const build = await c.ensureRepoLabel('acme', 'app', { name: 'damascus/build', color: '#112233', description: 'phase' });
  expect((await c.listRepoLabels('acme', 'app')).map((l) => l.name).sort()).toEqual(['damascus', 'damascus/build', 'damascus/spec']);
  expect((await c.addIssueLabels('acme', 'app', n, [spec.id])).map((l) => l.name)).toEqual(['damascus', 'damascus/spec']);
  await c.removeIssueLabel('acme', 'app', n, spec.id);
  expect((await c.replaceIssueLabels('acme', 'app', n, [build.id])).map((l) => l.name)).toEqual(['damascus/build']);
  expect((await c.getIssueLabels('acme', 'app', n)).map((l) => l.name)).toEqual(['damascus/build']);

  expect(await c.findOpenPullRequest('acme', 'app', { base: 'main', head: 'damascus/1' })).toBeNull();
  const pr = await c.createPullRequest('acme', 'app', { head: 'damascus/1', base: 'main', title: 'Item 1', body: `Closes #${n}` });
  expect(pr.head.sha).toBe(head);
  expect((await c.getPullRequest('acme', 'app', pr.number)).number).toBe(pr.number);
  expect((await c.findOpenPullRequest('acme', 'app', { base: 'main', head: 'damascus/1' }))?.number).toBe(pr.number);
  expect((await c.listPullRequests('acme', 'app', { state: 'open' })).map((p) => p.number)).toEqual([pr.number]);
  expect((await c.editPullRequest('acme', 'app', pr.number, { body: 'updated' })).body).toBe('updated');
  expect(
    (await c.createCommitStatus('acme', 'app', head, { state: 'success', context: 'damascus/review', description: 'ok', target_url: 'http://x/1' })).status,
  ).toBe('success');
  const run = await c.dispatchWorkflow('acme', 'app', 'review.yml', { ref: 'main', inputs: { pr: String(pr.number) } });
  expect(sim.dispatches.at(-1)).toMatchObject({ workflow: 'review.yml', inputs: { pr: String(pr.number) } });
  expect((await c.listWorkflowRuns('acme', 'app', { event: 'workflow_dispatch' })).map((r) => r.id)).toEqual([run!.workflow_run_id]);
  expect((await c.listWorkflows('acme', 'app')).map((w) => w.name)).toEqual(['review.yml']);
  expect((await c.getIssueTimeline('acme', 'app', n)).filter((t) => t.type === 'label').map((t) => `${t.body}:${t.label?.name}`)).toEqual([
    '1:damascus',
    '1:damascus/spec',
    ':damascus/spec',
    '1:damascus/build',
    ':damascus',
  ]);
  expect(await c.listIssueComments('acme', 'app', n, { since: '2000-01-01T00:00:00Z' })).toHaveLength(1);
  expect(await c.isPullRequestMerged('acme', 'app', pr.number)).toBe(false);
  // The base moves on without conflict: the PR is behind; Gitea's update merges the base into it.
  await sim.pushToBranch('acme', 'app', 'main', { files: { 'other.txt': 'o\n' } });
  await c.updatePullRequest('acme', 'app', pr.number, 'merge');
  const updated = await c.getPullRequest('acme', 'app', pr.number);
  expect(updated.head.sha).not.toBe(head);
  await c.mergePullRequest('acme', 'app', pr.number, {
    style: 'squash',
    headCommitId: updated.head.sha,
    title: 'Item 1',
    message: 'body',
    deleteBranchAfterMerge: true,
  });
  expect(await c.isPullRequestMerged('acme', 'app', pr.number)).toBe(true);

  const file = await c.getContents('acme', 'app', '.gitea/damascus.yml');
  expect(file).toMatchObject({ type: 'file', content: 'test: npm test\n' });
  const dir = await c.getContents('acme', 'app', '.gitea', 'main');
  expect(dir?.type === 'dir' ? dir.entries.map((e) => e.name).sort() : []).toEqual(['damascus.yml', 'workflows']);
  expect(await c.getContents('acme', 'app', 'nope.txt')).toBeNull();
  expect(await c.getRawFile('acme', 'app', 'f.txt', 'main')).toBe('f\n');
  expect(await c.getRawFile('acme', 'app', 'nope.txt')).toBeNull();
  expect((await c.listWikiPages('acme', 'app')).map((p) => p.title)).toEqual(['Home']);
  expect((await c.getWikiPage('acme', 'app', 'Home'))?.content).toBe('Welcome');
  expect(await c.getCollaboratorPermission('acme', 'app', 'alice')).toBe('write');
  expect(await c.getCollaboratorPermission('acme', 'app', 'acme')).toBe('owner');
  const hook = await c.createHook('acme', 'app', {
    url: 'http://127.0.0.1:9/hook',
    secret: 's',
    events: ['issues', 'pull_request'],
    active: true,
    name: 'damascus 0123456789abcdef',
  });
  expect(hook.active).toBe(true);
  expect((await c.listHooks('acme', 'app')).map((h) => h.id)).toEqual([hook.id]);
  await c.testHook('acme', 'app', hook.id);
  await c.deleteHook('acme', 'app', hook.id);
  expect(await c.listHooks('acme', 'app')).toEqual([]);
  expect(await c.listRepoRunners('acme', 'app')).toEqual([]);
  expect((await c.createCurrentUserRepo({ name: 'damascus-action', auto_init: true, private: false })).full_name).toBe('damascus-bot/damascus-action');
  const files = await c.changeFiles('damascus-bot', 'damascus-action', {
    message: 'publish',
    files: [{ operation: 'create', path: 'action.yml', content: 'name: x\n' }],
  });
  expect(files.commit?.sha).toMatch(/^[0-9a-f]{40}$/);
  const yml = await c.getContents('damascus-bot', 'damascus-action', 'action.yml');
  await c.deleteFile('damascus-bot', 'damascus-action', 'action.yml', { sha: yml?.type === 'file' ? yml.sha : '', message: 'gone' });
  expect(await c.getContents('damascus-bot', 'damascus-action', 'action.yml')).toBeNull();
  await c.setActionsSecret('acme', 'app', 'DAMASCUS_CALLBACK_SECRET', 'v1');
  await c.setActionsSecret('acme', 'app', 'DAMASCUS_CALLBACK_SECRET', 'v2');
  expect(sim.secrets('acme', 'app').get('DAMASCUS_CALLBACK_SECRET')).toBe('v2');
  expect((await c.getBranch('acme', 'app', 'main'))?.name).toBe('main');
  expect(await c.getBranch('acme', 'app', 'damascus/1')).toBeNull(); // deleted after merge

  const unvalidated = sim.requests.filter((r) => !r.operationId);
  expect(unvalidated).toEqual([]);
  expect(new Set(sim.requests.map((r) => r.operationId))).toEqual(
    new Set([
      'getVersion',
      'userGetCurrent',
      'repoGet',
      'issueListIssues',
      'issueGetIssue',
      'issueEditIssue',
      'issueCreateComment',
      'issueEditComment',
      'issueGetComments',
      'issueCreateLabel',
      'issueListLabels',
      'issueAddLabel',
      'issueRemoveLabel',
      'issueReplaceLabels',
      'issueGetLabels',
      'repoCreatePullRequest',
      'repoGetPullRequest',
      'repoListPullRequests',
      'repoEditPullRequest',
      'repoCreateStatus',
      'ActionsDispatchWorkflow',
      'repoPullRequestIsMerged',
      'repoMergePullRequest',
      'repoGetContents',
      'repoGetRawFile',
      'repoGetWikiPages',
      'repoGetWikiPage',
      'repoGetRepoPermissions',
      'repoCreateHook',
      'repoListHooks',
      'updateRepoSecret',
      'repoGetBranch',
      'getWorkflowRuns',
      'ActionsListRepositoryWorkflows',
      'issueGetCommentsAndTimeline',
      'repoTestHook',
      'repoDeleteHook',
      'getRepoRunners',
      'createCurrentUserRepo',
      'repoChangeFiles',
      'repoDeleteFile',
      'repoUpdatePullRequest',
    ]),
  );
  expect(sim.responseViolations).toEqual([]);
});
