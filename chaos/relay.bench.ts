/**
 * Relay throughput against the simulated Gitea (run by `npm run bench` through chaos/jest.config.js with
 * DAMASCUS_JEST_BENCH=1; the simulated Gitea lives in tests/support and is not compiled into dist/).
 *
 * Each round: STORIES new issues, each with its work item and two recorded verdicts (spec pass, build fail),
 * i.e. 3 outbox events per story → one status comment (created, then edited), one state label, two verdict
 * comments. The relay (`relayOutbox`, batch 50, as the worker runs it) drains the outbox; events/s is measured.
 * Baseline, same round, same client, same simulated Gitea: one bare `POST …/comments` per event, which is the
 * least Gitea work an event could cost. Figures (medians of ROUNDS rounds) are written to DAMASCUS_BENCH_OUT.
 */
import { writeFileSync } from 'node:fs';
import { hrtime } from 'node:process';
import { claimNextItem } from '../src/db/ops/claimNextItem.js';
import { createWorkItem } from '../src/db/ops/createWorkItem.js';
import { ensureLeaseSlots } from '../src/db/ops/ensureLeaseSlots.js';
import { recordVerdict } from '../src/db/ops/recordVerdict.js';
import { upsertProject } from '../src/db/ops/upsertProject.js';
import { createGiteaClient } from '../src/gitea/client.js';
import { relayOutbox } from '../src/mirror/relay.js';
import { createLogger } from '../src/shared/log.js';
import { createTestDb } from '../tests/support/db.js';
import { startGiteaSim } from '../tests/support/giteaSim/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const STORIES = Number(process.env.BENCH_RELAY_STORIES ?? 60);
const nowMs = () => Number(hrtime.bigint()) / 1e6;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

test('relay throughput against the simulated Gitea', async () => {
  const [db, sim] = await Promise.all([createTestDb('dmbench'), startGiteaSim()]);
  try {
    await sim.createRepo('acme', 'app', { files: { 'README.md': '# app\n' } });
    const gitea = createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
    const log = createLogger('silent');
    await ensureLeaseSlots(db.sql, 8);
    const projectId = (await upsertProject(db.sql, { owner: 'acme', name: 'app', htmlUrl: `${sim.url}/acme/app` })).id;
    const relayRates: number[] = [];
    const bareRates: number[] = [];
    let events = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < STORIES; i++) {
        const n = sim.createIssue('acme', 'app', { title: `story ${r}.${i}`, user: 'alice', labels: ['damascus'] });
        await createWorkItem(db.sql, { projectId, issueNumber: n, title: `story ${r}.${i}` });
      }
      for (const verdict of ['pass', 'fail'] as const) {
        for (let i = 0; i < STORIES; i++) {
          const claimed = await claimNextItem(db.sql, 'bench', { cap: 8, leaseMs: 60_000 });
          if (!claimed) throw new Error('nothing to claim');
          await recordVerdict(db.sql, claimed, { verdict, reason: `bench ${verdict}` }, { backoff: { baseMs: 1000, maxMs: 60_000 } });
        }
      }
      // park the round's items so the next round claims only its own
      await db.sql`UPDATE work_items SET run_after = now() + interval '10 years' WHERE lease_token IS NULL`;
      const [pending] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events_outbox WHERE delivered_at IS NULL`;
      events = pending!.n;
      const t0 = nowMs();
      for (let guard = 0; guard < 1000; guard++) {
        const res = await relayOutbox({ sql: db.sql, gitea, log, botLogin: sim.botLogin, baseBackoffMs: 0 });
        if (res.delivered + res.failed + res.parked === 0) break;
      }
      relayRates.push(events / ((nowMs() - t0) / 1000));
      const [left] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events_outbox WHERE delivered_at IS NULL`;
      expect(left!.n).toBe(0);

      const bareIssue = sim.createIssue('acme', 'app', { title: `bare ${r}`, user: 'alice' });
      const t1 = nowMs();
      for (let i = 0; i < events; i++) await gitea.createIssueComment('acme', 'app', bareIssue, `bare comment ${i}`);
      bareRates.push(events / ((nowMs() - t1) / 1000));
    }
    expect(sim.responseViolations).toEqual([]);
    const out = { events, stories: STORIES, rounds: ROUNDS, relayPerSec: median(relayRates), barePerSec: median(bareRates) };
    if (process.env.DAMASCUS_BENCH_OUT) writeFileSync(process.env.DAMASCUS_BENCH_OUT, JSON.stringify(out));
    console.log(JSON.stringify(out));
  } finally {
    await Promise.all([db.drop(), sim.close()]);
  }
});
