/**
 * `damascus doctor` against a real Gitea and act_runner (npm run test:live; environment: support/liveGitea.ts), with
 * a real `damascus serve`: a healthy repository passes; a serve whose DAMASCUS_WEBHOOK_SECRET is not the hook's,
 * a workflow asking for a runner label nobody has, and a bot that is only an admin collaborator are each found,
 * with what to do. Global runners are listed only to a site admin, so the runner checks also run with the
 * admin's token.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { damascus, type CliRun } from '../support/cli.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { freePort, spawnDamascus, stopAll, tempDir, waitFor, type DamascusProcess } from '../support/processes.js';
import { LiveGitea, liveEnv, type LiveEnv } from './support/liveGitea.js';

const env = liveEnv();
const live = typeof env === 'string' ? describe.skip : describe;
if (typeof env === 'string') test.skip(env, () => {});

/** check name → [status word, detail] of one doctor run. */
function report(r: CliRun): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(ok|FAIL|warn|skip)\s+([^:]+): (.*)$/.exec(line);
    if (m) out.set(m[2]!, [m[1]!, m[3]!]);
  }
  return out;
}

live('damascus doctor against a real Gitea', () => {
  const e = env as LiveEnv;
  const g = new LiveGitea(e);
  const secret = randomBytes(16).toString('hex');
  const callback = randomBytes(16).toString('hex');
  let db: TestDb;
  let dir: { path: string; remove(): Promise<void> };
  let port: number;
  let serve: DamascusProcess | null = null;
  let botToken = '';
  let adminToken = '';
  let healthy = { owner: '', name: '' };
  let noRunner = { owner: '', name: '' };
  let adminOnly = { owner: '', name: '' };
  const outputs: CliRun[] = [];

  const base = (): Record<string, string> => ({
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    DAMASCUS_QUEUE_PREFIX: `doc${randomBytes(3).toString('hex')}`,
    DAMASCUS_PORT: String(port),
    DAMASCUS_PUBLIC_URL: `http://127.0.0.1:${port}`,
    GITEA_URL: g.url,
    GITEA_TOKEN: botToken,
    DAMASCUS_WEBHOOK_SECRET: secret,
    DAMASCUS_CALLBACK_SECRET: callback,
    DAMASCUS_RUNS_ON: e.runnerLabel,
    DAMASCUS_DATA_DIR: join(dir.path, 'data'),
    DAMASCUS_LOG_LEVEL: 'warn',
    DAMASCUS_TRIGGER_LABEL: '',
    DAMASCUS_BOT_LOGIN: '',
    DAMASCUS_PHASES_MODULE: '',
  });
  const cli = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await damascus(args, { ...base(), ...extra }, 120_000);
    outputs.push(r);
    return r;
  };
  async function startServe(webhookSecret: string): Promise<void> {
    if (serve) await stopAll([serve]);
    serve = spawnDamascus(['serve'], { ...base(), DAMASCUS_WEBHOOK_SECRET: webhookSecret });
    await waitFor('serve', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok, 30_000, 200);
  }

  beforeAll(async () => {
    await g.start();
    dir = await tempDir('damascus-doctor-live-');
    db = await createTestDb('dmdoc');
    port = await freePort();
    const bot = await g.user('docbot');
    botToken = await g.token(bot, ['write:repository', 'write:issue', 'read:user', 'write:user']);
    adminToken = await (async () => ('token' in e.admin ? e.admin.token : g.token({ login: e.admin.user, password: e.admin.password }, ['all'])))();
    const org = await g.org('docorg', bot);
    healthy = await g.repo(org, 'healthy');
    noRunner = await g.repo(org, 'norunner');
    const other = await g.org('docother', await g.user('docowner'));
    adminOnly = await g.repo(other, 'adminonly');
    await g.collaborator(adminOnly, bot.login, 'admin');
    for (const [r, extra] of [
      [healthy, []],
      [noRunner, ['--runs-on', 'damascus-no-such-runner']],
    ] as const) {
      const s = await cli(['setup', `${r.owner}/${r.name}`, ...extra]);
      if (s.code !== 0) throw new Error(`setup failed: ${s.stdout}${s.stderr}`);
    }
    await startServe(secret);
  }, 300_000);

  afterAll(async () => {
    if (serve) await stopAll([serve]);
    await db?.drop().catch(() => {});
    await dir?.remove();
    for (const r of outputs) for (const s of [botToken, adminToken, secret, callback]) expect(r.stdout + r.stderr).not.toContain(s);
  });

  test("a healthy repository: every check ok (the global runner shows with the admin's token), exit 0", async () => {
    const asBot = await cli(['doctor', `${healthy.owner}/${healthy.name}`]);
    process.stderr.write(`doctor (bot):\n${asBot.stdout}\n`);
    const checks = report(asBot);
    for (const name of [
      'settings',
      'gitea reachable',
      'token user',
      'token scopes',
      'setup rights',
      'actions enabled',
      'review workflow',
      'action readable',
      'webhook',
      'test delivery',
      'public URL',
    ]) {
      expect([name, checks.get(name)?.[0]]).toEqual([name, 'ok']);
    }
    expect(asBot.code).toBe(0);
    const asAdmin = report(await cli(['doctor', `${healthy.owner}/${healthy.name}`], { GITEA_TOKEN: adminToken }));
    expect(asAdmin.get('runner online')).toEqual(['ok', expect.stringContaining(e.runnerLabel)]);
  });

  test("a serve whose DAMASCUS_WEBHOOK_SECRET is not the hook's: the hook's secret tag and the test delivery both fail", async () => {
    const rotated = randomBytes(16).toString('hex');
    await startServe(rotated);
    try {
      const r = await cli(['doctor', `${healthy.owner}/${healthy.name}`], { DAMASCUS_WEBHOOK_SECRET: rotated });
      process.stderr.write(`doctor (wrong secret):\n${r.stdout}\n`);
      expect(r.code).toBe(1);
      const checks = report(r);
      expect(checks.get('webhook')).toEqual([
        'FAIL',
        expect.stringMatching(/its secret may differ from DAMASCUS_WEBHOOK_SECRET.*run damascus setup, which replaces the hook/),
      ]);
      expect(checks.get('test delivery')).toEqual(['FAIL', expect.stringMatching(/arrived but its signature did not verify/)]);
      expect(r.stdout).not.toContain(rotated);
    } finally {
      await startServe(secret);
    }
  });

  test('a workflow asking for a runner label nobody has: FAIL, naming the runners Gitea has', async () => {
    const r = await cli(['doctor', `${noRunner.owner}/${noRunner.name}`], { GITEA_TOKEN: adminToken, DAMASCUS_RUNS_ON: 'damascus-no-such-runner' });
    process.stderr.write(`doctor (no runner):\n${r.stdout}\n`);
    expect(r.code).toBe(1);
    expect(report(r).get('runner online')).toEqual([
      'FAIL',
      expect.stringMatching(new RegExp(`^no online runner has label damascus-no-such-runner \\(seen: .*${e.runnerLabel}`)),
    ]);
  });

  test('a bot that is only an admin collaborator: the setup rights check names how to get owner rights', async () => {
    const r = await cli(['doctor', `${adminOnly.owner}/${adminOnly.name}`]);
    process.stderr.write(`doctor (admin only):\n${r.stdout}\n`);
    expect(r.code).toBe(1);
    expect(report(r).get('setup rights')).toEqual([
      'FAIL',
      expect.stringMatching(/has "admin" rights .*make \S+ own the repository, a site admin, or a member of an org team with admin access/),
    ]);
  });
});
