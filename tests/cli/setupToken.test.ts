/**
 * DAMASCUS_SETUP_TOKEN: `damascus setup` and doctor's setup-rights check use the stronger setup token when it is
 * set, so the running services can hold a bot token without owner rights; serve and the worker never read it.
 * The built CLI (npm run build first) against the simulated Gitea, which records whose token made each request.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { damascus, type CliRun } from '../support/cli.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';
import { freePort, spawnDamascus, stopAll, waitFor, type DamascusProcess } from '../support/processes.js';

const CALLBACK_SECRET = 'setup-token-callback-secret-7d21';
const WEBHOOK_SECRET = 'setup-token-webhook-secret-94c3';
/** The repository's owner, whose token is the setup token; the bot is only a writer there. */
const OWNER = 'alice';

let sim: GiteaSim;
let setupToken: string;
const outputs: string[] = [];

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    GITEA_URL: sim.url,
    GITEA_TOKEN: sim.token,
    DAMASCUS_CALLBACK_SECRET: CALLBACK_SECRET,
    DAMASCUS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    DAMASCUS_PUBLIC_URL: 'http://127.0.0.1:9',
    DAMASCUS_RUNS_ON: 'damascus',
    DAMASCUS_SETUP_TOKEN: undefined,
    DAMASCUS_SETUP_TOKEN_FILE: undefined,
    ...extra,
  };
}

async function cli(args: string[], extra: Record<string, string | undefined> = {}): Promise<CliRun> {
  const r = await damascus(args, env(extra));
  outputs.push(r.stdout, r.stderr);
  return r;
}

/** Who made the API requests from index `from` on (the logins of their tokens). */
const viewersSince = (from: number) => new Set(sim.requests.slice(from).map((q) => q.viewer));

beforeAll(async () => {
  sim = await startGiteaSim();
  setupToken = sim.createToken(OWNER);
});

afterAll(async () => {
  await sim.close();
  for (const text of outputs) expect(text).not.toContain(setupToken);
  expect(sim.responseViolations).toEqual([]);
});

describe('damascus setup with DAMASCUS_SETUP_TOKEN', () => {
  test("the bot, a mere writer, cannot set the repository up; with the owner's setup token every request of setup is the owner's", async () => {
    await sim.createRepo(OWNER, 'app', { files: { 'README.md': '# app\n' }, botPermission: 'write', ownerIsOrg: false });

    const asBot = await cli(['setup', `${OWNER}/app`]);
    expect(asBot.code).toBe(1);
    expect(asBot.stderr).toMatch(/damascus-bot has "write" rights on alice\/app/);

    const before = sim.requests.length;
    const r = await cli(['setup', `${OWNER}/app`], { DAMASCUS_SETUP_TOKEN: setupToken });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/alice\/app is set up/);
    expect(viewersSince(before)).toEqual(new Set([OWNER]));
    // what setup writes is there, done as the owner
    expect(sim.requests.slice(before).some((q) => q.method === 'PUT' && /\/actions\/secrets\//.test(q.path) && q.status !== null && q.status < 300)).toBe(true);
    expect(sim.requests.slice(before).some((q) => q.method === 'POST' && q.path === `/repos/${OWNER}/app/hooks` && q.status === 201)).toBe(true);
  });

  test('the setup token from a file (DAMASCUS_SETUP_TOKEN_FILE); an unreadable one is a usage error that names the variable', async () => {
    const dir = await mkdtemp(join(sim.dataDir, 'setup-token-'));
    const file = join(dir, 'token');
    await writeFile(file, `${setupToken}\n`);
    const before = sim.requests.length;
    const r = await cli(['setup', `${OWNER}/app`], { DAMASCUS_SETUP_TOKEN_FILE: file });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(viewersSince(before)).toEqual(new Set([OWNER]));

    const missing = await cli(['setup', `${OWNER}/app`], { DAMASCUS_SETUP_TOKEN_FILE: join(dir, 'absent') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/DAMASCUS_SETUP_TOKEN_FILE names .*absent, which cannot be read/);
  });

  test("doctor: the setup-rights check asks with the setup token, the other checks with the bot's", async () => {
    const withBot = await cli(['doctor', `${OWNER}/app`, '--delivery-wait', '0', '--runner-wait', '0']);
    expect(withBot.stdout).toMatch(/^FAIL +setup rights: damascus-bot has "write" rights on alice\/app/m);

    const before = sim.requests.length;
    const r = await cli(['doctor', `${OWNER}/app`, '--delivery-wait', '0', '--runner-wait', '0'], { DAMASCUS_SETUP_TOKEN: setupToken });
    expect(r.stdout).toMatch(/^ok +setup rights: alice \(the user of DAMASCUS_SETUP_TOKEN\) has owner rights on alice\/app/m);
    expect(r.stdout).toMatch(/^ok +token scopes: .*write:user is not needed: damascus setup uses DAMASCUS_SETUP_TOKEN/m);
    const byOwner = sim.requests
      .slice(before)
      .filter((q) => q.viewer === OWNER)
      .map((q) => `${q.method} ${q.path}`);
    expect(byOwner).toEqual(['GET /user', `GET /repos/${OWNER}/app/collaborators/${OWNER}/permission`]);
    expect(viewersSince(before)).toEqual(new Set([OWNER, sim.botLogin]));
  });
});

describe('the running services never read the setup token', () => {
  let db: TestDb;
  const running: DamascusProcess[] = [];
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => {
    await stopAll(running);
    for (const p of running) expect(p.output()).not.toContain(setupToken);
    await db.drop();
  });

  test("serve with DAMASCUS_SETUP_TOKEN in its environment talks to Gitea with the bot's token only; a worker starts with an unreadable DAMASCUS_SETUP_TOKEN_FILE", async () => {
    const [servePort, metricsPort] = [await freePort(), await freePort()];
    const common = {
      DATABASE_URL: db.url,
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      DAMASCUS_BIND: '127.0.0.1',
      DAMASCUS_QUEUE_PREFIX: `dmtest-setuptoken-${servePort}`,
    };
    const before = sim.requests.length;
    const serve = spawnDamascus(['serve'], { ...env({ DAMASCUS_SETUP_TOKEN: setupToken }), ...common, DAMASCUS_PORT: String(servePort) });
    running.push(serve);
    // ready once Gitea answered serve's startup reads (GET /version, GET /user) with the token serve holds
    await waitFor('serve to be ready', async () => (await fetch(`http://127.0.0.1:${servePort}/readyz`).catch(() => null))?.status === 200, 30_000);
    expect(sim.requests.slice(before).some((q) => q.path === '/user')).toBe(true);
    expect(viewersSince(before)).toEqual(new Set([sim.botLogin]));

    // if the worker read DAMASCUS_SETUP_TOKEN_FILE it would stop at start with a ConfigError
    const worker = spawnDamascus(['worker', '--metrics-port', String(metricsPort)], {
      ...env({ DAMASCUS_SETUP_TOKEN_FILE: join(sim.dataDir, 'no-such-setup-token') }),
      ...common,
    });
    running.push(worker);
    await waitFor(
      'the worker to answer /healthz',
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/healthz`).catch(() => null))?.status === 200,
      30_000,
    );
    expect(worker.proc.exitCode).toBeNull();
    expect(viewersSince(before)).toEqual(new Set([sim.botLogin]));
  });
});
