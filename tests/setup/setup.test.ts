/** `damascus setup OWNER/REPO` — the built CLI against the simulated Gitea (npm run build first). */
import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { GiteaError } from '../../src/gitea/errors.js';
import { STATE_LABELS } from '../../src/gitea/labels.js';
import { renderReviewWorkflow, REVIEW_WORKFLOW_FILE } from '../../src/gitea/reviewWorkflow.js';
import {
  ACTION_REPO_NAME,
  bundledActionFiles,
  CALLBACK_SECRET_NAME,
  hookIsCurrent,
  loadAppManifest,
  storedEvents,
  WEBHOOK_TEST_BRANCH,
  webhookName,
} from '../../src/setup/setupRepo.js';
import { deriveProjectSecret, deriveWebhookSecret } from '../../src/shared/signing.js';
import { damascus, ROOT, type CliRun } from '../support/cli.js';
import { startGiteaSim, startWebhookReceiver, type GiteaSim } from '../support/giteaSim/index.js';
import { HOOK_SUBSCRIPTIONS } from '../support/giteaSim/webhooks.js';

const run = promisify(execFile);
const CALLBACK_SECRET = 'callback-secret-7f3a9c';
const WEBHOOK_SECRET = 'webhook-secret-b81d42';
const EVENTS = loadAppManifest().defaultEvents;
const WORKFLOW = `.gitea/workflows/${REVIEW_WORKFLOW_FILE}`;

let sim: GiteaSim;
let client: GiteaClient;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let publicUrl: string;
const outputs: CliRun[] = [];

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    GITEA_URL: sim.url,
    GITEA_TOKEN: sim.token,
    DAMASCUS_CALLBACK_SECRET: CALLBACK_SECRET,
    DAMASCUS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    DAMASCUS_PUBLIC_URL: publicUrl,
    DAMASCUS_TRIGGER_LABEL: 'damascus',
    DAMASCUS_RUNS_ON: 'damascus',
    ...extra,
  };
}

async function setup(args: string[], extra: Record<string, string | undefined> = {}): Promise<CliRun> {
  const r = await damascus(['setup', ...args], env(extra));
  outputs.push(r);
  return r;
}

async function git(repoPath: string, ...args: string[]): Promise<string> {
  return (await run('git', ['--git-dir', repoPath, ...args])).stdout;
}

function lines(r: CliRun): string[] {
  return r.stdout.trim().split('\n');
}

const writes = (since: number) =>
  sim.requests
    .slice(since)
    .filter((r) => r.method !== 'GET')
    .map((r) => `${r.method} ${r.path} ${r.status}`);
const ALL_LABELS = ['damascus', ...Object.values(STATE_LABELS).map((l) => l.name)];
const hookLine = () => `webhook ${publicUrl}/api/gitea/webhooks (${EVENTS.join(', ')})`;
const actionUrl = () => `${sim.url}/${sim.botLogin}/${ACTION_REPO_NAME}`;
const actionHead = async () => (await git(sim.repoPath(sim.botLogin, ACTION_REPO_NAME), 'rev-parse', 'main')).trim();

beforeAll(async () => {
  sim = await startGiteaSim();
  client = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
  receiver = await startWebhookReceiver();
  publicUrl = receiver.url.replace(/\/hook$/, '');
});

afterAll(async () => {
  await sim.close();
  await receiver.close();
  // No run, of any kind, printed a token or a secret.
  const secrets = [
    sim.token,
    CALLBACK_SECRET,
    WEBHOOK_SECRET,
    deriveProjectSecret(CALLBACK_SECRET, 'acme/app'),
    deriveProjectSecret(CALLBACK_SECRET, 'acme/dry'),
    deriveWebhookSecret(WEBHOOK_SECRET, 'acme/app'),
  ];
  expect(outputs.length).toBeGreaterThan(5);
  for (const r of outputs) for (const s of secrets) expect(r.stdout + r.stderr).not.toContain(s);
  expect(sim.responseViolations).toEqual([]);
});

describe('damascus setup', () => {
  test('first run publishes the Action and creates the secret, labels, webhook and, last, the workflow; the second changes nothing', async () => {
    const { path } = await sim.createRepo('acme', 'app', { files: { 'README.md': '# app\n' } });
    sim.createLabel('acme', 'app', { name: 'bug' });

    const first = await setup(['acme/app']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const published = await actionHead();
    expect(lines(first)).toEqual([
      `created   Action ${actionUrl()}@${published.slice(0, 12)}`,
      `set       Actions secret ${CALLBACK_SECRET_NAME}`,
      ...ALL_LABELS.map((l) => `created   label ${l}`),
      `created   ${hookLine()}`,
      `created   ${WORKFLOW} on main`,
      `acme/app is set up (${ALL_LABELS.length + 3} change(s))`,
    ]);

    // The Action is the bundle this package ships, in a public repo of the bot's, and the workflow pins its commit.
    const actionRepo = sim.repoPath(sim.botLogin, ACTION_REPO_NAME);
    for (const f of bundledActionFiles()) expect([f.path, await git(actionRepo, 'show', `main:${f.path}`)]).toEqual([f.path, f.content]);
    expect((await client.getRepo(sim.botLogin, ACTION_REPO_NAME)).private).toBe(false);
    const file = await git(path, 'show', `main:${WORKFLOW}`);
    expect(file).toBe(renderReviewWorkflow({ actionUrl: actionUrl(), actionRef: published, runsOn: 'damascus' }));
    expect(file).toContain(`uses: ${actionUrl()}@${published}`);
    expect(published).toMatch(/^[0-9a-f]{40}$/);
    expect((await git(path, 'log', '-1', '--format=%s', 'main')).trim()).toBe('damascus: add review workflow');
    const tip = (await git(path, 'rev-parse', 'main')).trim();

    // The secret the Action signs with is the per-repository one.
    expect(sim.secrets('acme', 'app').get(CALLBACK_SECRET_NAME)).toBe(deriveProjectSecret(CALLBACK_SECRET, 'acme/app'));

    // Labels: the existing one kept, each Damascus label once, state labels exclusive with their colours.
    const labels = sim.labels('acme', 'app');
    expect(labels.map((l) => l.name).sort()).toEqual(['bug', ...ALL_LABELS].sort());
    const spec = labels.find((l) => l.name === STATE_LABELS.spec.name)!;
    expect({ color: spec.color, exclusive: spec.exclusive }).toEqual({ color: STATE_LABELS.spec.color, exclusive: true });

    // One active JSON hook on the webhook URL, subscribed to exactly app.yml's events, named for its secret.
    const hooks = await client.listHooks('acme', 'app');
    expect(hooks).toHaveLength(1);
    const appSecret = deriveWebhookSecret(WEBHOOK_SECRET, 'acme/app');
    expect(hooks[0]).toMatchObject({ active: true, name: webhookName(appSecret) });
    expect(hooks[0]!.name).not.toContain(appSecret);
    expect(hooks[0]!.config).toMatchObject({ url: `${publicUrl}/api/gitea/webhooks`, content_type: 'json' });
    expect([...hooks[0]!.events].sort()).toEqual(storedEvents(EVENTS));

    // Deliveries are signed with acme/app's own secret (derived from DAMASCUS_WEBHOOK_SECRET, never it itself); a
    // subscribed event arrives, an unsubscribed one does not.
    const n = sim.createIssue('acme', 'app', { title: 'story', user: 'alice', labels: ['damascus'] });
    sim.comment('acme', 'app', n, 'hello', { by: 'alice' });
    await sim.waitForDeliveries();
    const types = receiver.received.map((w) => w.headers['x-gitea-event-type']);
    expect(types).toEqual(['issues', 'issue_label', 'issue_comment']);
    for (const w of receiver.received) {
      expect(w.headers['x-gitea-signature']).toBe(createHmac('sha256', appSecret).update(w.body).digest('hex'));
      expect(w.headers['x-gitea-signature']).not.toBe(createHmac('sha256', WEBHOOK_SECRET).update(w.body).digest('hex'));
    }

    // Second run: everything unchanged, and the only write is the (unreadable, so always written) secret.
    const before = sim.requests.length;
    const second = await setup(['acme/app']);
    expect(second.code).toBe(0);
    expect(lines(second)).toEqual([
      `unchanged Action ${actionUrl()}@${published.slice(0, 12)}`,
      `set       Actions secret ${CALLBACK_SECRET_NAME}`,
      ...ALL_LABELS.map((l) => `unchanged label ${l}`),
      `unchanged ${hookLine()}`,
      `unchanged ${WORKFLOW} on main`,
      'acme/app was already set up; nothing changed',
    ]);
    // (the scope probes are writes that can change nothing: a comment on issue 0, an edit of hook 0)
    expect(writes(before).filter((w) => !/\/issues\/0\/comments 422|\/hooks\/0 404/.test(w))).toEqual([
      `PUT /repos/acme/app/actions/secrets/${CALLBACK_SECRET_NAME} 204`,
    ]);
    expect((await git(path, 'rev-parse', 'main')).trim()).toBe(tip);
    expect(await actionHead()).toBe(published);
    expect((await client.listHooks('acme', 'app')).map((h) => h.id)).toEqual([hooks[0]!.id]);
    expect(sim.labels('acme', 'app')).toHaveLength(ALL_LABELS.length + 1);
  });

  test('a rotated webhook secret or a hand-made hook is replaced (Gitea ignores a secret sent in an edit), and deliveries verify again', async () => {
    await sim.createRepo('acme', 'rotate');
    // A hook made by hand on Damascus's URL, with a secret nobody knows any more.
    sim.addWebhook('acme', 'rotate', { url: `${publicUrl}/api/gitea/webhooks`, secret: 'forgotten', events: ['issues'] });
    const first = await setup(['acme/rotate']);
    expect(first.code).toBe(0);
    expect(lines(first)).toContain(`replaced  ${hookLine()}`);
    const rotated = 'webhook-secret-rotated-2';
    const again = await setup(['acme/rotate'], { DAMASCUS_WEBHOOK_SECRET: rotated });
    expect(again.code).toBe(0);
    expect(lines(again)).toContain(`replaced  ${hookLine()}`);
    const hooks = await client.listHooks('acme', 'rotate');
    const rotateSecret = deriveWebhookSecret(rotated, 'acme/rotate');
    expect(hooks.map((h) => h.name)).toEqual([webhookName(rotateSecret)]);
    receiver.received.length = 0;
    sim.createIssue('acme', 'rotate', { title: 'after the rotation', user: 'alice' });
    await sim.waitForDeliveries();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.headers['x-gitea-signature']).toBe(createHmac('sha256', rotateSecret).update(receiver.received[0]!.body).digest('hex'));
  });

  test('a disabled hook and a hand-edited workflow are repaired; an Action given by URL and ref is used as is', async () => {
    const { path } = await sim.createRepo('acme', 'drift', { defaultBranch: 'trunk' });
    expect((await setup(['acme/drift', '--action-url', 'https://git.example.com/tools/review-action', '--action-ref', 'v1'])).code).toBe(0);
    const [hook] = await client.listHooks('acme', 'drift');
    await sim.pushToBranch('acme', 'drift', 'trunk', { files: { [WORKFLOW]: 'name: edited by hand\n' }, by: 'acme' });
    await client.editHook('acme', 'drift', hook!.id, { events: ['push'], active: false });

    const again = await setup(['acme/drift', '--action-ref', 'v2', '--action-url', 'https://git.example.com/tools/review-action/']);
    expect(again.code).toBe(0);
    expect(lines(again)).toContain(`updated   ${WORKFLOW} on trunk`);
    expect(lines(again)).toContain(`replaced  ${hookLine()}`);
    expect(lines(again).filter((l) => l.startsWith('created'))).toEqual([]);
    expect(await git(path, 'show', `trunk:${WORKFLOW}`)).toBe(
      renderReviewWorkflow({ actionUrl: 'https://git.example.com/tools/review-action', actionRef: 'v2', runsOn: 'damascus' }),
    );
    const hooks = await client.listHooks('acme', 'drift');
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.active).toBe(true);
    expect([...hooks[0]!.events].sort()).toEqual(storedEvents(EVENTS));
  });

  test('a repo whose CI lives in .github/workflows gets the review workflow there: creating .gitea/workflows would switch that CI off', async () => {
    const { path } = await sim.createRepo('acme', 'ghci', { files: { '.github/workflows/ci.yml': 'on: push\njobs: {}\n' } });
    const r = await setup(['acme/ghci']);
    expect(r.code).toBe(0);
    expect(lines(r)).toContain(`created   .github/workflows/${REVIEW_WORKFLOW_FILE} on main`);
    expect((await git(path, 'ls-tree', '-r', '--name-only', 'main')).split('\n').filter((f) => f.includes('workflows'))).toEqual([
      '.github/workflows/ci.yml',
      `.github/workflows/${REVIEW_WORKFLOW_FILE}`,
    ]);
    // Gitea sees both workflows (it reads one folder only), and dispatching the review finds it.
    expect((await client.listWorkflows('acme', 'ghci')).map((w) => w.path).sort()).toEqual([
      '.github/workflows/ci.yml',
      `.github/workflows/${REVIEW_WORKFLOW_FILE}`,
    ]);
  });

  test('a review workflow an older setup left alone in .gitea/workflows beside .github/workflows is moved, freeing the CI', async () => {
    const { path } = await sim.createRepo('acme', 'stranded', { files: { '.github/workflows/ci.yml': 'on: push\njobs: {}\n', [WORKFLOW]: 'name: old\n' } });
    const r = await setup(['acme/stranded']);
    expect(r.code).toBe(0);
    expect(lines(r)).toContain(`created   .github/workflows/${REVIEW_WORKFLOW_FILE} on main`);
    expect(lines(r)).toContain(`moved     ${WORKFLOW} away (it hid .github/workflows from Gitea)`);
    expect((await git(path, 'ls-tree', '-r', '--name-only', 'main')).split('\n').filter((f) => f.includes('workflows'))).toEqual([
      '.github/workflows/ci.yml',
      `.github/workflows/${REVIEW_WORKFLOW_FILE}`,
    ]);
  });

  test('more than 50 labels (Gitea sends no Link header for labels): none is created twice', async () => {
    await sim.createRepo('acme', 'manylabels');
    for (let i = 0; i < 60; i++) sim.createLabel('acme', 'manylabels', { name: `area/${String(i).padStart(2, '0')}` });
    // Sorted by name, the Damascus labels come after `area/…`: on the second page.
    expect((await setup(['acme/manylabels'])).code).toBe(0);
    expect((await setup(['acme/manylabels'])).code).toBe(0);
    for (const name of ALL_LABELS) expect([name, sim.labels('acme', 'manylabels').filter((l) => l.name === name).length]).toEqual([name, 1]);
  });

  test('without owner rights (an admin collaborator cannot set Actions secrets) nothing is written, and the error says what to grant', async () => {
    await sim.createRepo('acme', 'adminonly', { botPermission: 'admin' });
    const before = sim.requests.length;
    const r = await setup(['acme/adminonly']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^damascus: check what setup needs on acme\/adminonly: damascus-bot has "admin" rights .* only the repository's owner set Actions secrets: make damascus-bot own the repository, a site admin, or a member of an org team with admin access/,
    );
    expect(writes(before).filter((w) => !/ 40[34]$| 422$/.test(w))).toEqual([]);
    expect(sim.labels('acme', 'adminonly')).toEqual([]);
    expect(sim.secrets('acme', 'adminonly').size).toBe(0);
    expect(await client.listHooks('acme', 'adminonly')).toEqual([]);
  });

  test('a token without the scopes setup needs: every missing one named, nothing written', async () => {
    await sim.createRepo('acme', 'scoped');
    const token = sim.createToken(sim.botLogin, ['read:user', 'write:repository']);
    const before = sim.requests.length;
    const r = await setup(['acme/scoped'], { GITEA_TOKEN: token });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the token lacks write:issue (it has write:repository,read:user)');
    expect(writes(before).filter((w) => !/ 40[34]$| 422$/.test(w))).toEqual([]);
    expect(r.stdout + r.stderr).not.toContain(token);
  });

  test('the Action repo is missing and the token may not create it (no write:user): setup says how to go on and writes nothing', async () => {
    const other = await startGiteaSim({ botScopes: ['write:repository', 'write:issue', 'read:user'] });
    try {
      await other.createRepo('acme', 'app');
      const r = await damascus(['setup', 'acme/app'], { ...env(), GITEA_URL: other.url, GITEA_TOKEN: other.token });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /damascus-bot\/damascus-action does not exist and the token lacks write:user .*create that repository \(public, empty is fine\), give the token write:user, or pass --action-url and --action-ref/,
      );
      expect(other.labels('acme', 'app')).toEqual([]);
      expect(other.requests.filter((q) => q.method !== 'GET' && q.status !== null && q.status < 400)).toEqual([]);
    } finally {
      await other.close();
    }
  });

  test('an answer lost after Gitea made the webhook (a timeout): no second hook', async () => {
    await sim.createRepo('acme', 'lost');
    sim.faults.add({ method: 'POST', path: '/repos/acme/lost/hooks', applied: true, status: 502, times: 1 });
    const r = await setup(['acme/lost']);
    sim.faults.clear();
    expect(r.code).toBe(0);
    expect(await client.listHooks('acme', 'lost')).toHaveLength(1);
  });

  test('--dry-run reports what would change and writes nothing', async () => {
    const { path, headSha } = await sim.createRepo('acme', 'dry');
    const before = sim.requests.length;
    const r = await setup(['acme/dry', '--dry-run']);
    expect(r.code).toBe(0);
    expect(lines(r)).toEqual([
      `unchanged    Action ${actionUrl()}@${(await actionHead()).slice(0, 12)}`,
      `would set    Actions secret ${CALLBACK_SECRET_NAME}`,
      ...ALL_LABELS.map((l) => `would create label ${l}`),
      `would create ${hookLine()}`,
      `would create ${WORKFLOW} on main`,
      `dry run: ${ALL_LABELS.length + 2} change(s) would be made in acme/dry`,
    ]);
    expect(writes(before).filter((w) => !/\/issues\/0\/comments 422|\/hooks\/0 404/.test(w))).toEqual([]);
    expect((await git(path, 'rev-parse', 'main')).trim()).toBe(headSha);
    expect(sim.labels('acme', 'dry')).toEqual([]);
    expect(sim.secrets('acme', 'dry').size).toBe(0);
  });

  test('missing settings and bad arguments: one line, exit 2, nothing sent to Gitea', async () => {
    const before = sim.requests.length;
    const noSecrets = await setup(['acme/app'], { DAMASCUS_CALLBACK_SECRET: '', DAMASCUS_WEBHOOK_SECRET: '', GITEA_TOKEN: '' });
    expect(noSecrets.code).toBe(2);
    expect(noSecrets.stderr).toBe('damascus: GITEA_TOKEN, DAMASCUS_CALLBACK_SECRET, DAMASCUS_WEBHOOK_SECRET must be set\n');

    const noPublic = await setup(['acme/app'], { DAMASCUS_PUBLIC_URL: '' });
    expect(noPublic.code).toBe(2);
    expect(noPublic.stderr).toMatch(/^damascus: .*DAMASCUS_PUBLIC_URL.*--public-url\n$/);

    const credsInUrl = await setup(['acme/app', '--public-url', 'https://user:pa55word@damascus.example.com']);
    expect(credsInUrl.code).toBe(2);
    expect(credsInUrl.stderr).not.toContain('pa55word');

    const badRepo = await setup(['acme']);
    expect(badRepo.code).toBe(2);
    expect(badRepo.stderr).toMatch(/^damascus: expected OWNER\/REPO/);

    const badRef = await setup(['acme/app', '--action-url', 'https://git.example.com/a/b', '--action-ref', 'main; rm -rf /']);
    expect(badRef.code).toBe(2);
    expect(badRef.stderr.split('\n').filter(Boolean)).toHaveLength(1);

    const halfAction = await setup(['acme/app', '--action-ref', 'v1']);
    expect(halfAction.code).toBe(2);
    expect(halfAction.stderr).toMatch(/--action-url and --action-ref go together/);

    const badLabel = await setup(['acme/app', '--runs-on', 'ubuntu latest']);
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toMatch(/--runs-on: runsOn must be a runner label/);

    expect(sim.requests.length).toBe(before);
  });

  test('Gitea errors: one line naming the step, exit 1; a half-done setup has no workflow yet and a second run resumes', async () => {
    const { path } = await sim.createRepo('acme', 'refused');
    sim.faults.add({ method: 'POST', path: '/repos/acme/refused/hooks', status: 409, body: { message: 'hook limit reached', url: '/api/swagger' } });
    const r = await setup(['acme/refused']);
    sim.faults.clear();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`damascus: create webhook ${publicUrl}/api/gitea/webhooks: Gitea POST /repos/acme/refused/hooks → 409: hook limit reached\n`);
    expect(lines(r)).toContain(`set       Actions secret ${CALLBACK_SECRET_NAME}`);
    // The workflow is written last: never a workflow without its webhook.
    expect(await git(path, 'ls-tree', '-r', '--name-only', 'main')).not.toContain(REVIEW_WORKFLOW_FILE);
    const resumed = await setup(['acme/refused']);
    expect(resumed.code).toBe(0);
    expect(lines(resumed)).toContain(`created   ${WORKFLOW} on main`);

    const missing = await setup(['acme/nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^damascus: read repository acme\/nope: Gitea GET \/repos\/acme\/nope → 404/);
  });
});

describe('contents API in the simulator (what setup relies on)', () => {
  test('create refuses an existing file; update needs the current blob sha', async () => {
    const { path } = await sim.createRepo('acme', 'files', { files: { 'a.txt': 'one\n' } });
    await expect(client.createFile('acme', 'files', 'a.txt', { content: 'two\n', message: 'x' })).rejects.toMatchObject({ status: 422 });
    const current = await client.getContents('acme', 'files', 'a.txt');
    if (current?.type !== 'file') throw new Error('expected a file');
    const updated = await client.updateFile('acme', 'files', 'a.txt', { content: 'two\n', sha: current.sha, message: 'second' });
    expect(updated.commit?.message?.trim()).toBe('second');
    expect(await git(path, 'show', 'main:a.txt')).toBe('two\n');
    const err = await client.updateFile('acme', 'files', 'a.txt', { content: 'three\n', sha: current.sha, message: 'third' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GiteaError);
    expect((err as GiteaError).status).toBe(422);
    expect(await git(path, 'show', 'main:a.txt')).toBe('two\n');
  });
});

describe('storedEvents', () => {
  test('maps subscription names to what Gitea reports back', () => {
    expect(storedEvents(['pull_request_only', 'issues_only', 'issue_label'])).toEqual(['issue_label', 'issues', 'pull_request']);
    expect(storedEvents(['issues'])).toEqual(['issue_assign', 'issue_comment', 'issue_label', 'issue_milestone', 'issues']);
  });

  test("app.yml's events are what the real Gitea 1.26.3 reported back for setup's hook", () => {
    const capture = JSON.parse(readFileSync(join(ROOT, 'tests/fixtures/gitea-1.26.3/api/POST_repos_o_r_hooks_201.json'), 'utf8')) as {
      body: { events: string[] };
    };
    expect(storedEvents(EVENTS)).toEqual([...capture.body.events].sort());
  });

  // Every subscription name Gitea takes. The simulator stores each from what it turns on, not from setup's table,
  // and tests/gitea/captures.test.ts holds that to a real hook.

  test('a hook subscribed to any one of them is current as the simulated Gitea reports it back', async () => {
    await sim.createRepo('acme', 'subscriptions');
    for (const name of HOOK_SUBSCRIPTIONS) {
      await client.createHook('acme', 'subscriptions', {
        url: 'http://127.0.0.1:9/hook',
        secret: 's',
        events: [name],
        active: true,
        name,
        branchFilter: WEBHOOK_TEST_BRANCH,
      });
    }
    const hooks = await client.listHooks('acme', 'subscriptions');
    expect(hooks.map((h) => h.name).sort()).toEqual([...HOOK_SUBSCRIPTIONS].sort());
    expect(hooks.filter((h) => !hookIsCurrent(h, [h.name ?? ''], h.name ?? '')).map((h) => `${h.name}: ${h.events.join(', ')}`)).toEqual([]);
  });
});
