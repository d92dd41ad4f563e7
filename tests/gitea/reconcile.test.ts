import { createGiteaClient } from '../../src/gitea/client.js';
import { reconcile } from '../../src/gitea/reconcile.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createLogger } from '../../src/log.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { damascus } from '../support/cli.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';

describe('reconcile sweep and damascus enqueue against the simulated Gitea', () => {
  let db: TestDb;
  let sim: GiteaSim;
  beforeAll(async () => {
    db = await createTestDb();
    sim = await startGiteaSim();
    await sim.createRepo('acme', 'widgets', { files: { 'README.md': '# widgets\n' } });
    sim.addUser('alice', { permissions: { 'acme/widgets': 'write' } });
    sim.createLabel('acme', 'widgets', { name: 'damascus' });
  });
  afterAll(async () => {
    await sim.close();
    await db.drop();
  });
  const client = () => createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 });
  const itemFor = async (n: number) => (await db.sql`SELECT id, state FROM work_items WHERE issue_number = ${n}`)[0];

  test('finds labelled issues whose webhook was missed, and closed issues, through the intake write path', async () => {
    await upsertProject(db.sql, { owner: 'acme', name: 'widgets' });
    const missed = sim.createIssue('acme', 'widgets', { title: 'missed story', user: 'alice', labels: ['damascus'] });
    const plain = sim.createIssue('acme', 'widgets', { title: 'not a story', user: 'alice' });
    const first = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(first).toMatchObject({ projects: 1, created: 1, errors: [], wake: true });
    expect(await itemFor(missed)).toMatchObject({ state: 'spec' });
    expect(await itemFor(plain)).toBeUndefined();
    // nothing new: a second sweep writes no item and no delivery for the tracked issue
    const [d1] = await db.sql`SELECT count(*)::int AS n FROM webhook_deliveries`;
    const second = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(second.created).toBe(0);
    expect((await db.sql`SELECT count(*)::int AS n FROM webhook_deliveries`)[0]!.n).toBe(d1!.n);
    // closed while Damascus was down → cancelled on the next sweep
    sim.closeIssue('acme', 'widgets', missed, { by: 'alice' });
    const third = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(third.cancelled).toBe(1);
    expect(await itemFor(missed)).toMatchObject({ state: 'cancelled' });
  });

  test('a story whose PR was merged and whose issue was closed meanwhile is done, not cancelled', async () => {
    const [project] = await db.sql`SELECT id FROM projects WHERE owner = 'acme' AND name = 'widgets'`;
    const n = sim.createIssue('acme', 'widgets', { title: 'merged meanwhile', user: 'alice', labels: ['damascus'] });
    const head = await sim.pushToBranch('acme', 'widgets', 'damascus/merged', { files: { 'feature.txt': 'done\n' } });
    const gitea = client();
    const pr = await gitea.createPullRequest('acme', 'widgets', { head: 'damascus/merged', base: 'main', title: 'merged meanwhile', body: `Closes #${n}` });
    await db.sql`INSERT INTO work_items (project_id, issue_number, pr_number, state) VALUES (${project!.id}, ${n}, ${pr.number}, 'review')`;
    // the merge and the issue's closing happen while Damascus is not looking
    await gitea.mergePullRequest('acme', 'widgets', pr.number, { style: 'merge', headCommitId: head });
    sim.closeIssue('acme', 'widgets', n, { by: 'alice' });
    const sweep = await reconcile({ sql: db.sql, gitea, triggerLabel: 'damascus', log: createLogger('silent') });
    expect(sweep).toMatchObject({ prs: 1, cancelled: 0, errors: [] });
    expect(await itemFor(n)).toMatchObject({ state: 'done' });
  });

  test('a NUL character in an issue read from the API is dropped, as in a webhook, and the story is not lost', async () => {
    const n = sim.createIssue('acme', 'widgets', { title: 'odd\u0000 title', body: 'odd\u0000 body', user: 'alice', labels: ['damascus'] });
    const sweep = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(sweep).toMatchObject({ created: 1, errors: [] });
    expect((await db.sql`SELECT title FROM work_items WHERE issue_number = ${n}`)[0]).toEqual({ title: 'odd title' });
  });

  test('damascus enqueue labels the issue through the API and reports the item id', async () => {
    const n = sim.createIssue('acme', 'widgets', { title: 'enqueue me', user: 'alice' });
    const env = { DATABASE_URL: db.url, GITEA_URL: sim.url, GITEA_TOKEN: sim.token, DAMASCUS_DATA_DIR: '/tmp' };
    const r = await damascus(['enqueue', `acme/widgets#${n}`], env);
    expect(r.stderr).toBe('');
    const item = await itemFor(n);
    expect(r.stdout.trim()).toBe(`acme/widgets#${n}: item ${item!.id} (created)`);
    expect(sim.issueLabels('acme', 'widgets', n)).toContain('damascus');
    const again = await damascus(['enqueue', `acme/widgets#${n}`], env);
    expect(again.stdout.trim()).toBe(`acme/widgets#${n}: item ${item!.id} (already tracked)`);
    const bad = await damascus(['enqueue', 'nonsense'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected OWNER\/REPO#N/);
    expect(r.stdout + r.stderr).not.toContain(sim.token);
  });
});
