import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import { createTestDb, type TestDb } from '../support/db.js';
import type { LooseJson } from '../support/looseJson.js';
import type { Sql } from '../../src/db/connection.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createWorkItem } from '../../src/db/ops/createWorkItem.js';
import { createLogger } from '../../src/shared/log.js';
import { createHttpServer, isLoopbackHost, listen } from '../../src/http/server.js';
import { dashboardRoutes, DASHBOARD_COOKIE, escapeHtml, signSession, type GuardOptions } from '../../src/http/dashboard.js';
import { itemLinks, parseItemId, whyItWaits } from '../../src/http/itemsApi.js';
import { enqueueTicks, openQueues, type Queues } from '../../src/queue/queues.js';

const NOW = new Date('2030-01-01T12:00:00Z');
const at = (iso: string) => new Date(iso);

describe('why an item waits (pure)', () => {
  const base = {
    state: 'build' as const,
    leaseOwner: null,
    leasedAt: null,
    leaseUntil: null,
    runAfter: null,
    gateCount: 0,
    errorCount: 0,
    maxErrors: 5,
    explanation: null,
    updatedAt: at('2030-01-01T11:00:00Z'),
  };

  test('a live lease: running <phase> on <holder> since <leased_at>', () => {
    const w = whyItWaits(
      { ...base, leaseOwner: 'host-a:42', leasedAt: at('2030-01-01T11:59:00Z'), leaseUntil: at('2030-01-01T12:01:00Z'), runAfter: at('2030-01-01T13:00:00Z') },
      [],
      NOW,
    );
    expect(w).toEqual({ kind: 'running', text: 'running build on host-a:42 since 2030-01-01T11:59:00Z', since: at('2030-01-01T11:59:00Z') });
  });

  test('an expired lease is not running: the item is queued again', () => {
    const w = whyItWaits({ ...base, leaseOwner: 'host-a:42', leasedAt: at('2030-01-01T11:00:00Z'), leaseUntil: at('2030-01-01T11:30:00Z') }, [], NOW);
    expect(w.kind).toBe('queued');
  });

  test('run_after in the future: the review run for review, an error retry otherwise; in the past it is queued', () => {
    const later = at('2030-01-01T12:30:00Z');
    expect(whyItWaits({ ...base, state: 'review', runAfter: later }, [], NOW)).toMatchObject({
      kind: 'review_run',
      text: 'waiting for the review run until 2030-01-01T12:30:00Z',
    });
    expect(whyItWaits({ ...base, state: 'review', runAfter: later, errorCount: 2 }, [], NOW)).toMatchObject({
      kind: 'error_retry',
      text: 'retrying after an error (2 of 5), waiting until 2030-01-01T12:30:00Z',
    });
    expect(whyItWaits({ ...base, state: 'spec', runAfter: later, errorCount: 1 }, [], NOW).kind).toBe('error_retry');
    expect(whyItWaits({ ...base, runAfter: at('2030-01-01T11:30:00Z') }, [], NOW).kind).toBe('queued');
  });

  test('gates, questions, blocked, queued and finished', () => {
    expect(whyItWaits({ ...base, gateCount: 1 }, [], NOW)).toMatchObject({ kind: 'gated', text: 'waiting on a dependency or spec approval' });
    const qs = [
      { tag: 'Q-3', createdAt: at('2030-01-01T10:00:00Z') },
      { tag: 'Q-7', createdAt: at('2030-01-01T11:00:00Z') },
    ];
    expect(whyItWaits({ ...base, state: 'awaiting_human' }, qs, NOW)).toEqual({
      kind: 'question',
      text: 'waiting for an answer to Q-3, Q-7',
      since: at('2030-01-01T10:00:00Z'),
    });
    expect(whyItWaits({ ...base, state: 'blocked', explanation: 'attempt budget spent (3 of 3)' }, [], NOW)).toMatchObject({
      kind: 'blocked',
      text: 'attempt budget spent (3 of 3)',
    });
    expect(whyItWaits({ ...base, state: 'spec' }, [], NOW)).toEqual({ kind: 'queued', text: 'queued', since: base.updatedAt });
    expect(whyItWaits({ ...base, state: 'done' }, [], NOW).kind).toBe('finished');
  });

  test('links: the stored issue URL, else the project URL; only http(s) URLs become links', () => {
    const row = {
      issueUrl: null,
      projectHtmlUrl: 'https://git.example/acme/widgets/',
      issueNumber: 7,
      prNumber: 12,
      prUrl: null,
      runUrl: 'https://git.example/acme/widgets/actions/runs/5',
    };
    expect(itemLinks(row)).toEqual({
      issue: 'https://git.example/acme/widgets/issues/7',
      pr: 'https://git.example/acme/widgets/pulls/12',
      run: 'https://git.example/acme/widgets/actions/runs/5',
    });
    expect(itemLinks({ ...row, issueUrl: 'https://other.example/x/y/issues/7', prNumber: null }).issue).toBe('https://other.example/x/y/issues/7');
    expect(itemLinks({ ...row, prNumber: null }).pr).toBeNull();
    expect(itemLinks({ ...row, issueUrl: 'javascript:alert(1)', projectHtmlUrl: 'javascript:alert(2)', runUrl: 'data:text/html,x' })).toEqual({
      issue: null,
      pr: null,
      run: null,
    });
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
  // A build on a local model: its cost nobody knows.
  await sql`INSERT INTO cost_ledger (item_id, phase, kind, usd) VALUES (${reviewing}, 'build', 'agent', NULL)`;
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

  /** A server on 127.0.0.1 (or on `listenHost`, reached through 127.0.0.1). */
  async function start(token?: string, guard: Partial<GuardOptions> = {}): Promise<string> {
    const listenHost = guard.listenHost ?? '127.0.0.1';
    const server = createHttpServer(dashboardRoutes({ sql: db.sql, queues, cap: 4, token, ...guard, listenHost }), log);
    servers.push(server);
    const port = await listen(server, 0, listenHost);
    return `http://127.0.0.1:${port}`;
  }

  /** Open a session with ?token= on the page; the cookie as a browser would send it back. */
  async function login(base: string, token: string): Promise<string> {
    const r = await fetch(`${base}/?token=${token}`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    return (r.headers.get('set-cookie') ?? '').split(';')[0]!;
  }
  const GUARDED = ['/', '/api/v1/items', '/api/v1/items/1', '/admin/queues', '/admin/queues/api/queues'];

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
    const byId: LooseJson = Object.fromEntries(body.items.map((i: { id: number }) => [i.id, i]));
    expect(Object.keys(byId)).toHaveLength(6);
    // claim order: review, build, then the rest by rank
    expect(body.items[0].id).toBe(ids.reviewing);
    expect(byId[ids.running].waiting.kind).toBe('running');
    expect(byId[ids.running].waiting.text).toMatch(/^running build on host-a:1 since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(byId[ids.running].lease.holder).toBe('host-a:1');
    expect(byId[ids.asking].waiting.text).toMatch(/^waiting for an answer to Q-\d+, Q-\d+$/);
    expect(byId[ids.blocked].waiting).toMatchObject({ kind: 'blocked', text: 'attempt budget spent: 3 of 3 builds failed' });
    expect(byId[ids.queued].waiting.kind).toBe('queued');
    const rev = byId[ids.reviewing];
    expect(rev.waiting.kind).toBe('review_run');
    expect(rev).toMatchObject({ costUsd: 1.25, unknownCostRuns: 1 });
    expect(byId[ids.queued].unknownCostRuns).toBe(0);
    expect(rev.links).toEqual({
      issue: `https://git.example/acme/widgets/issues/6`,
      pr: 'https://git.example/acme/widgets/pulls/9',
      run: 'https://git.example/acme/widgets/actions/runs/77',
    });
    expect(body.openQuestions.map((q: { question: string }) => q.question)).toEqual(['Which database?', 'Which port?']);
    expect(body.openQuestions[0]).toMatchObject({
      itemId: ids.asking,
      repo: 'acme/widgets',
      issueNumber: 3,
      issueUrl: 'https://git.example/acme/widgets/issues/3',
    });
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
    expect(item).toMatchObject({
      id: ids.reviewing,
      repo: 'acme/widgets',
      issueNumber: 6,
      state: 'review',
      prNumber: 9,
      costUsd: 1.25,
      attempts: 0,
      budgetCycles: 3,
    });
    expect(item.verdicts).toEqual([expect.objectContaining({ phase: 'build', verdict: 'pass', toState: 'review', reason: 'PR opened' })]);
    const asking = await (await fetch(`${base}/api/v1/items/${ids.asking}`)).json();
    expect(asking.questions.map((q: { question: string; status: string }) => [q.question, q.status])).toEqual([
      ['Which database?', 'open'],
      ['Which port?', 'open'],
    ]);
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
    // Unknown cost is said, never shown as nothing.
    expect(html).toContain('<td class="cost">$1.25 <span class="unknown" title="1 run(s) reported no cost">+ unknown</span>');
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
    expect(setCookie).toMatch(new RegExp(`^${DASHBOARD_COOKIE}=[^;]+; Path=/; Max-Age=43200; HttpOnly; SameSite=Strict$`));
    expect(setCookie).not.toContain(token);
    const cookie = setCookie.split(';')[0]!;
    const page = await fetch(`${base}/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="leases"');
    expect((await fetch(`${base}/api/v1/items`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/admin/queues`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/`, { headers: { cookie: `${DASHBOARD_COOKIE}=forged` } })).status).toBe(401);
  });

  test('attack: no token on a bind that is not loopback: every route refuses (403), even from 127.0.0.1', async () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.5', '192.168.1.2', 'serve', '128.0.0.1', '::ffff:10.0.0.1'].some(isLoopbackHost)).toBe(false);
    const closed = await start(undefined, { listenHost: '0.0.0.0' });
    for (const path of GUARDED) {
      const r = await fetch(`${closed}${path}`, { redirect: 'manual' });
      expect([path, r.status]).toEqual([path, 403]);
      expect((await r.json()).error).toMatch(/DAMASCUS_DASHBOARD_TOKEN is not set and Damascus listens on 0\.0\.0\.0/);
    }
    // the same bind with a token: the token opens it
    const token = `tok-${randomBytes(8).toString('hex')}`;
    const guarded = await start(token, { listenHost: '0.0.0.0' });
    expect((await fetch(`${guarded}/api/v1/items`)).status).toBe(401);
    expect((await fetch(`${guarded}/api/v1/items`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  test('attack: ?token= on a JSON route is refused (401) and opens no session, even with the right token', async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`;
    const base = await start(token);
    for (const path of ['/api/v1/items', `/api/v1/items/${ids.queued}`, '/admin/queues/api/queues', '/admin/queues/static/x.js']) {
      const r = await fetch(`${base}${path}?token=${token}`, { redirect: 'manual' });
      expect([path, r.status]).toEqual([path, 401]);
      expect(r.headers.get('set-cookie')).toBeNull();
      expect((await r.json()).error).toMatch(/Authorization: Bearer/);
    }
    // ?token= next to a valid header is still refused: the token must not travel in URLs at all
    const both = await fetch(`${base}/api/v1/items?token=${token}`, { headers: { authorization: `Bearer ${token}` } });
    expect(both.status).toBe(401);
  });

  test('attack: wrong tokens of every length, in the header and in ?token=, get 401', async () => {
    const token = `tok-${randomBytes(16).toString('hex')}`;
    const base = await start(token);
    const wrong = ['', 'x', token.slice(0, -1), `${token}x`, token.toUpperCase(), `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`, 'y'.repeat(4096)];
    for (const w of wrong) {
      const header = await fetch(`${base}/api/v1/items`, { headers: { authorization: `Bearer ${w}` } });
      expect([w.length, header.status]).toEqual([w.length, 401]);
      const query = await fetch(`${base}/?token=${encodeURIComponent(w)}`, { redirect: 'manual' });
      expect([w.length, query.status, query.headers.get('set-cookie')]).toEqual([w.length, 401, null]);
    }
  });

  test('attack: a session cookie expires after its lifetime (default 12 h), and an old long cookie dies when the lifetime is cut', async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`;
    let now = Date.parse('2030-01-01T12:00:00Z');
    const base = await start(token, { now: () => now });
    const cookie = await login(base, token);
    const at = async (ms: number) => {
      now = Date.parse('2030-01-01T12:00:00Z') + ms;
      return (await fetch(`${base}/api/v1/items`, { headers: { cookie } })).status;
    };
    expect(await at(0)).toBe(200);
    expect(await at(12 * 3_600_000 - 1_000)).toBe(200);
    expect(await at(12 * 3_600_000)).toBe(401);
    expect(await at(30 * 24 * 3_600_000)).toBe(401);
    const expired = await fetch(`${base}/`, { headers: { cookie } });
    expect((await expired.json()).error).toMatch(/session has expired or is not valid/);

    // a cookie from a server with a 48 h lifetime, shown to the same token's server with 12 h: refused
    const fixed = Date.parse('2030-02-01T00:00:00Z');
    const long = await start(token, { sessionHours: 48, now: () => fixed });
    const longCookie = await login(long, token);
    expect((await fetch(`${long}/`, { headers: { cookie: longCookie } })).status).toBe(200);
    const short = await start(token, { sessionHours: 12, now: () => fixed });
    expect((await fetch(`${short}/`, { headers: { cookie: longCookie } })).status).toBe(401);
  });

  test('attack: tampered and forged session cookies get 401', async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`;
    const base = await start(token);
    const cookie = await login(base, token);
    const value = cookie.slice(DASHBOARD_COOKIE.length + 1);
    const [version, expiry, mac] = value.split('.') as [string, string, string];
    expect(version).toBe('v1');
    const status = async (v: string) => (await fetch(`${base}/api/v1/items`, { headers: { cookie: `${DASHBOARD_COOKIE}=${v}` } })).status;
    expect(await status(value)).toBe(200);
    const flipped = `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    const forged = [
      `v1.${Number(expiry) + 3600}.${mac}`, // a later expiry under the old signature
      `v1.${Number(expiry) - 60}.${mac}`,
      `v1.${expiry}.${flipped}`,
      `v2.${expiry}.${mac}`,
      `v1.${expiry}`,
      `${value}.x`,
      // signed with a key derived from another token
      signSession(createHmac('sha256', 'another-token').update('damascus dashboard session key v1').digest(), Number(expiry)),
      // what the old code set: a fixed HMAC of the token that never expired
      createHmac('sha256', token).update('damascus-dashboard-session').digest('base64url'),
    ];
    for (const f of forged) expect([f, await status(f)]).toEqual([f, 401]);
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
    const byName: LooseJson = Object.fromEntries(body.queues.map((q: { name: string }) => [q.name, q]));
    expect(Object.keys(byName).sort()).toEqual(['maintenance', 'reconcile', 'relay', 'ticks']);
    expect(byName.ticks.counts.waiting).toBe(3);
    expect(byName.ticks.readOnlyMode).toBe(true);
    const pause = await fetch(`${base}/admin/queues/api/queues/ticks/pause`, { method: 'PUT' });
    expect(pause.status).toBe(405);
    expect(await queues.ticks.isPaused()).toBe(false);
  });
});
