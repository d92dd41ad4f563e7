import { createTestDb, seedItems, type TestDb } from '../support/db.js';
import { freePort, spawnDamascus, startPrivateRedis, stopAll, tempDir, waitFor, type DamascusProcess, type PrivateRedis } from '../support/processes.js';

describe('damascus serve: /healthz, /readyz, /metrics', () => {
  let db: TestDb;
  let redis: PrivateRedis;
  let dir: { path: string; remove(): Promise<void> };
  const procs: DamascusProcess[] = [];
  beforeAll(async () => {
    db = await createTestDb();
    redis = await startPrivateRedis();
    dir = await tempDir('damascus-health-');
  });
  afterAll(async () => {
    await stopAll(procs);
    await redis.stop();
    await db.drop();
    await dir.remove();
  });

  async function serve(env: Record<string, string>) {
    const port = await freePort();
    const p = spawnDamascus(['serve'], { DAMASCUS_PORT: String(port), DAMASCUS_DATA_DIR: dir.path, DAMASCUS_QUEUE_PREFIX: 'health', ...env });
    procs.push(p);
    const base = `http://127.0.0.1:${port}`;
    await waitFor('the server to listen', async () => fetch(`${base}/healthz`).then((r) => r.ok, () => false), 20_000);
    return { p, base };
  }

  test('ready when PostgreSQL and Redis answer; metrics carry items by state, cap and queue depths', async () => {
    await seedItems(db.sql, 2);
    const { base } = await serve({ DATABASE_URL: db.url, REDIS_URL: redis.url, DAMASCUS_CONCURRENCY: '3' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, checks: { postgres: 'ok', redis: 'ok' } });
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

  test('Redis down: the server stays up and /readyz says what is missing, then recovers', async () => {
    const { p, base } = await serve({ DATABASE_URL: db.url, REDIS_URL: redis.url });
    await redis.stop();
    const down = await waitFor('readyz to report Redis', async () => {
      const r = await fetch(`${base}/readyz`);
      return r.status === 503 ? r.json() : null;
    }, 20_000, 200);
    expect(down.ready).toBe(false);
    expect(down.checks.postgres).toBe('ok');
    expect(down.checks.redis).toMatch(/Redis is not reachable/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    await redis.start();
    await waitFor('readyz to recover', async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 200);
    expect(p.proc.exitCode).toBeNull();
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
