/** `damascus setup OWNER/REPO` — the built CLI against the simulated Gitea (npm run build first). */
import { createHmac } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createGiteaClient, type GiteaClient } from '../../src/gitea/client.js';
import { GiteaError } from '../../src/gitea/errors.js';
import { STATE_LABELS } from '../../src/gitea/labels.js';
import { renderReviewWorkflow } from '../../src/gitea/reviewWorkflow.js';
import { CALLBACK_SECRET_NAME, REVIEW_WORKFLOW_PATH, loadAppManifest, storedEvents } from '../../src/gitea/setupRepo.js';
import { deriveProjectSecret } from '../../src/signing.js';
import { damascus, type CliRun } from '../support/cli.js';
import { startGiteaSim, startWebhookReceiver, type GiteaSim } from '../support/giteaSim/index.js';

const run = promisify(execFile);
const CALLBACK_SECRET = 'callback-secret-7f3a9c';
const WEBHOOK_SECRET = 'webhook-secret-b81d42';
const EVENTS = loadAppManifest().defaultEvents;

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

const ALL_LABELS = ['damascus', ...Object.values(STATE_LABELS).map((l) => l.name)];

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
  const secrets = [sim.token, CALLBACK_SECRET, WEBHOOK_SECRET, deriveProjectSecret(CALLBACK_SECRET, 'acme/app'), deriveProjectSecret(CALLBACK_SECRET, 'acme/dry')];
  expect(outputs.length).toBeGreaterThan(5);
  for (const r of outputs) for (const s of secrets) expect(r.stdout + r.stderr).not.toContain(s);
  expect(sim.responseViolations).toEqual([]);
});

describe('damascus setup', () => {
  const actionUrl = () => `${sim.url}/damascus/damascus-action`;

  test('first run creates the workflow, secret, labels and webhook; the second changes nothing', async () => {
    const { path } = await sim.createRepo('acme', 'app', { files: { 'README.md': '# app\n' } });
    sim.createLabel('acme', 'app', { name: 'bug' });

    const first = await setup(['acme/app']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(lines(first)).toEqual([
      `created   ${REVIEW_WORKFLOW_PATH} on main`,
      `set       Actions secret ${CALLBACK_SECRET_NAME}`,
      ...ALL_LABELS.map((l) => `created   label ${l}`),
      `created   webhook ${publicUrl}/api/gitea/webhooks (${EVENTS.join(', ')})`,
      `acme/app is set up (${ALL_LABELS.length + 2} change(s))`,
    ]);

    // The workflow file is committed on the default branch, with the default Action URL and ref.
    const file = await git(path, 'show', `main:${REVIEW_WORKFLOW_PATH}`);
    expect(file).toBe(renderReviewWorkflow({ actionUrl: actionUrl(), actionRef: 'main' }));
    expect(file).toContain(`uses: ${actionUrl()}@main`);
    expect((await git(path, 'log', '-1', '--format=%s', 'main')).trim()).toBe('damascus: add review workflow');
    const tip = (await git(path, 'rev-parse', 'main')).trim();

    // The secret the Action signs with is the per-repository one.
    expect(sim.secrets('acme', 'app').get(CALLBACK_SECRET_NAME)).toBe(deriveProjectSecret(CALLBACK_SECRET, 'acme/app'));

    // Labels: the existing one kept, each Damascus label once, state labels exclusive with their colours.
    const labels = sim.labels('acme', 'app');
    expect(labels.map((l) => l.name).sort()).toEqual(['bug', ...ALL_LABELS].sort());
    const spec = labels.find((l) => l.name === STATE_LABELS.spec.name)!;
    expect({ color: spec.color, exclusive: spec.exclusive }).toEqual({ color: STATE_LABELS.spec.color, exclusive: true });

    // One active JSON hook on the webhook URL, subscribed to exactly app.yml's events (as Gitea reports them).
    const hooks = await client.listHooks('acme', 'app');
    expect(hooks).toHaveLength(1);
    expect(hooks[0]!.active).toBe(true);
    expect(hooks[0]!.config).toMatchObject({ url: `${publicUrl}/api/gitea/webhooks`, content_type: 'json' });
    expect([...hooks[0]!.events].sort()).toEqual(storedEvents(EVENTS));

    // Deliveries are signed with DAMASCUS_WEBHOOK_SECRET; a subscribed event arrives, an unsubscribed one does not.
    const n = sim.createIssue('acme', 'app', { title: 'story', user: 'alice', labels: ['damascus'] });
    sim.comment('acme', 'app', n, 'hello', { by: 'alice' });
    await sim.waitForDeliveries();
    const types = receiver.received.map((w) => w.headers['x-gitea-event-type']);
    expect(types).toEqual(['issues', 'issue_label', 'issue_comment']);
    for (const w of receiver.received) {
      expect(w.headers['x-gitea-signature']).toBe(createHmac('sha256', WEBHOOK_SECRET).update(w.body).digest('hex'));
    }

    // Second run: everything unchanged, and the only write is the (unreadable, so always written) secret.
    const before = sim.requests.length;
    const second = await setup(['acme/app']);
    expect(second.code).toBe(0);
    expect(lines(second)).toEqual([
      `unchanged ${REVIEW_WORKFLOW_PATH} on main`,
      `set       Actions secret ${CALLBACK_SECRET_NAME}`,
      ...ALL_LABELS.map((l) => `unchanged label ${l}`),
      `unchanged webhook ${publicUrl}/api/gitea/webhooks (${EVENTS.join(', ')})`,
      'acme/app was already set up; nothing changed',
    ]);
    const writes = sim.requests.slice(before).filter((r) => r.method !== 'GET');
    expect(writes.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([`PUT /repos/acme/app/actions/secrets/${CALLBACK_SECRET_NAME} 204`]);
    expect((await git(path, 'rev-parse', 'main')).trim()).toBe(tip);
    expect((await client.listHooks('acme', 'app')).map((h) => h.id)).toEqual([hooks[0]!.id]);
    expect(sim.labels('acme', 'app')).toHaveLength(ALL_LABELS.length + 1);
  });

  test('drift is repaired in place: a changed workflow file is updated, a disabled hook re-enabled with the right events', async () => {
    const { path } = await sim.createRepo('acme', 'drift', { defaultBranch: 'trunk' });
    expect((await setup(['acme/drift', '--action-ref', 'v1'])).code).toBe(0);
    const [hook] = await client.listHooks('acme', 'drift');
    await sim.pushToBranch('acme', 'drift', 'trunk', { files: { [REVIEW_WORKFLOW_PATH]: 'name: edited by hand\n' }, by: 'acme' });
    await client.editHook('acme', 'drift', hook!.id, { events: ['push'], active: false });

    const again = await setup(['acme/drift', '--action-ref', 'v2', '--action-url', 'https://git.example.com/tools/review-action/']);
    expect(again.code).toBe(0);
    expect(lines(again)[0]).toBe(`updated   ${REVIEW_WORKFLOW_PATH} on trunk`);
    expect(lines(again)).toContain(`updated   webhook ${publicUrl}/api/gitea/webhooks (${EVENTS.join(', ')})`);
    expect(lines(again).filter((l) => l.startsWith('created'))).toEqual([]);

    expect(await git(path, 'show', `trunk:${REVIEW_WORKFLOW_PATH}`)).toBe(
      renderReviewWorkflow({ actionUrl: 'https://git.example.com/tools/review-action', actionRef: 'v2' }),
    );
    expect((await git(path, 'log', '-1', '--format=%s', 'trunk')).trim()).toBe('damascus: update review workflow');
    const hooks = await client.listHooks('acme', 'drift');
    expect(hooks.map((h) => h.id)).toEqual([hook!.id]);
    expect(hooks[0]!.active).toBe(true);
    expect([...hooks[0]!.events].sort()).toEqual(storedEvents(EVENTS));
  });

  test('--dry-run reports what would change and writes nothing', async () => {
    const { path, headSha } = await sim.createRepo('acme', 'dry');
    const before = sim.requests.length;
    const r = await setup(['acme/dry', '--dry-run']);
    expect(r.code).toBe(0);
    expect(lines(r)).toEqual([
      `would create ${REVIEW_WORKFLOW_PATH} on main`,
      `would set    Actions secret ${CALLBACK_SECRET_NAME}`,
      ...ALL_LABELS.map((l) => `would create label ${l}`),
      `would create webhook ${publicUrl}/api/gitea/webhooks (${EVENTS.join(', ')})`,
      `dry run: ${ALL_LABELS.length + 2} change(s) would be made in acme/dry`,
    ]);
    expect(sim.requests.slice(before).filter((q) => q.method !== 'GET')).toEqual([]);
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

    const badRef = await setup(['acme/app', '--action-ref', 'main; rm -rf /']);
    expect(badRef.code).toBe(2);
    expect(badRef.stderr.split('\n').filter(Boolean)).toHaveLength(1);

    expect(sim.requests.length).toBe(before);
  });

  test('Gitea errors: one line naming the step, exit 1; earlier steps are reported', async () => {
    await sim.createRepo('acme', 'refused');
    sim.faults.add({ method: 'POST', path: '/repos/acme/refused/hooks', status: 409, body: { message: 'hook limit reached', url: '/api/swagger' } });
    const r = await setup(['acme/refused']);
    sim.faults.clear();
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `damascus: create webhook ${publicUrl}/api/gitea/webhooks: Gitea POST /repos/acme/refused/hooks → 409: hook limit reached\n`,
    );
    expect(lines(r)[0]).toBe(`created   ${REVIEW_WORKFLOW_PATH} on main`);

    await sim.createRepo('acme', 'readonly', { botPermission: 'write' });
    const ro = await setup(['acme/readonly']);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toMatch(/^damascus: check permissions on acme\/readonly: .*admin.*\n$/);
    expect(sim.labels('acme', 'readonly')).toEqual([]);

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
});
