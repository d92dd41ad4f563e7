/**
 * `damascus doctor` — the built CLI (npm run build first) against the simulated Gitea, with a serve stand-in: the real
 * webhook route and /healthz, /metrics in this process, on 127.0.0.1.
 */
import { join } from 'node:path';
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import { createGiteaClient } from '../../src/gitea/client.js';
import { runDoctor, type DoctorCheck, type DoctorGitea } from '../../src/setup/doctor.js';
import { REVIEW_WORKFLOW_FILE } from '../../src/gitea/reviewWorkflow.js';
import { loadAppManifest } from '../../src/setup/setupRepo.js';
import { healthRoutes } from '../../src/http/health.js';
import { createHttpServer, listen } from '../../src/http/server.js';
import { webhookRoute } from '../../src/http/webhooks.js';
import { createLogger } from '../../src/shared/log.js';
import { createMetrics } from '../../src/shared/metrics.js';
import { deriveProjectSecret } from '../../src/shared/signing.js';
import { damascus, type CliRun } from '../support/cli.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';

const CALLBACK_SECRET = 'doctor-callback-secret-51c0e2';
const WEBHOOK_SECRET = 'doctor-webhook-secret-9a7d33';
const OTHER_SECRET = 'doctor-webhook-secret-rotated-64be0f';
const CHECK_NAMES = [
  'settings',
  'agent sandbox',
  'coding agent',
  'gitea reachable',
  'token user',
  'token scopes',
  'setup rights',
  'actions enabled',
  'review workflow',
  'action readable',
  'runner online',
  'webhook',
  'test delivery',
  'public URL',
];

let sim: GiteaSim;
let db: TestDb;
let serve: Server;
let publicUrl: string;
const outputs: CliRun[] = [];
const tokens: string[] = [];

const NODE_BIN = join(process.cwd(), 'node_modules', '.bin');
const AGENT_KEY = 'sk-ant-doctor-test-key-0123456789';

function env(extra: Record<string, string | undefined> = {}, giteaSim: GiteaSim = sim): Record<string, string | undefined> {
  return {
    GITEA_URL: giteaSim.url,
    GITEA_TOKEN: giteaSim.token,
    DAMASCUS_CALLBACK_SECRET: CALLBACK_SECRET,
    DAMASCUS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    DAMASCUS_PUBLIC_URL: publicUrl,
    DAMASCUS_TRIGGER_LABEL: 'damascus',
    DAMASCUS_RUNS_ON: 'damascus',
    // The default builder, Claude Code, from the project's own install, with a credential.
    PATH: `${NODE_BIN}:${process.env.PATH ?? ''}`,
    ANTHROPIC_API_KEY: AGENT_KEY,
    ...extra,
  };
}

async function cli(args: string[], extra: Record<string, string | undefined> = {}, giteaSim: GiteaSim = sim): Promise<CliRun> {
  const r = await damascus(args, env(extra, giteaSim));
  outputs.push(r);
  return r;
}

const doctor = (args: string[], extra: Record<string, string | undefined> = {}, giteaSim: GiteaSim = sim) =>
  cli(['doctor', ...args, '--delivery-wait', '5'], extra, giteaSim);

async function setup(repo: string, extra: Record<string, string | undefined> = {}, giteaSim: GiteaSim = sim): Promise<void> {
  const r = await cli(['setup', repo], extra, giteaSim);
  expect([r.code, r.stderr]).toEqual([0, '']);
}

/** The check lines of a text report, by check name: `[status word, detail]`. */
function report(r: CliRun): Map<string, [string, string]> {
  const lines = r.stdout.trim().split('\n');
  const checks = new Map<string, [string, string]>();
  for (const line of lines.slice(0, -1)) {
    const m = /^(ok|FAIL|warn|skip) +([a-zA-Z ]+): (.*)$/.exec(line);
    if (!m) throw new Error(`not a check line: ${line}`);
    checks.set(m[2]!, [m[1]!, m[3]!]);
  }
  expect([...checks.keys()]).toEqual(CHECK_NAMES);
  return checks;
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)));
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  sim = await startGiteaSim();
  db = await createTestDb();
  const metrics = createMetrics();
  const log = createLogger('silent');
  serve = createHttpServer(
    [
      ...healthRoutes([], metrics),
      webhookRoute({ sql: db.sql, secret: WEBHOOK_SECRET, triggerLabel: 'damascus', botLogin: () => sim.botLogin, log, metrics, afterCommit: async () => {} }),
    ],
    log,
  );
  publicUrl = `http://127.0.0.1:${await listen(serve, 0, '127.0.0.1')}`;
});

afterAll(async () => {
  await sim.close();
  await new Promise((resolve) => serve.close(resolve));
  await db.drop();
  // No run, of any kind, printed a token or a secret.
  const secrets = [sim.token, ...tokens, AGENT_KEY, CALLBACK_SECRET, WEBHOOK_SECRET, OTHER_SECRET, deriveProjectSecret(CALLBACK_SECRET, 'acme/app')];
  expect(outputs.length).toBeGreaterThan(10);
  for (const r of outputs) for (const s of secrets) expect(r.stdout + r.stderr).not.toContain(s);
  expect(sim.responseViolations).toEqual([]);
});

describe('damascus doctor', () => {
  test('a healthy installation: every check ok, exit 0; --json says the same as one document', async () => {
    await sim.createRepo('acme', 'app', { files: { 'README.md': '# app\n' } });
    await setup('acme/app');
    sim.addRunner({ name: 'r1', labels: ['damascus'], status: 'online', scope: { kind: 'repo', repo: 'acme/app' } });

    const before = sim.requests.length;
    const r = await doctor(['acme/app']);
    expect(r.stderr).toBe('');
    const checks = report(r);
    expect([...checks].filter(([, [word]]) => word !== 'ok')).toEqual([]);
    expect(r.stdout.trim().split('\n').pop()).toBe('14 checks: 14 ok, 0 failed, 0 warnings');
    expect(r.code).toBe(0);
    expect(checks.get('token user')![1]).toBe(`the token is ${sim.botLogin}'s (site admin: no)`);
    expect(checks.get('review workflow')![1]).toMatch(
      new RegExp(`^\\.gitea/workflows/${REVIEW_WORKFLOW_FILE} on main: runs-on damascus, uses ${sim.url}/${sim.botLogin}/damascus-action@[0-9a-f]{40}$`),
    );
    expect(checks.get('runner online')![1]).toMatch(/^r1 \(online\) in the repo acme\/app runners has label damascus/);
    expect(checks.get('test delivery')![1]).toBe('a test delivery arrived and its signature verified');
    // The hook test is the only write that took effect (the scope probes target an issue and a hook that cannot exist).
    const [hook] = await createGiteaClient({ baseUrl: sim.url, token: sim.token }).listHooks('acme', 'app');
    const writes = sim.requests.slice(before).filter((q) => q.method !== 'GET' && q.status !== null && q.status < 400);
    expect(writes.map((q) => `${q.method} ${q.path}`)).toEqual([`POST /repos/acme/app/hooks/${hook!.id}/tests`]);

    const json = await cli(['doctor', 'acme/app', '--json', '--delivery-wait', '5']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as DoctorCheck[];
    expect(doc.map((c) => [c.check, c.status])).toEqual(CHECK_NAMES.map((n) => [n, 'ok']));
    expect(doc.every((c) => typeof c.detail === 'string' && c.detail.length > 0)).toBe(true);
  });

  test('a hook made with another secret: the webhook check says its secret may differ, and the test delivery does not verify (exit 1)', async () => {
    await sim.createRepo('acme', 'wrong');
    await setup('acme/wrong', { DAMASCUS_WEBHOOK_SECRET: OTHER_SECRET });
    const r = await doctor(['acme/wrong']);
    expect(r.code).toBe(1);
    const checks = report(r);
    expect(checks.get('webhook')).toEqual([
      'FAIL',
      expect.stringMatching(
        /its secret may differ from DAMASCUS_WEBHOOK_SECRET; Gitea never shows a hook's secret and ignores one sent in an edit; run damascus setup, which replaces the hook$/,
      ),
    ]);
    expect(checks.get('test delivery')).toEqual([
      'FAIL',
      "a test delivery arrived but its signature did not verify: the hook's secret is not DAMASCUS_WEBHOOK_SECRET; run damascus setup",
    ]);
    expect(checks.get('setup rights')![0]).toBe('ok');
  });

  test('no runner with the label: a site admin sees every runner and gets a FAIL naming what it saw; the bot cannot tell', async () => {
    const other = await startGiteaSim();
    try {
      await other.createRepo('acme', 'norunner');
      await setup('acme/norunner', {}, other);
      other.addRunner({ name: 'g1', labels: ['ubuntu-latest'], status: 'online', scope: { kind: 'global' } });
      other.addRunner({ name: 'r-off', labels: ['damascus'], status: 'offline', scope: { kind: 'repo', repo: 'acme/norunner' } });
      other.addUser('site-admin', { isAdmin: true });
      const admin = other.createToken('site-admin', ['all']);
      tokens.push(admin, other.token);

      const asAdmin = report(await doctor(['acme/norunner'], { GITEA_TOKEN: admin }, other));
      expect(asAdmin.get('token user')![1]).toBe("the token is site-admin's (site admin: yes)");
      const [word, detail] = asAdmin.get('runner online')!;
      expect(word).toBe('FAIL');
      expect(detail).toMatch(/^no online runner has label damascus \(seen: .*\): register an act_runner with label damascus/);
      expect(detail).toContain('r-off[damascus] offline');
      expect(detail).toContain('g1[ubuntu-latest] online');

      const asBot = await doctor(['acme/norunner'], {}, other);
      expect(asBot.code).toBe(0);
      const [botWord, botDetail] = report(asBot).get('runner online')!;
      expect(botWord).toBe('warn');
      expect(botDetail).toMatch(
        /^cannot tell: no runner with label damascus is visible to damascus-bot \(seen: r-off\[damascus\] offline; global runners are listed only to site admins\).*run doctor with a site admin's token to see global runners$/,
      );

      // The review run the bot dispatched waits for a runner; Gitea 1.26.3 gives a queued run no start time, so doctor
      // cannot say how long (a warning); once a runner took it, a warning that says so.
      const client = createGiteaClient({ baseUrl: other.url, token: other.token });
      const run = await client.dispatchWorkflow('acme', 'norunner', REVIEW_WORKFLOW_FILE, { ref: 'main', inputs: { 'work-item': '1' } });
      const waiting = report(await cli(['doctor', 'acme/norunner', '--runner-wait', '0', '--delivery-wait', '5'], {}, other)).get('runner online')!;
      expect(waiting).toEqual([
        'warn',
        expect.stringMatching(new RegExp(`the last review run \\(#${run!.workflow_run_id}\\) is still queued \\(Gitea does not say since when\\)`)),
      ]);
      other.completeRun('acme', 'norunner', run!.workflow_run_id, 'success');
      const done = report(await doctor(['acme/norunner'], {}, other)).get('runner online')!;
      expect(done).toEqual(['warn', expect.stringMatching(/but the last review run \(#\d+\) completed at .* \(success\): a runner took it then$/)]);
    } finally {
      await other.close();
    }
  });

  test('an admin collaborator (no owner rights): the setup rights check names the three ways to get them', async () => {
    await sim.createRepo('acme', 'x', { botPermission: 'admin' });
    const r = await doctor(['acme/x']);
    expect(r.code).toBe(1);
    expect(report(r).get('setup rights')).toEqual([
      'FAIL',
      'damascus-bot has "admin" rights on acme/x, but Gitea lets only the repository\'s owner set Actions secrets (an admin collaborator gets 403): ' +
        "make damascus-bot own the repository, a site admin, or a member of an org team with admin access (e.g. the org's Owners team)",
    ]);
  });

  test("a token without write:issue: the scopes check names the missing scope and the token's scopes", async () => {
    const token = sim.createToken(sim.botLogin, ['read:user', 'write:repository']);
    tokens.push(token);
    const r = await doctor(['acme/app'], { GITEA_TOKEN: token });
    expect(r.code).toBe(1);
    const checks = report(r);
    expect(checks.get('token scopes')).toEqual([
      'FAIL',
      'the token lacks write:issue (it has write:repository,read:user): make a token with write:repository, write:issue and read:user',
    ]);
    expect(checks.get('token user')![0]).toBe('ok');
  });

  test('an unreachable public URL fails, and the checks that need it are skipped', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const r = await doctor(['acme/app'], { DAMASCUS_PUBLIC_URL: down });
    expect(r.code).toBe(1);
    const checks = report(r);
    expect(checks.get('public URL')).toEqual([
      'FAIL',
      expect.stringMatching(new RegExp(`^cannot reach ${down}/healthz from this machine \\(.*ECONNREFUSED.*\\): start damascus serve`)),
    ]);
    // setup made the hook on the other URL
    expect(checks.get('webhook')).toEqual([
      'FAIL',
      expect.stringMatching(
        new RegExp(
          `^no webhook on acme/app delivers to ${down}/api/gitea/webhooks \\(a hook damascus setup made delivers to ${publicUrl}/api/gitea/webhooks: has DAMASCUS_PUBLIC_URL changed\\?\\): run damascus setup$`,
        ),
      ),
    ]);
    expect(checks.get('test delivery')![0]).toBe('skip');
  });

  test('without OWNER/REPO only the global checks run, and nothing of a repository is read', async () => {
    const before = sim.requests.length;
    const r = await doctor([]);
    expect(r.code).toBe(0);
    const checks = report(r);
    expect([...checks].map(([name, [word]]) => [name, word])).toEqual(
      CHECK_NAMES.map((n) => [n, ['settings', 'agent sandbox', 'coding agent', 'gitea reachable', 'token user', 'public URL'].includes(n) ? 'ok' : 'skip']),
    );
    expect(checks.get('webhook')![1]).toBe('no OWNER/REPO given');
    expect(r.stdout.trim().split('\n').pop()).toBe('14 checks: 6 ok, 0 failed, 0 warnings, 8 skipped');
    expect(sim.requests.slice(before).map((q) => `${q.method} ${q.path}`)).toEqual(['GET /version', 'GET /user']);
  });

  test('the agent sandbox: FAIL where bubblewrap cannot run (no build would), WARN when the operator turned it off', async () => {
    const none = await doctor([], { PATH: '/nonexistent' });
    expect(report(none).get('agent sandbox')).toEqual([
      'FAIL',
      expect.stringMatching(/^bubblewrap \(bwrap\) cannot be started: .*ENOENT.*DAMASCUS_SANDBOX=off/),
    ]);
    expect(none.code).not.toBe(0);
    const off = await doctor([], { DAMASCUS_SANDBOX: 'off' });
    expect(report(off).get('agent sandbox')).toEqual(['warn', expect.stringMatching(/^DAMASCUS_SANDBOX=off: the coding agent runs without a sandbox/)]);
    const on = await doctor([]);
    expect(report(on).get('agent sandbox')).toEqual(['ok', expect.stringMatching(/^bubblewrap/)]);
  });

  test('the coding agent: its version when all is well; a CLI missing, too old or without credentials is a FAIL saying what to do', async () => {
    const on = report(await doctor([]));
    expect(on.get('coding agent')).toEqual(['ok', 'claude-code 2.1.332']);
    const noKey = await doctor([], { ANTHROPIC_API_KEY: '', DAMASCUS_BUILDERS: 'codex', OPENAI_API_KEY: 'sk-doctor-test-openai-key' });
    expect(report(noKey).get('coding agent')).toEqual([
      'FAIL',
      expect.stringMatching(/^claude-code: Claude Code has no credentials: set ANTHROPIC_API_KEY .*$/),
    ]);
    expect(noKey.code).not.toBe(0);
    const missing = report(await doctor([], { PATH: '/usr/bin:/bin', DAMASCUS_BUILDERS: 'codex', OPENAI_API_KEY: 'sk-doctor-test-openai-key' })).get(
      'coding agent',
    );
    expect(missing).toEqual([
      'FAIL',
      'claude-code: `claude` is not installed (not found on PATH); install claude-code 2.1.332 or later; codex: `codex` is not installed (not found on PATH); install codex 0.171.0 or later',
    ]);
    // An old CLI: a builders file pointing the preset at a program (tests/fixtures/agent/old-cli.sh) that says it is 1.0.0.
    const file = join(process.cwd(), 'tests', 'fixtures', 'agent', 'old-builders.yml');
    expect(report(await doctor([], { DAMASCUS_BUILDER: 'old', DAMASCUS_BUILDERS_FILE: file })).get('coding agent')).toEqual([
      'FAIL',
      `old: claude-code 1.0.0 is too old: Damascus needs 2.1.332 or later`,
    ]);
  });

  test('missing settings: named, the checks that need them skipped, exit 2; bad arguments exit 2 before anything is sent', async () => {
    const r = await doctor(['acme/app'], { GITEA_TOKEN: '', DAMASCUS_CALLBACK_SECRET: '', DAMASCUS_PUBLIC_URL: '' });
    expect(r.code).toBe(2);
    const checks = report(r);
    expect(checks.get('settings')).toEqual(['FAIL', expect.stringMatching(/^GITEA_TOKEN, DAMASCUS_CALLBACK_SECRET, DAMASCUS_PUBLIC_URL are not set/)]);
    expect(checks.get('token user')).toEqual(['skip', 'GITEA_TOKEN is not set']);
    expect(checks.get('public URL')![0]).toBe('skip');
    expect(r.stderr).toMatch(/^damascus: GITEA_TOKEN, DAMASCUS_CALLBACK_SECRET, DAMASCUS_PUBLIC_URL are not set.*\n$/);

    const credentials = await doctor([], { DAMASCUS_PUBLIC_URL: 'https://user:pa55word@damascus.example.com' });
    expect(credentials.code).toBe(2);
    expect(report(credentials).get('settings')![1]).toMatch(/^DAMASCUS_PUBLIC_URL must be a plain http\(s\) URL without credentials/);
    expect(credentials.stdout + credentials.stderr).not.toContain('pa55word');

    const before = sim.requests.length;
    const badRepo = await doctor(['acme']);
    expect([badRepo.code, badRepo.stderr]).toEqual([2, expect.stringMatching(/^damascus: expected OWNER\/REPO/)]);
    const badWait = await cli(['doctor', 'acme/app', '--runner-wait', 'soon']);
    expect([badWait.code, badWait.stderr]).toEqual([2, 'damascus: --runner-wait must be a whole number of seconds (got "soon")\n']);
    expect(sim.requests.length).toBe(before);
  });

  test('--help describes every check', async () => {
    const r = await cli(['doctor', '--help']);
    expect(r.code).toBe(0);
    for (const [i, name] of CHECK_NAMES.entries()) expect(r.stdout).toMatch(new RegExp(`^ *${i + 1}\\. ${name}: \\S`, 'm'));
  });
});

describe('runDoctor against Gitea 1.26 answers the simulator does not give', () => {
  beforeAll(async () => {
    await sim.createRepo('acme', 'calm');
    await setup('acme/calm');
  });
  /** Every check over the simulator's client, with some of its answers replaced by what a real 1.26.3 says. */
  const run = async (gitea: DoctorGitea) => {
    const checks = await runDoctor(
      {
        sandbox: async () => ({ mode: 'bwrap', ok: true, ownUser: true, detail: 'bubblewrap' }),
        builders: async () => [],
        gitea,
        fetch: (url, init) => fetch(url, init),
        now: () => Date.now(),
        sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
      },
      {
        settings: { giteaUrl: sim.url, giteaToken: sim.token, webhookSecret: WEBHOOK_SECRET, callbackSecret: CALLBACK_SECRET, publicUrl, runsOn: 'damascus' },
        repo: { owner: 'acme', name: 'calm' },
        events: loadAppManifest().defaultEvents,
        runnerWaitSeconds: 0,
        deliveryWaitSeconds: 1,
      },
    );
    return new Map(checks.map((c) => [c.check, c]));
  };

  test('a queued run reported as started at 1970 (how 1.26.3 shows a run no runner took): cannot tell how long it waited', async () => {
    const real = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
    const queued = {
      id: 99,
      run_number: 9,
      display_title: 't',
      event: 'workflow_dispatch',
      status: 'queued',
      conclusion: '',
      head_branch: 'main',
      head_sha: 'a'.repeat(40),
      path: `${REVIEW_WORKFLOW_FILE}@refs/heads/main`,
      html_url: '',
      started_at: '1970-01-01T00:00:00Z',
    };
    const checks = await run({ ...real, listRepoRunners: async () => [], listWorkflowRuns: async () => [queued] });
    expect(checks.get('runner online')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(
        /the last review run \(#99\) is still queued \(Gitea does not say since when\): if it stays so, no online runner has that label/,
      ),
    });
  });

  test('no test delivery from the hook setup makes (it subscribes to push for the test) is a FAIL; from a hook without push only a warning', async () => {
    const real = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
    const silent = { ...real, testHook: async () => {} };
    const pushHook = (await run(silent)).get('test delivery')!;
    expect(pushHook).toMatchObject({
      status: 'fail',
      detail: `no test delivery arrived within 1 s: Gitea cannot reach ${publicUrl}/api/gitea/webhooks (check [webhook] ALLOWED_HOST_LIST and the network between them)`,
    });
    const withoutPush = {
      ...silent,
      listHooks: async (o: string, r: string) => (await real.listHooks(o, r)).map((h) => ({ ...h, events: h.events.filter((e) => e !== 'push') })),
    };
    const noPush = (await run(withoutPush)).get('test delivery')!;
    expect(noPush).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(
        /^no test delivery arrived within 1 s, which proves nothing here: Gitea 1\.26 sends a hook test only to an active hook subscribed to push/,
      ),
    });
  });
});
