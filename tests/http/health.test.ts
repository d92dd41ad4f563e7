import { join } from 'node:path';
import { ROOT } from '../support/cli.js';
import { createTestDb, seedItems, type TestDb } from '../support/db.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';
import { freePort, spawnDamascus, startPrivateRedis, stopAll, tempDir, waitFor, type DamascusProcess, type PrivateRedis } from '../support/processes.js';

describe('damascus serve: /healthz, /readyz, /metrics', () => {
  let db: TestDb;
  let redis: PrivateRedis;
  let dir: { path: string; remove(): Promise<void> };
  let sim: GiteaSim;
  const procs: DamascusProcess[] = [];
  beforeAll(async () => {
    sim = await startGiteaSim();
    db = await createTestDb();
    redis = await startPrivateRedis();
    dir = await tempDir('damascus-health-');
  });
  afterAll(async () => {
    await stopAll(procs);
    await redis.stop();
    await db.drop();
    await dir.remove();
    await sim.close();
  });

  async function serve(env: Record<string, string>) {
    const port = await freePort();
    const p = spawnDamascus(['serve'], {
      DAMASCUS_PORT: String(port),
      DAMASCUS_DATA_DIR: dir.path,
      DAMASCUS_QUEUE_PREFIX: 'health',
      GITEA_URL: sim.url,
      GITEA_TOKEN: sim.token,
      DAMASCUS_WEBHOOK_SECRET: 'health-secret',
      ...env,
    });
    procs.push(p);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(
      'the server to listen',
      async () =>
        fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      20_000,
    );
    return { p, base };
  }

  test('ready when PostgreSQL and Redis answer; metrics carry items by state, cap and queue depths', async () => {
    await seedItems(db.sql, 2);
    const { base } = await serve({ DATABASE_URL: db.url, REDIS_URL: redis.url, DAMASCUS_CONCURRENCY: '3' });
    const ready = await waitFor(
      'readyz to be ready',
      async () => {
        const r = await fetch(`${base}/readyz`);
        return r.status === 200 ? r.json() : null;
      },
      20_000,
      100,
    );
    expect(ready).toEqual({ ready: true, checks: { postgres: 'ok', redis: 'ok', gitea: 'ok', 'webhook secret': 'ok' } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/damascus_items\{state="spec"\} 2/);
    expect(metrics).toMatch(/damascus_items\{state="done"\} 0/);
    expect(metrics).toMatch(/damascus_concurrency_cap 3/);
    expect(metrics).toMatch(/damascus_live_leases 0/);
    expect(metrics).toMatch(/damascus_queue_jobs\{queue="ticks",status="waiting"\} 0/);
    expect(metrics).toMatch(/damascus_outbox_lag_seconds \d/);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  test('a worker that runs the coding agent says in /readyz whether its sandbox can be made, or that it was turned off', async () => {
    const worker = async (env: Record<string, string>) => {
      const port = await freePort();
      const p = spawnDamascus(['worker', '--metrics-port', String(port)], {
        DATABASE_URL: db.url,
        REDIS_URL: redis.url,
        DAMASCUS_DATA_DIR: dir.path,
        DAMASCUS_QUEUE_PREFIX: `health-w${port}`,
        GITEA_URL: sim.url,
        GITEA_TOKEN: sim.token,
        ...env,
      });
      procs.push(p);
      return waitFor(
        "the worker's readyz",
        async () => {
          const r = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
          return r ? { status: r.status, body: (await r.json()) as { ready: boolean; checks: Record<string, string> } } : null;
        },
        20_000,
        100,
      );
    };
    // The default builder, Claude Code, from the project's install, with its credential.
    const claude = { PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`, ANTHROPIC_API_KEY: 'sk-ant-health-test-key' };
    const on = await worker(claude);
    expect(on).toMatchObject({ status: 200, body: { ready: true, checks: { sandbox: 'ok', builder: 'ok' } } });
    // Its CLI missing or its credentials absent: said by /readyz before any build, not by the first build.
    const noKey = await worker({ PATH: claude.PATH });
    expect(noKey.status).toBe(503);
    expect(noKey.body.checks.builder).toMatch(/^claude-code: Claude Code has no credentials: set ANTHROPIC_API_KEY/);
    const noCli = await worker({ ANTHROPIC_API_KEY: 'sk-ant-x', DAMASCUS_BUILDERS: 'codex', OPENAI_API_KEY: 'sk-x', PATH: '/usr/bin:/bin' });
    expect(noCli.body.checks.builder).toMatch(
      /^claude-code: `claude` is not installed \(not found on PATH\); install claude-code 2\.1\.332 or later; codex: `codex` is not installed/,
    );
    // No bubblewrap on PATH: no build can run, and the worker is not ready.
    const none = await worker({ PATH: '/nonexistent' });
    expect(none.status).toBe(503);
    expect(none.body.checks.sandbox).toMatch(/^bubblewrap \(bwrap\) cannot be started: .*ENOENT/);
    const off = await worker({ ...claude, DAMASCUS_SANDBOX: 'off' });
    expect(off).toMatchObject({ status: 200, body: { ready: true } });
    expect(off.body.checks.sandbox).toMatch(/^warning: DAMASCUS_SANDBOX=off: the coding agent runs without a sandbox/);
  });

  test('Redis down: the server stays up and /readyz says what is missing, then recovers', async () => {
    const { p, base } = await serve({ DATABASE_URL: db.url, REDIS_URL: redis.url });
    await redis.stop();
    const down = await waitFor(
      'readyz to report Redis',
      async () => {
        const r = await fetch(`${base}/readyz`);
        return r.status === 503 ? r.json() : null;
      },
      20_000,
      200,
    );
    expect(down.ready).toBe(false);
    expect(down.checks.postgres).toBe('ok');
    expect(down.checks.redis).toMatch(/Redis is not reachable/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await redis.start();
    await waitFor('readyz to recover', async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 200);
    expect(p.proc.exitCode).toBeNull();
  });

  test('Gitea unreachable and no webhook secret: the server still starts, accepts nothing unsigned, and /readyz says what is missing', async () => {
    const { base } = await serve({ DATABASE_URL: db.url, REDIS_URL: redis.url, GITEA_URL: 'http://127.0.0.1:1', DAMASCUS_WEBHOOK_SECRET: '' });
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    const body = await r.json();
    expect(body.checks.gitea).toMatch(/Gitea is not reachable yet|not checked yet/);
    expect(body.checks['webhook secret']).toMatch(/DAMASCUS_WEBHOOK_SECRET is not set/);
    expect((await fetch(`${base}/api/gitea/webhooks`, { method: 'POST', body: '{}' })).status).toBe(503);
  });

  test('PostgreSQL unreachable: the server still starts and /readyz says so', async () => {
    const { base } = await serve({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_URL: redis.url });
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    const body = await r.json();
    expect(body.checks.postgres).toMatch(/PostgreSQL is not reachable/);
    expect(body.checks.redis).toBe('ok');
  });
});
