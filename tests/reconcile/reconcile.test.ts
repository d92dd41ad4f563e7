import { createGiteaClient } from '../../src/gitea/client.js';
import { reconcile } from '../../src/reconcile/reconcile.js';
import { processInbox } from '../../src/inbox/inbox.js';
import { createPermissionCache } from '../../src/gitea/permissions.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createLogger } from '../../src/shared/log.js';
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
  /** The inbox, which settles each closing the sweep replays: a writer's closing cancels. */
  const inbox = () =>
    processInbox({
      sql: db.sql,
      gitea: client(),
      log: createLogger('silent'),
      botLogin: sim.botLogin,
      permissions: createPermissionCache({ gitea: client() }),
    });
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
    // closed by a writer while Damascus was down → the next sweep replays it, and the inbox cancels
    sim.closeIssue('acme', 'widgets', missed, { by: 'alice' });
    const third = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(third.errors).toEqual([]);
    expect((await inbox()).processed).toBe(1);
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

  test("a story found by the sweep is credited to whoever added the label (from the issue's timeline), not to the sweep", async () => {
    sim.addUser('carol', { permissions: { 'acme/widgets': 'write' } });
    const n = sim.createIssue('acme', 'widgets', { title: 'labelled while Damascus was down', user: 'bob' });
    sim.labelIssue('acme', 'widgets', n, ['damascus'], { by: 'carol' });
    const sweep = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(sweep).toMatchObject({ created: 1, errors: [] });
    expect((await db.sql`SELECT requested_by FROM work_items WHERE issue_number = ${n}`)[0]).toEqual({ requestedBy: 'carol' });
  });

  test("a deleted issue cancels its item, and does not stop the sweep of the repo's other stories", async () => {
    const doomed = sim.createIssue('acme', 'widgets', { title: 'will be deleted', user: 'alice', labels: ['damascus'] });
    const other = sim.createIssue('acme', 'widgets', { title: 'closed meanwhile', user: 'alice', labels: ['damascus'] });
    await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(await itemFor(doomed)).toMatchObject({ state: 'spec' });
    // Both happen while no webhook gets through: the issue is deleted (GET answers 404, its comments 500) and another is closed.
    sim.dropWebhooks(true);
    sim.deleteIssue('acme', 'widgets', doomed, { by: 'alice' });
    sim.closeIssue('acme', 'widgets', other, { by: 'alice' });
    sim.dropWebhooks(false);
    const sweep = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(sweep.errors).toEqual([]);
    expect(sweep.cancelled).toBe(1);
    await inbox();
    expect(await itemFor(doomed)).toMatchObject({ state: 'cancelled' });
    expect(await itemFor(other)).toMatchObject({ state: 'cancelled' });
    const [d] = await db.sql`SELECT details->'issueDeleted' AS deleted FROM work_items WHERE issue_number = ${doomed}`;
    expect(d!.deleted).toBe(true);
    // A later sweep is quiet: nothing more to do for either.
    expect(await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') })).toMatchObject({
      cancelled: 0,
      errors: [],
    });
  });

  test('an item whose issue Gitea cannot show (a 500) is reported, and the rest of the repo is still swept', async () => {
    const broken = sim.createIssue('acme', 'widgets', { title: 'broken', user: 'alice', labels: ['damascus'] });
    const fine = sim.createIssue('acme', 'widgets', { title: 'fine', user: 'alice', labels: ['damascus'] });
    await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    sim.closeIssue('acme', 'widgets', fine, { by: 'alice' });
    sim.faults.add({ method: 'GET', path: `/repos/acme/widgets/issues/${broken}`, status: 500 });
    const sweep = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    sim.faults.clear();
    expect(sweep.errors).toEqual([expect.stringMatching(new RegExp(`^acme/widgets#${broken}: Gitea GET /repos/acme/widgets/issues/${broken} → 500`))]);
    await inbox();
    expect(await itemFor(fine)).toMatchObject({ state: 'cancelled' });
  });

  test('a trigger label removed right after it was added, the deliveries overtaking each other: the sweep ends where Gitea is', async () => {
    const n = sim.createIssue('acme', 'widgets', { title: 'changed its mind', user: 'alice' });
    sim.labelIssue('acme', 'widgets', n, ['damascus'], { by: 'alice' });
    await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(await itemFor(n)).toMatchObject({ state: 'spec' });
    // The removal's webhook came first and found no item; the addition's came last and made one: Gitea shows no label.
    sim.unlabel('acme', 'widgets', n, ['damascus'], { by: 'alice' });
    const sweep = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    expect(sweep.cancelled).toBe(1);
    expect(await itemFor(n)).toMatchObject({ state: 'cancelled' });
  });

  test("a human's answer whose webhook was lost is found by the sweep, put into the inbox once, and answers the question", async () => {
    const n = sim.createIssue('acme', 'widgets', { title: 'asks a question', user: 'alice', labels: ['damascus'] });
    await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent') });
    const it = await itemFor(n);
    const [q] = await db.sql`
      WITH q AS (INSERT INTO human_issues (item_id, question, resume_phase) VALUES (${it!.id}, 'Which colour?', 'spec') RETURNING id, tag)
      UPDATE work_items SET state = 'awaiting_human', resume_phase = 'spec' WHERE id = ${it!.id} RETURNING (SELECT id FROM q) AS id, (SELECT tag FROM q) AS tag`;
    sim.dropWebhooks(true);
    const botNote = sim.comment('acme', 'widgets', n, 'the bot talking', { by: sim.botLogin });
    const answer = sim.comment('acme', 'widgets', n, `${q!.tag}: blue`, { by: 'alice' });
    sim.dropWebhooks(false);
    const sweep = await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent'), botLogin: sim.botLogin });
    expect(sweep.comments).toBe(1);
    const stored = await db.sql`SELECT comment_id, processed_at FROM webhook_deliveries WHERE item_id = ${it!.id} AND comment_id IS NOT NULL`;
    expect(stored).toEqual([{ commentId: answer.id, processedAt: null }]);
    expect(stored.map((r) => r.commentId)).not.toContain(botNote.id);
    // Swept again, or its webhook arriving late: the comment is not taken twice.
    expect((await reconcile({ sql: db.sql, gitea: client(), triggerLabel: 'damascus', log: createLogger('silent'), botLogin: sim.botLogin })).comments).toBe(0);
    const out = await inbox();
    expect(out.resumedItemIds).toEqual([it!.id]);
    expect((await db.sql`SELECT status, answer, answered_by FROM human_issues WHERE id = ${q!.id}`)[0]).toEqual({
      status: 'answered',
      answer: `${q!.tag}: blue`,
      answeredBy: 'alice',
    });
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

  test('damascus enqueue credits whoever added the label: a person who labelled before (webhook lost), else the bot that enqueue labels as', async () => {
    sim.addUser('dave', { permissions: { 'acme/widgets': 'write' } });
    const env = { DATABASE_URL: db.url, GITEA_URL: sim.url, GITEA_TOKEN: sim.token, DAMASCUS_DATA_DIR: '/tmp' };
    sim.dropWebhooks(true);
    const labelled = sim.createIssue('acme', 'widgets', { title: 'dave labelled it; the delivery was lost', user: 'bob' });
    sim.labelIssue('acme', 'widgets', labelled, ['damascus'], { by: 'dave' });
    sim.dropWebhooks(false);
    const fresh = sim.createIssue('acme', 'widgets', { title: 'nobody labelled it', user: 'bob' });
    for (const n of [labelled, fresh]) expect((await damascus(['enqueue', `acme/widgets#${n}`], env)).code).toBe(0);
    const by = async (n: number) => (await db.sql`SELECT requested_by FROM work_items WHERE issue_number = ${n}`)[0]!.requestedBy;
    expect([await by(labelled), await by(fresh)]).toEqual(['dave', sim.botLogin]);
  });
});
