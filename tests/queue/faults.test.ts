import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { recordVerdict } from '../../src/db/ops/recordVerdict.js';
import type { ClaimedItem } from '../../src/db/types.js';
import { enqueueTicks } from '../../src/queue/queues.js';
import { SCRIPTED_PHASES } from '../support/cli.js';
import { createTestDb, seedItems, type TestDb } from '../support/db.js';
import { spawnDamascus, startPrivateRedis, stopAll, tempDir, waitFor, type DamascusProcess, type PrivateRedis } from '../support/processes.js';
import { readTrace } from '../support/trace.js';

describe('queue and processes under faults (real processes, real Redis and PostgreSQL)', () => {
  let redis: PrivateRedis;
  let dir: { path: string; remove(): Promise<void> };
  let db: TestDb;
  let procs: DamascusProcess[] = [];
  let n = 0;
  let prefix = '';
  let trace = '';
  beforeAll(async () => {
    redis = await startPrivateRedis();
    dir = await tempDir('damascus-faults-');
  });
  afterAll(async () => {
    await redis.stop();
    await dir.remove();
  });
  beforeEach(async () => {
    db = await createTestDb();
    prefix = `faults${++n}`;
    trace = join(dir.path, `trace-${n}.log`);
  });
  afterEach(async () => {
    await stopAll(procs);
    procs = [];
    await db.drop();
  });

  const baseEnv = (over: Record<string, string> = {}) => ({
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    DAMASCUS_QUEUE_PREFIX: prefix,
    DAMASCUS_CONCURRENCY: '2',
    DAMASCUS_HEARTBEAT_MS: '300',
    DAMASCUS_LEASE_MS: '60000',
    DAMASCUS_PHASES_MODULE: SCRIPTED_PHASES,
    SCRIPTED_TRACE: trace,
    DAMASCUS_DATA_DIR: dir.path,
    ...over,
  });
  const stateOf = async (id: number) => (await db.sql`SELECT state FROM work_items WHERE id = ${id}`)[0]!.state as string;
  const started = async (id: number) => (await readTrace(trace)).filter((r) => r.item === id);

  test('kill -9 in the middle of a phase: the item is claimed again after its lease expires and finishes; the late verdict is refused', async () => {
    const [item] = await seedItems(db.sql, 1);
    const env = baseEnv({ DAMASCUS_LEASE_MS: '1500', SCRIPTED_PHASES: JSON.stringify({ spec: 'pass', build: 'pass', review: 'pass' }) });
    procs.push(spawnDamascus(['scheduler'], env));
    const doomed = spawnDamascus(['worker'], { ...env, SCRIPTED_DELAY_MS: '600000' });
    procs.push(doomed);
    await waitFor('the first phase to start', async () => (await started(item!.id)).length > 0, 30_000);
    const [held] = await db.sql<ClaimedItem[]>`SELECT * FROM work_items WHERE id = ${item!.id}`;
    expect(held!.leaseOwner).toContain(String(doomed.proc.pid));
    doomed.kill('SIGKILL');
    await doomed.exited;
    procs.push(spawnDamascus(['worker'], { ...env, SCRIPTED_DELAY_MS: '10' }));
    await waitFor('the item to be done', async () => (await stateOf(item!.id)) === 'done', 60_000, 100);
    const runs = await started(item!.id);
    expect(runs[0]!.pid).toBe(doomed.proc.pid);
    expect(runs[0]!.end).toBeNull(); // the killed run never finished
    expect(runs.filter((r) => r.phase === 'spec' && r.end !== null)).toHaveLength(1);
    // the killed worker's verdict, had it arrived late, is discarded by the fence
    const late = await recordVerdict(db.sql, { ...held!, slot: 0 } as ClaimedItem, { verdict: 'fail' }, { backoff: { baseMs: 1, maxMs: 1 } });
    expect(late.recorded).toBe(false);
    expect(await stateOf(item!.id)).toBe('done');
  });

  test('SIGTERM during a phase: the process exits 0 after the grace period and another worker picks the item up at once', async () => {
    const [item] = await seedItems(db.sql, 1);
    const env = baseEnv({ DAMASCUS_SHUTDOWN_GRACE_MS: '500' });
    procs.push(spawnDamascus(['scheduler'], env));
    const first = spawnDamascus(['worker'], { ...env, SCRIPTED_DELAY_MS: '600000' });
    procs.push(first);
    await waitFor('the first phase to start', async () => (await started(item!.id)).length > 0, 30_000);
    first.kill('SIGTERM');
    const exit = await first.exited; // a 10-minute phase: exiting at all means the grace period was honoured
    expect(exit.code).toBe(0);
    expect(first.output()).toMatch(/grace period over/);
    const [row] = await db.sql`SELECT lease_token, state FROM work_items WHERE id = ${item!.id}`;
    expect(row).toEqual({ leaseToken: null, state: 'spec' }); // handed back, nothing recorded
    expect((await db.sql`SELECT count(*)::int AS n FROM verdicts`)[0]!.n).toBe(0);
    // the lease is 60 s: only a handed-back lease lets the next worker start now
    procs.push(spawnDamascus(['worker'], { ...env, SCRIPTED_DELAY_MS: '5' }));
    await waitFor('the item to be done', async () => (await stateOf(item!.id)) === 'done', 30_000, 100);
  });

  test('a phase that ends within the grace period still records its verdict on SIGTERM', async () => {
    const [item] = await seedItems(db.sql, 1);
    const env = baseEnv({ DAMASCUS_SHUTDOWN_GRACE_MS: '20000' });
    procs.push(spawnDamascus(['scheduler'], env));
    const w = spawnDamascus(['worker'], { ...env, SCRIPTED_DELAY_MS: '1500' });
    procs.push(w);
    await waitFor('the first phase to start', async () => (await started(item!.id)).length > 0, 30_000);
    w.kill('SIGTERM');
    expect((await w.exited).code).toBe(0);
    expect(await stateOf(item!.id)).toBe('build');
  });

  test('Redis restarted mid-run: ticks resume without restarting any process and the heartbeat schedule exists again', async () => {
    const items = await seedItems(db.sql, 3);
    const env = baseEnv();
    procs.push(spawnDamascus(['scheduler'], env), spawnDamascus(['worker'], { ...env, SCRIPTED_DELAY_MS: '5' }));
    await waitFor('the first items done', async () => (await stateOf(items[0]!.id)) === 'done', 30_000, 100);
    await redis.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start(); // empty: no persistence, the scheduler is gone from Redis
    const more = await seedItems(db.sql, 3);
    await waitFor(
      'items added after the restart to be done',
      async () => {
        const rows = await db.sql`SELECT count(*)::int AS n FROM work_items WHERE id IN ${db.sql(more.map((i) => i.id))} AND state = 'done'`;
        return rows[0]!.n === 3;
      },
      60_000,
      200,
    );
    const ticks = new Queue('ticks', { connection: { url: redis.url }, prefix });
    const schedulers = await ticks.getJobSchedulers();
    await ticks.close();
    expect(schedulers.map((s) => s.key)).toContain('heartbeat');
    for (const p of procs) expect(p.proc.exitCode).toBeNull();
    // one log line per state change, not one per retry
    const worker = procs[1]!.output();
    expect((worker.match(/is unreachable/g) ?? []).length).toBeLessThanOrEqual(3);
  });

  test('one scheduler started three times still yields one heartbeat schedule', async () => {
    const env = baseEnv();
    for (let i = 0; i < 3; i++) procs.push(spawnDamascus(['scheduler'], env));
    const ticks = new Queue('ticks', { connection: { url: redis.url }, prefix });
    try {
      await waitFor('all three schedulers to upsert', () => procs.every((p) => /job schedulers upserted/.test(p.output())), 20_000);
      const schedulers = await ticks.getJobSchedulers();
      expect(schedulers.filter((s) => s.key === 'heartbeat')).toHaveLength(1);
      expect(schedulers.find((s) => s.key === 'heartbeat')!.every).toBe(300);
      const delayed = await ticks.getDelayed();
      expect(delayed.filter((j) => j.name === 'heartbeat').length).toBeLessThanOrEqual(1);
    } finally {
      await ticks.close();
    }
  });

  test('the queue replaces cron: scheduler + worker alone drive spec → build → retry → blocked, with its human issue and event', async () => {
    const [item] = await seedItems(db.sql, 1, { budgetCycles: 2 });
    const env = baseEnv({ SCRIPTED_PHASES: JSON.stringify({ spec: 'pass', build: 'fail' }) });
    procs.push(spawnDamascus(['scheduler'], env), spawnDamascus(['worker'], env));
    await waitFor('the item to be blocked', async () => (await stateOf(item!.id)) === 'blocked', 60_000, 100);
    const verdicts = await db.sql`SELECT phase, verdict, to_state FROM verdicts WHERE item_id = ${item!.id} ORDER BY id`;
    expect(verdicts).toEqual([
      { phase: 'spec', verdict: 'pass', toState: 'build' },
      { phase: 'build', verdict: 'fail', toState: 'build' },
      { phase: 'build', verdict: 'fail', toState: 'blocked' },
    ]);
    expect(await db.sql`SELECT kind, status FROM human_issues WHERE item_id = ${item!.id}`).toEqual([{ kind: 'blocked', status: 'open' }]);
    expect(await db.sql`SELECT type FROM events_outbox WHERE item_id = ${item!.id} AND type = 'work.blocked'`).toHaveLength(1);
  });

  test('a worker idle for longer than every socket and lock timeout still takes the next tick', async () => {
    const env = baseEnv({ DAMASCUS_LEASE_MS: '2000', DAMASCUS_HEARTBEAT_MS: '3600000' });
    const w = spawnDamascus(['worker'], { ...env, SCRIPTED_DELAY_MS: '5' });
    procs.push(w);
    await waitFor('the worker to start', () => /worker started/.test(w.output()), 20_000);
    // lock 2 s, stall check 1 s, BullMQ's blocking wait 5 s: idle past all of them
    await new Promise((r) => setTimeout(r, 9000));
    const [item] = await seedItems(db.sql, 1);
    const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    const ticks = new Queue('ticks', { connection: conn, prefix });
    await enqueueTicks({ ticks }, 1, 'test');
    await ticks.close();
    conn.disconnect();
    await waitFor('the item to leave spec', async () => (await stateOf(item!.id)) !== 'spec', 30_000, 100);
    expect(w.proc.exitCode).toBeNull();
  });
});
