/**
 * The dashboard in a real browser: Debian's headless Chromium, driven by playwright-core, loads the
 * page served from a seeded database, checks what a maintainer sees, and saves a screenshot.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import { chromium, type Browser } from 'playwright-core';
import { createTestDb, type TestDb } from '../support/db.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createWorkItem } from '../../src/db/ops/createWorkItem.js';
import { createLogger } from '../../src/shared/log.js';
import { createHttpServer, listen } from '../../src/http/server.js';
import { dashboardRoutes } from '../../src/http/dashboard.js';
import { openQueues, type Queues } from '../../src/queue/queues.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'tests', 'artifacts');
const CAP = 3;

describe('the dashboard in headless Chromium', () => {
  let db: TestDb;
  let redis: Redis;
  let queues: Queues;
  let server: Server;
  let browser: Browser;
  let base: string;
  const token = `tok-${randomBytes(8).toString('hex')}`;
  const ids: Record<string, number> = {};

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); CI installs it`);
    }
    db = await createTestDb();
    const sql = db.sql;
    const project = await upsertProject(sql, { owner: 'acme', name: 'widgets', htmlUrl: 'https://git.example/acme/widgets' });
    const make = async (key: string, n: number, title: string) => {
      ids[key] = (await createWorkItem(sql, { projectId: project.id, issueNumber: n, title })).item.id;
    };
    await make('spec1', 101, 'Add a health endpoint');
    await make('spec2', 102, 'Document the CLI');
    await make('running', 103, 'Paginate the items API');
    await make('asking', 104, 'Support SQLite');
    await make('blocked', 105, 'Rewrite the scheduler');
    await make('done', 106, 'Fix the typo');
    await sql`UPDATE work_items SET state = 'build', lease_owner = 'worker-7:311', lease_token = ${randomUUID()},
              lease_until = now() + interval '5 minutes', leased_at = now() - interval '3 minutes', attempts = 1 WHERE id = ${ids.running!}`;
    await sql`UPDATE work_items SET state = 'awaiting_human', resume_phase = 'spec' WHERE id = ${ids.asking!}`;
    // inserted newest first, so "oldest first" must come from created_at, not from insertion order
    await sql`INSERT INTO human_issues (item_id, question, resume_phase, created_at) VALUES (${ids.asking!}, 'Should migrations be reversible?', 'spec', now() - interval '10 minutes')`;
    await sql`INSERT INTO human_issues (item_id, question, resume_phase, created_at) VALUES (${ids.asking!}, 'Which SQLite version must we support?', 'spec', now() - interval '3 hours')`;
    await sql`UPDATE work_items SET state = 'blocked', resume_phase = 'build', attempts = 3,
              details = jsonb_build_object('lastTransition', jsonb_build_object('explanation', 'loop-breaker: 3 of 3 build attempts failed the same test')) WHERE id = ${ids.blocked!}`;
    await sql`UPDATE work_items SET state = 'done', pr_number = 12, cost_usd = 2.5 WHERE id = ${ids.done!}`;

    redis = new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
    queues = openQueues(redis, `dmtest-browser-${randomBytes(4).toString('hex')}`);
    server = createHttpServer(dashboardRoutes({ sql, queues, cap: CAP, token, listenHost: '127.0.0.1' }), createLogger('silent'));
    base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    await queues?.close();
    await redis?.quit();
    await db?.drop();
  });

  test('shows counts by state, leases against the cap, the blocked reason, questions oldest first, and why each story waits', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // the token once in the address: the server swaps it for a cookie and drops it from the URL
    const response = await page.goto(`${base}/?token=${token}`);
    expect(response?.status()).toBe(200);
    expect(new URL(page.url()).search).toBe('');
    expect(await page.title()).toBe('Damascus');

    const count = (state: string) => page.locator(`#counts li[data-state="${state}"]`).getAttribute('data-count');
    expect(await count('spec')).toBe('2');
    expect(await count('build')).toBe('1');
    expect(await count('awaiting_human')).toBe('1');
    expect(await count('blocked')).toBe('1');
    expect(await count('done')).toBe('1');
    expect(await count('review')).toBe('0');

    const leases = page.locator('#leases');
    expect(await leases.getAttribute('data-live')).toBe('1');
    expect(await leases.getAttribute('data-cap')).toBe(String(CAP));
    expect(await leases.innerText()).toBe(`Live leases: 1 of ${CAP}`);

    const blocked = page.locator(`#blocked li.blocked[data-item-id="${ids.blocked}"]`);
    expect(await blocked.locator('.reason').innerText()).toBe('loop-breaker: 3 of 3 build attempts failed the same test');

    const questions = await page.locator('#questions li.question .text').allInnerTexts();
    expect(questions).toEqual(['Which SQLite version must we support?', 'Should migrations be reversible?']);

    const row = (key: string) => page.locator(`#stories tr.item[data-item-id="${ids[key]}"]`);
    expect(await row('running').getAttribute('data-state')).toBe('build');
    expect(await row('running').locator('.why').innerText()).toMatch(/^running build on worker-7:311 since \d{4}-\d\d-\d\dT/);
    expect(await row('running').locator('.attempt').innerText()).toBe('attempt 1 of 3');
    expect(await row('asking').locator('.why').innerText()).toMatch(/^waiting for an answer to Q-\d+, Q-\d+$/);
    expect(await row('spec1').locator('.why').innerText()).toBe('queued');
    expect(await row('done').locator('.cost').innerText()).toBe('$2.50');
    expect(await row('done').locator('a.pr-link').getAttribute('href')).toBe('https://git.example/acme/widgets/pulls/12');
    expect(await row('spec1').locator('a.issue-link').getAttribute('href')).toBe('https://git.example/acme/widgets/issues/101');
    expect(await page.locator('section.state-group').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual([
      'spec',
      'build',
      'awaiting_human',
      'blocked',
      'done',
    ]);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(existsSync(join(ARTIFACTS, 'dashboard.png'))).toBe(true);

    // the cookie keeps the queues view open as well
    const board = await page.goto(`${base}/admin/queues`);
    expect(board?.status()).toBe(200);
    await page.close();
  });
});
