/**
 * Chaos: PostgreSQL restarted while 50 stories run. The database lives in a PRIVATE cluster (chaos/privatePostgres.ts:
 * initdb in a temporary directory, its own port), never the machine's shared server. `damascus init` creates the
 * database and the schema; a scheduler and two workers (chaos/phases.mjs) run the stories and the relay mirrors
 * them on the simulated Gitea. Twice mid-run the cluster is stopped with `pg_ctl stop -m immediate` (a crash: every
 * connection cut, no checkpoint, crash recovery on start), kept down for a few seconds, and started again.
 * No Damascus process may exit, and the run ends with the invariant check of chaos/harness.ts.
 */
import { join } from 'node:path';
import { openDb } from '../src/db/connection.js';
import { upsertProject } from '../src/db/ops/upsertProject.js';
import { damascus } from '../tests/support/cli.js';
import { startGiteaSim } from '../tests/support/giteaSim/index.js';
import { spawnDamascus, startPrivateRedis, stopAll, tempDir, waitFor, type DamascusProcess } from '../tests/support/processes.js';
import { chaosProcessEnv, checkInvariants, OWNER, REPO, seedStories, waitForAllDone, type Fleet } from './harness.js';
import { startPrivatePostgres, type PrivatePostgres } from './privatePostgres.js';

const STORIES = Number(process.env.CHAOS_STORIES ?? 50);
const RESTARTS = Number(process.env.CHAOS_PG_RESTARTS ?? 2);
const DOWN_MS = Number(process.env.CHAOS_PG_DOWN_MS ?? 4000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pg: PrivatePostgres | undefined;
let f: Fleet | undefined;
afterAll(async () => {
  await f?.close().catch(() => undefined);
  await pg?.destroy();
});

test(`PostgreSQL (a private cluster) crashed and restarted ${RESTARTS}× during ${STORIES} stories: processes stay up, every invariant holds`, async () => {
  const t0 = Date.now();
  pg = await startPrivatePostgres();
  const url = pg.url('damascus_chaos');
  const init = await damascus(['init'], { DATABASE_URL: url }, 60_000);
  expect(init.code).toBe(0);
  const [sim, redis, dir] = await Promise.all([startGiteaSim(), startPrivateRedis(), tempDir('damascus-chaos-pg-')]);
  await sim.createRepo(OWNER, REPO, { files: { 'README.md': '# app\n' } });
  const sql = openDb(url, { max: 5 });
  const trace = join(dir.path, 'trace.log');
  const env = chaosProcessEnv({ databaseUrl: url, redisUrl: redis.url, prefix: 'chaos-pg', dataDir: dir.path, sim, trace });

  const projectId = (await upsertProject(sql, { owner: OWNER, name: REPO, htmlUrl: `${sim.url}/${OWNER}/${REPO}` })).id;
  const procs: DamascusProcess[] = [];
  const killedAt = new Map<number, number>();
  const fleet: Fleet = {
    db: {
      url,
      sql,
      drop: async () => {
        await sql.end({ timeout: 5 });
      },
    },
    sim,
    redis,
    dir,
    trace,
    env,
    procs,
    killedAt,
    projectId,
    spawn(role, o = {}) {
      const p = spawnDamascus([role], { ...env, ...o });
      procs.push(p);
      return p;
    },
    async kill9(p) {
      killedAt.set(p.proc.pid!, Date.now());
      p.kill('SIGKILL');
      await p.exited;
    },
    async close() {
      await stopAll(procs);
      await Promise.all([sql.end({ timeout: 5 }), sim.close(), redis.stop(), dir.remove()]);
    },
  };
  f = fleet;
  fleet.spawn('scheduler');
  fleet.spawn('worker');
  fleet.spawn('worker');
  const stories = await seedStories(fleet, STORIES);
  const doneCount = async () => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM work_items WHERE state = 'done'`)[0]!.n;
  const restarts: { doneBefore: number; downMs: number }[] = [];
  for (let i = 0; i < RESTARTS; i++) {
    // restart while stories are in flight: wait for some progress first (bounded)
    const target = Math.floor((STORIES * (i + 1)) / (RESTARTS + 2));
    const doneBefore = await waitFor(
      `${target} stories done before restart ${i + 1}`,
      async () => {
        const n = await doneCount();
        return n >= target ? n : null;
      },
      120_000,
      200,
    );
    const down = Date.now();
    await pg.stop('immediate');
    await sleep(DOWN_MS);
    await pg.start();
    restarts.push({ doneBefore, downMs: Date.now() - down });
    for (const p of procs) expect({ pid: p.proc.pid, exit: p.proc.exitCode, signal: p.proc.signalCode }).toEqual({ pid: p.proc.pid, exit: null, signal: null });
  }
  await waitForAllDone(fleet, STORIES, 240_000);
  const report = await checkInvariants(fleet, stories);
  const exited = procs.filter((p) => p.proc.exitCode !== null || p.proc.signalCode !== null).map((p) => `${p.proc.pid}: ${p.output().slice(-2000)}`);
  console.log(
    JSON.stringify({
      scenario: `postgres crash/restart x${RESTARTS}`,
      restarts,
      seconds: Math.round((Date.now() - t0) / 1000),
      ...report,
      violations: report.violations.length,
      exited: exited.length,
    }),
  );
  expect(report.violations).toEqual([]);
  expect(exited).toEqual([]); // no process had to be restarted
  expect(restarts).toHaveLength(RESTARTS);
});
