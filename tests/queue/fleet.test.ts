import { join } from 'node:path';
import { Queue } from 'bullmq';
import { SCRIPTED_PHASES } from '../support/cli.js';
import { processWorld, spawnDamascus, waitFor } from '../support/processes.js';
import { overlappingRuns, peakLiveRuns, readTrace, readTraceEvents } from '../support/trace.js';

const CAP = 4;

describe('a fleet of real processes: 3 workers and 2 schedulers over 300 items', () => {
  const world = processWorld('damascus-fleet-');

  test('every item reaches done, no item runs two phases at once, leases never exceed the cap', async () => {
    const { db, redis, dir, procs } = world;
    await db.sql`INSERT INTO projects (owner, name) VALUES ('fleet', 'repo')`;
    await db.sql`INSERT INTO work_items (project_id, issue_number, title)
                 SELECT (SELECT id FROM projects WHERE name = 'repo'), g, 'story ' || g FROM generate_series(1, 300) g`;
    const trace = join(dir.path, 'trace.log');
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      DAMASCUS_QUEUE_PREFIX: 'fleet',
      DAMASCUS_CONCURRENCY: String(CAP),
      DAMASCUS_HEARTBEAT_MS: '500',
      DAMASCUS_LEASE_MS: '10000',
      DAMASCUS_PHASES_MODULE: SCRIPTED_PHASES,
      SCRIPTED_DELAY_MS: '5',
      SCRIPTED_TRACE: trace,
      DAMASCUS_DATA_DIR: dir.path,
    };
    procs.push(spawnDamascus(['scheduler'], env), spawnDamascus(['scheduler'], env));
    for (let i = 0; i < 3; i++) procs.push(spawnDamascus(['worker'], env));

    await waitFor(
      'all 300 items done',
      async () => {
        const [r] = await db.sql`SELECT count(*)::int AS n FROM work_items WHERE state = 'done'`;
        return r!.n === 300;
      },
      240_000,
      250,
    );

    const runs = await readTrace(trace);
    expect(runs).toHaveLength(900); // 300 items × spec, build, review
    expect(runs.every((r) => r.end !== null)).toBe(true);
    expect(overlappingRuns(runs)).toEqual([]);
    expect(new Set(runs.map((r) => r.pid)).size).toBeGreaterThan(1); // the work was shared between processes
    // the cap, proved from every line of the trace rather than sampled
    const peak = peakLiveRuns(await readTraceEvents(trace));
    expect(peak).toBeLessThanOrEqual(CAP);
    expect(peak).toBeGreaterThan(0);
    const [v] = await db.sql`SELECT count(*)::int AS n FROM verdicts`;
    expect(v!.n).toBe(900);

    // two schedulers, one schedule
    const ticks = new Queue('ticks', { connection: { url: redis.url }, prefix: 'fleet' });
    const schedulers = await ticks.getJobSchedulers();
    await ticks.close();
    expect(schedulers.map((s) => s.key)).toEqual(['heartbeat']);
  });
});
