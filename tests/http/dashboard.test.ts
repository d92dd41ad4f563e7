import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import { createTestDb, type TestDb } from '../support/db.js';
import type { Sql } from '../../src/db/connection.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createWorkItem } from '../../src/db/ops/createWorkItem.js';
import { createLogger } from '../../src/log.js';
import { createHttpServer, listen } from '../../src/http/server.js';
import { dashboardRoutes, DASHBOARD_COOKIE, escapeHtml } from '../../src/http/dashboard.js';
import { itemLinks, parseItemId, whyItWaits } from '../../src/http/itemsApi.js';
import { enqueueTicks, openQueues, type Queues } from '../../src/queue/queues.js';

const NOW = new Date('2030-01-01T12:00:00Z');
const at = (iso: string) => new Date(iso);

describe('why an item waits (pure)', () => {
  const base = {
    state: 'build' as const, leaseOwner: null, leasedAt: null, leaseUntil: null, runAfter: null, gateCount: 0,
    errorCount: 0, maxErrors: 5, explanation: null, updatedAt: at('2030-01-01T11:00:00Z'),
  };

  test('a live lease: running <phase> on <holder> since <leased_at>', () => {
    const w = whyItWaits({ ...base, leaseOwner: 'host-a:42', leasedAt: at('2030-01-01T11:59:00Z'), leaseUntil: at('2030-01-01T12:01:00Z'), runAfter: at('2030-01-01T13:00:00Z') }, [], NOW);
    expect(w).toEqual({ kind: 'running', text: 'running build on host-a:42 since 2030-01-01T11:59:00Z', since: at('2030-01-01T11:59:00Z') });
  });

  test('an expired lease is not running: the item is queued again', () => {
    const w = whyItWaits({ ...base, leaseOwner: 'host-a:42', leasedAt: at('2030-01-01T11:00:00Z'), leaseUntil: at('2030-01-01T11:30:00Z') }, [], NOW);
    expect(w.kind).toBe('queued');
  });

  test('run_after in the future: the review run for review, an error retry otherwise; in the past it is queued', () => {
    const later = at('2030-01-01T12:30:00Z');
    expect(whyItWaits({ ...base, state: 'review', runAfter: later }, [], NOW)).toMatchObject({ kind: 'review_run', text: 'waiting for the review run until 2030-01-01T12:30:00Z' });
    expect(whyItWaits({ ...base, state: 'review', runAfter: later, errorCount: 2 }, [], NOW)).toMatchObject({ kind: 'error_retry', text: 'retrying after an error (2 of 5), waiting until 2030-01-01T12:30:00Z' });
    expect(whyItWaits({ ...base, state: 'spec', runAfter: later, errorCount: 1 }, [], NOW).kind).toBe('error_retry');
    expect(whyItWaits({ ...base, runAfter: at('2030-01-01T11:30:00Z') }, [], NOW).kind).toBe('queued');
  });

  test('gates, questions, blocked, queued and finished', () => {
    expect(whyItWaits({ ...base, gateCount: 1 }, [], NOW)).toMatchObject({ kind: 'gated', text: 'waiting on a dependency or spec approval' });
    const qs = [{ tag: 'Q-3', createdAt: at('2030-01-01T10:00:00Z') }, { tag: 'Q-7', createdAt: at('2030-01-01T11:00:00Z') }];
    expect(whyItWaits({ ...base, state: 'awaiting_human' }, qs, NOW)).toEqual({ kind: 'question', text: 'waiting for an answer to Q-3, Q-7', since: at('2030-01-01T10:00:00Z') });
    expect(whyItWaits({ ...base, state: 'blocked', explanation: 'attempt budget spent (3 of 3)' }, [], NOW)).toMatchObject({ kind: 'blocked', text: 'attempt budget spent (3 of 3)' });
    expect(whyItWaits({ ...base, state: 'spec' }, [], NOW)).toEqual({ kind: 'queued', text: 'queued', since: base.updatedAt });
    expect(whyItWaits({ ...base, state: 'done' }, [], NOW).kind).toBe('finished');
  });

  test('links: the stored issue URL, else the project URL; only http(s) URLs become links', () => {
    const row = { issueUrl: null, projectHtmlUrl: 'https://git.example/acme/widgets/', issueNumber: 7, prNumber: 12, prUrl: null, runUrl: 'https://git.example/acme/widgets/actions/runs/5' };
    expect(itemLinks(row)).toEqual({
      issue: 'https://git.example/acme/widgets/issues/7', pr: 'https://git.example/acme/widgets/pulls/12', run: 'https://git.example/acme/widgets/actions/runs/5',
    });
    expect(itemLinks({ ...row, issueUrl: 'https://other.example/x/y/issues/7', prNumber: null }).issue).toBe('https://other.example/x/y/issues/7');
    expect(itemLinks({ ...row, prNumber: null }).pr).toBeNull();
    expect(itemLinks({ ...row, issueUrl: 'javascript:alert(1)', projectHtmlUrl: 'javascript:alert(2)', runUrl: 'data:text/html,x' })).toEqual({ issue: null, pr: null, run: null });
  });

  test('item ids: positive whole numbers only', () => {
    expect(parseItemId('42')).toBe(42);
    for (const bad of ['0', '-1', 'abc', '1.5', '01', '', '99999999999999999999']) expect(parseItemId(bad)).toBeNull();
  });
});

/** Items in several states, with a lease, questions, a verdict and a malicious title. */
async function seed(sql: Sql) {
  const project = await upsertProject(sql, { owner: 'acme', name: 'widgets', htmlUrl: 'https://git.example/acme/widgets' });
  const make = async (n: number, title: string) => (await createWorkItem(sql, { projectId: project.id, issueNumber: n, title })).item.id;
  const queued = await make(1, 'queued story');
  const running = await make(2, 'running story');
  const asking = await make(3, 'asking story');
  const blocked = await make(4, 'blocked story');
  const evil = await make(5, '<script>alert("x")</script><img src=x onerror=alert(1)>');
  const reviewing = await make(6, 'review story');
  await sql`UPDATE work_items SET state = 'build', lease_owner = 'host-a:1', lease_token = ${randomUUID()},
            lease_until = now() + interval '5 minutes', leased_at = now() - interval '1 minute', attempts = 1 WHERE id = ${running}`;
  await sql`UPDATE work_items SET state = 'awaiting_human', resume_phase = 'spec' WHERE id = ${asking}`;
  await sql`INSERT INTO human_issues (item_id, question, resume_phase, created_at) VALUES (${asking}, 'Which database?', 'spec', now() - interval '2 hours')`;
  await sql`INSERT INTO human_issues (item_id, question, resume_phase, created_at) VALUES (${asking}, 'Which port?', 'spec', now() - interval '1 hour')`;
  await sql`UPDATE work_items SET state = 'blocked', resume_phase = 'build', attempts = 3,
            details = jsonb_build_object('lastTransition', jsonb_build_object('explanation', 'attempt budget spent: 3 of 3 builds failed')) WHERE id = ${blocked}`;
  await sql`INSERT INTO human_issues (item_id, kind, question, resume_phase) VALUES (${blocked}, 'blocked', 'blocked: budget spent', 'build')`;
  await sql`UPDATE work_items SET state = 'review', pr_number = 9, run_after = now() + interval '20 minutes', cost_usd = 1.25,
            details = jsonb_build_object('runUrl', 'https://git.example/acme/widgets/actions/runs/77') WHERE id = ${reviewing}`;
  await sql`INSERT INTO verdicts (item_id, phase, verdict, from_state, to_state, attempt, reason)
            VALUES (${reviewing}, 'build', 'pass', 'build', 'review', 0, 'PR opened')`;
  await sql`INSERT INTO cost_ledger (item_id, phase, kind, usd) VALUES (${reviewing}, 'spec', 'llm', 0.5)`;
  return { queued, running, asking, blocked, evil, reviewing };
}

describe('the dashboard over HTTP (real PostgreSQL and Redis)', () => {
  let db: TestDb;
  let ids: Awaited<ReturnType<typeof seed>>;
  let redis: Redis;
  let queues: Queues;
  const prefix = `dmtest-dash-${randomBytes(4).toString('hex')}`;
  const servers: Server[] = [];
  const log = createLogger('silent');

  async function start(token?: string): Promise<string> {
    const server = createHttpServer(dashboardRoutes({ sql: db.sql, queues, cap: 4, token }), log);
    servers.push(server);
    const port = await listen(server, 0, '127.0.0.1');
    return `http://127.0.0.1:${port}`;
  }

  beforeAll(async () => {
    db = await createTestDb();
    ids = await seed(db.sql);
    redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    queues = openQueues(redis, prefix);
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    await Promise.all([queues.ticks.obliterate({ force: true }), queues.relay.obliterate({ force: true }), queues.reconcile.obliterate({ force: true })]);
    await queues.close();
    await redis.quit();
    await db.drop();
  });

  test('GET /api/v1/items: counts by state, leases against the cap, why each waits, questions oldest first, blocked reasons', async () => {
    const base = await start();
    const r = await fetch(`${base}/api/v1/items`);
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.counts).toEqual({ spec: 2, build: 1, review: 1, awaiting_human: 1, blocked: 1, done: 0, cancelled: 0 });
    expect(body.leases).toEqual({ live: 1, cap: 4 });
    const byId = new Map<number, any>(body.items.map((i: { id: number }) => [i.id, i]));
    expect(byId.size).toBe(6);
    // claim order: review, build, then the rest by rank
    expect(body.items[0].id).toBe(ids.reviewing);
    expect(byId.get(ids.running).waiting.kind).toBe('running');
    expect(byId.get(ids.running).waiting.text).toMatch(/^running build on host-a:1 since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(byId.get(ids.running).lease.holder).toBe('host-a:1');
    expect(byId.get(ids.asking).waiting.text).toMatch(/^waiting for an answer to Q-\d+, Q-\d+$/);
    expect(byId.get(ids.blocked).waiting).toMatchObject({ kind: 'blocked', text: 'attempt budget spent: 3 of 3 builds failed' });
    expect(byId.get(ids.queued).waiting.kind).toBe('queued');
    const rev = byId.get(ids.reviewing);
    expect(rev.waiting.kind).toBe('review_run');
    expect(rev.costUsd).toBe(1.25);
    expect(rev.links).toEqual({
      issue: `https://git.example/acme/widgets/issues/6`, pr: 'https://git.example/acme/widgets/pulls/9', run: 'https://git.example/acme/widgets/actions/runs/77',
    });
    expect(body.openQuestions.map((q: { question: string }) => q.question)).toEqual(['Which database?', 'Which port?']);
    expect(body.openQuestions[0]).toMatchObject({ itemId: ids.asking, repo: 'acme/widgets', issueNumber: 3, issueUrl: 'https://git.example/acme/widgets/issues/3' });
    expect(body.blocked).toEqual([expect.objectContaining({ itemId: ids.blocked, reason: 'attempt budget spent: 3 of 3 builds failed' })]);

    const filtered = await (await fetch(`${base}/api/v1/items?state=blocked`)).json();
    expect(filtered.items.map((i: { id: number }) => i.id)).toEqual([ids.blocked]);
    const bad = await fetch(`${base}/api/v1/items?state=nope`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatch(/unknown state/);
  });

  test('GET /api/v1/items/ID: the item with its questions, verdicts and cost; 404 unknown, 400 bad id', async () => {
    const base = await start();
    const r = await fetch(`${base}/api/v1/items/${ids.reviewing}`);
    expect(r.status).toBe(200);
    const item = await r.json();
    expect(item).toMatchObject({ id: ids.reviewing, repo: 'acme/widgets', issueNumber: 6, state: 'review', prNumber: 9, costUsd: 1.25, attempts: 0, budgetCycles: 3 });
    expect(item.verdicts).toEqual([expect.objectContaining({ phase: 'build', verdict: 'pass', toState: 'review', reason: 'PR opened' })]);
    const asking = await (await fetch(`${base}/api/v1/items/${ids.asking}`)).json();
    expect(asking.questions.map((q: { question: string; status: string }) => [q.question, q.status])).toEqual([['Which database?', 'open'], ['Which port?', 'open']]);
    expect(asking.openQuestions).toEqual(asking.questions.map((q: { tag: string }) => q.tag));

    const missing = await fetch(`${base}/api/v1/items/999999`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no item 999999' });
    for (const bad of ['abc', '0', '-3', '1.5']) {
      const res = await fetch(`${base}/api/v1/items/${bad}`);
      expect(res.status).toBe(400);
    }
    expect((await fetch(`${base}/api/v1/items/1`, { method: 'DELETE' })).status).toBe(405);
  });

  test('GET /: every value from the database is escaped', async () => {
    const base = await start();
    const r = await fetch(`${base}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await r.text();
    expect(html).toContain(escapeHtml('<script>alert("x")</script><img src=x onerror=alert(1)>'));
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toMatch(/<meta http-equiv="refresh" content="15">/);
    expect(html).toContain(`data-item-id="${ids.evil}"`);
    expect(html).toContain('attempt budget spent: 3 of 3 builds failed');
  });

  test('the token: 401 without it, 200 with the header, ?token= sets an HttpOnly cookie that then suffices', async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`;
    const base = await start(token);
    for (const path of ['/', '/api/v1/items', `/api/v1/items/${ids.queued}`, '/admin/queues', '/admin/queues/api/queues']) {
      const r = await fetch(`${base}${path}`);
      expect([path, r.status]).toEqual([path, 401]);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect((await fetch(`${base}/`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${base}/`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await fetch(`${base}/?token=wrong`, { redirect: 'manual' })).status).toBe(401);

    const withHeader = await fetch(`${base}/api/v1/items`, { headers: { authorization: `Bearer ${token}` } });
    expect(withHeader.status).toBe(200);
    expect((await withHeader.json()).counts.spec).toBe(2);

    const login = await fetch(`${base}/?token=${token}&x=1`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/?x=1');
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(new RegExp(`^${DASHBOARD_COOKIE}=[^;]+; Path=/; HttpOnly; SameSite=Strict`));
    expect(setCookie).not.toContain(token);
    const cookie = setCookie.split(';')[0]!;
    const page = await fetch(`${base}/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="leases"');
    expect((await fetch(`${base}/api/v1/items`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/admin/queues`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/`, { headers: { cookie: `${DASHBOARD_COOKIE}=forged` } })).status).toBe(401);
    // an API client may pass ?token= too: it is answered directly, not redirected
    expect((await fetch(`${base}/api/v1/items?token=${token}`, { redirect: 'manual' })).status).toBe(200);
  });

  test('/admin/queues: bull-board shows the real queues and their jobs, read-only', async () => {
    await enqueueTicks(queues, 3, 'dashboard-test');
    const base = await start();
    const page = await fetch(`${base}/admin/queues`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('/admin/queues');
    const api = await fetch(`${base}/admin/queues/api/queues`);
    expect(api.status).toBe(200);
    const body = await api.json();
    const byName = new Map<string, any>(body.queues.map((q: { name: string }) => [q.name, q]));
    expect([...byName.keys()].sort()).toEqual(['reconcile', 'relay', 'ticks']);
    expect(byName.get('ticks').counts.waiting).toBe(3);
    expect(byName.get('ticks').readOnlyMode).toBe(true);
    const pause = await fetch(`${base}/admin/queues/api/queues/ticks/pause`, { method: 'PUT' });
    expect(pause.status).toBe(405);
    expect(await queues.ticks.isPaused()).toBe(false);
  });
});
