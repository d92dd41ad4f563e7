/**
 * Chaos: dependency faults while 50 stories run and the relay mirrors them on the simulated Gitea, each run
 * ending with the invariant check (chaos/harness.ts):
 *  - Redis stopped and started twice (no persistence: queues and job schedulers are gone after each restart);
 *  - the simulated Gitea answering 500, 405 and dropping connections (timeouts) for stretches;
 *  - webhooks dropped (the reconcile sweep must find the stories) and delivered twice (same and new delivery id).
 */
import { deriveWebhookSecret } from '../src/shared/signing.js';
import { freePort, waitFor } from '../tests/support/processes.js';
import { checkInvariants, OWNER, REPO, seedStories, startFleet, waitForAllDone, type Fleet } from './harness.js';

const STORIES = Number(process.env.CHAOS_STORIES ?? 50);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let f: Fleet | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

test(`Redis stopped and started twice during ${STORIES} stories: every invariant holds`, async () => {
  f = await startFleet('redis');
  f.spawn('scheduler');
  f.spawn('worker');
  f.spawn('worker');
  const stories = await seedStories(f, STORIES);
  for (let i = 0; i < 2; i++) {
    await sleep(3000);
    await f.redis.stop();
    await sleep(3000);
    await f.redis.start();
  }
  await waitForAllDone(f, STORIES, 180_000);
  const report = await checkInvariants(f, stories);
  console.log(JSON.stringify({ scenario: 'redis stop/start x2', ...report, violations: report.violations.length }));
  expect(report.violations).toEqual([]);
  for (const p of f.procs) expect(p.proc.exitCode).toBeNull(); // no process had to be restarted
});

test(`the simulated Gitea answering 500 / 405 / timing out for stretches during ${STORIES} stories: every invariant holds`, async () => {
  f = await startFleet('gitea');
  f.spawn('scheduler');
  f.spawn('worker');
  f.spawn('worker');
  const stories = await seedStories(f, STORIES);
  const stretch = async (spec: Parameters<Fleet['sim']['faults']['add']>[0], ms: number) => {
    f!.sim.faults.add(spec);
    await sleep(ms);
    f!.sim.faults.clear();
    await sleep(1500);
  };
  const before = f.sim.requests.length;
  await stretch({ method: 'POST', path: /\/issues\/\d+\/comments$/, status: 500 }, 3000);
  await stretch({ path: /\/labels/, status: 405 }, 3000);
  await stretch({ path: /\/issues\/\d+\/comments$/, timeoutMs: 1500 }, 3000);
  await stretch({ path: /^\/repos\//, status: 503 }, 2000);
  const faulted = f.sim.requests.slice(before).filter((r) => r.status === null || r.status >= 500 || r.status === 405).length;
  await waitForAllDone(f, STORIES, 240_000);
  const report = await checkInvariants(f, stories);
  console.log(JSON.stringify({ scenario: 'gitea 500/405/timeout/503 stretches', faultedRequests: faulted, ...report, violations: report.violations.length }));
  expect(faulted).toBeGreaterThan(0);
  expect(report.violations).toEqual([]);
});

test(`webhooks dropped (found by the reconcile sweep) and delivered twice, ${STORIES} stories: one item per story, every invariant holds`, async () => {
  const port = await freePort();
  const secret = 'chaos-webhook-secret';
  f = await startFleet('webhooks', { DAMASCUS_RECONCILE_SWEEP_MS: '2000', DAMASCUS_PORT: String(port), DAMASCUS_WEBHOOK_SECRET: secret });
  f.sim.addUser('alice', { permissions: { [`${OWNER}/${REPO}`]: 'write' } });
  // the repository's own secret, as damascus setup installs it
  f.sim.addWebhook(OWNER, REPO, {
    url: `http://127.0.0.1:${port}/api/gitea/webhooks`,
    secret: deriveWebhookSecret(secret, `${OWNER}/${REPO}`),
    events: ['issues', 'issue_comment', 'pull_request'],
  });
  const serve = f.spawn('serve');
  await waitFor('damascus serve', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.ok ?? false, 30_000, 100);
  f.spawn('scheduler');
  f.spawn('worker');
  f.spawn('worker');
  const issues: number[] = [];
  const label = (mode: string) => {
    const n = f!.sim.createIssue(OWNER, REPO, { title: `story (${mode}) ${issues.length}`, user: 'alice' });
    f!.sim.labelIssue(OWNER, REPO, n, ['damascus'], { by: 'alice' });
    issues.push(n);
  };
  const third = Math.ceil(STORIES / 3);
  f.sim.dropWebhooks(true);
  for (let i = 0; i < third; i++) label('dropped');
  await f.sim.waitForDeliveries();
  f.sim.dropWebhooks(false);
  f.sim.duplicateWebhooks(true, 'same-id');
  for (let i = 0; i < third; i++) label('twice, same id');
  await f.sim.waitForDeliveries();
  f.sim.duplicateWebhooks(true, 'new-id');
  while (issues.length < STORIES) label('twice, new id');
  await f.sim.waitForDeliveries();
  f.sim.duplicateWebhooks(false);
  await waitForAllDone(f, STORIES, 240_000);
  const rows = await f.db.sql<{ itemId: number; issue: number }[]>`SELECT id::int AS item_id, issue_number::int AS issue FROM work_items ORDER BY issue_number`;
  expect(rows.map((r) => r.issue)).toEqual([...issues].sort((a, b) => a - b)); // exactly one item per story
  const delivered = f.sim.deliveries.length;
  const report = await checkInvariants(f, rows);
  console.log(JSON.stringify({ scenario: 'webhooks dropped / delivered twice', deliveries: delivered, ...report, violations: report.violations.length }));
  expect(report.violations).toEqual([]);
  expect(serve.proc.exitCode).toBeNull();
});
