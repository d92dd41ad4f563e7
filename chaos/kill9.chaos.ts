/**
 * Chaos: `kill -9` of workers at chosen points while 60 stories go spec → build → review and the relay mirrors
 * them on the simulated Gitea. Kill points, in turn: inside a spec run, inside a build run, inside a review run,
 * and right after a verdict committed (before that worker's relay job could mirror it). Each killed worker is
 * replaced at once. The run ends with the invariant check (chaos/harness.ts).
 */
import { checkInvariants, openRun, seedStories, startFleet, waitForAllDone, type Fleet } from './harness.js';

const STORIES = Number(process.env.CHAOS_STORIES ?? 60);
const KILLS = Number(process.env.CHAOS_KILLS ?? 12);

let f: Fleet;
afterAll(async () => {
  await f?.close();
});

test(`kill -9 of workers at ${KILLS} points over ${STORIES} stories: every invariant holds`, async () => {
  f = await startFleet('kill9');
  f.spawn('scheduler');
  const workers = [f.spawn('worker'), f.spawn('worker')];
  const stories = await seedStories(f, STORIES);
  const points = ['spec', 'build', 'review', 'after-commit'] as const;
  const hits: string[] = [];
  let lastVerdict = 0;
  for (let k = 0; k < KILLS; k++) {
    const point = points[k % points.length]!;
    let victim: (typeof workers)[number] | null = null;
    for (let waited = 0; waited < 15_000 && !victim; waited += 25) {
      if (point === 'after-commit') {
        // the newest verdict's worker ("host:pid"): killed right after its commit, before its relay job ran
        const [row] = await f.db.sql<{ id: number; worker: string }[]>`SELECT id::int, worker FROM verdicts ORDER BY id DESC LIMIT 1`;
        if (row && row.id > lastVerdict) {
          lastVerdict = row.id;
          const pid = Number(row.worker.split(':').at(-1));
          victim = workers.find((w) => w.proc.pid === pid && w.proc.exitCode === null && w.proc.signalCode === null) ?? null;
        }
      } else {
        victim = (await openRun(f, point))?.proc ?? null;
      }
      if (!victim) await new Promise((r) => setTimeout(r, 25));
    }
    if (!victim) continue; // that phase was not running in this window (e.g. all stories past it)
    await f.kill9(victim);
    hits.push(point);
    workers[workers.indexOf(victim)] = f.spawn('worker');
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 700));
  }
  // a relay killed mid-run leaves its claimed events for claimMs (120 s) before another relay takes them
  await waitForAllDone(f, STORIES, 240_000);
  const report = await checkInvariants(f, stories);
  console.log(JSON.stringify({ scenario: 'kill -9', kills: hits.length, killPoints: hits, ...report, violations: report.violations.length }));
  expect(report.violations).toEqual([]);
  expect(hits.length).toBeGreaterThanOrEqual(Math.min(KILLS, 8));
  expect(report.killedRuns).toBeGreaterThan(0);
});
