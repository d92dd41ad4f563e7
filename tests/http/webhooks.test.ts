import type { Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import { createHttpServer, listen } from '../../src/http/server.js';
import { webhookRoute } from '../../src/http/webhooks.js';
import { createLogger } from '../../src/shared/log.js';
import { createMetrics } from '../../src/shared/metrics.js';
import { createTestDb, type TestDb, refuseTitle } from '../support/db.js';
import { commentPayload, giteaBody, giteaHeaders, hookSecretFor, issuePayload, loadFixtures, ownCapture } from '../support/webhookFixtures.js';

const SECRET = 'webhook-secret-for-tests';

describe('POST /api/gitea/webhooks', () => {
  let db: TestDb;
  let server: Server;
  let base: string;
  const after: { wake: boolean; relay: boolean }[] = [];
  beforeAll(async () => {
    db = await createTestDb();
    server = createHttpServer(
      [
        webhookRoute({
          sql: db.sql,
          secret: SECRET,
          triggerLabel: 'damascus',
          botLogin: () => 'damascus-bot',
          log: createLogger('silent'),
          afterCommit: async (o) => {
            after.push({ wake: o.wake, relay: o.relay });
          },
        }),
      ],
      createLogger('silent'),
    );
    base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await db.drop();
  });

  async function deliver(
    payload: unknown,
    event: string,
    eventType: string,
    opts: { delivery?: string; secret?: string; body?: string; headers?: Record<string, string> } = {},
  ) {
    const body = opts.body ?? giteaBody(payload);
    // Signed as Gitea signs once setup installed the hook: with the secret derived for the payload's repository.
    const headers = { ...giteaHeaders(body, opts.secret ?? hookSecretFor(SECRET, payload), event, eventType, opts.delivery), ...opts.headers };
    const res = await fetch(`${base}/api/gitea/webhooks`, { method: 'POST', headers, body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  const counts = async () =>
    (
      await db.sql`
    SELECT (SELECT count(*) FROM webhook_deliveries)::int AS deliveries, (SELECT count(*) FROM work_items)::int AS items,
           (SELECT count(*) FROM events_outbox)::int AS events, (SELECT count(*) FROM projects)::int AS projects`
    )[0]!;

  // What each real capture must get (the first test below delivers them to a fresh database, in this order):
  // 200 with its result when the delivery is stored, 202 with the reason when it is ignored unstored.
  const stored = (result: string, item: unknown = null) => ({ status: 200, json: { result, item } });
  const unstored = (ignored: string) => ({ status: 202, json: { ignored } });
  const unhandledEvent = (event: string) => unstored(`event "${event}" is not handled`);
  const unhandledAction = (event: string, action: string) => unstored(`${event} action "${action}" is not handled`);
  const aPush = unstored('a push: Gitea sends a hook test as a push; nothing to do');
  const expectedAnswer: Record<string, { status: number; json: Record<string, unknown> }> = {
    // ours (Gitea 1.26.3)
    'issue_comment.issue_comment.created.json': stored('ignored: not a story'),
    'issue_comment.issue_comment.edited.json': stored('ignored: not a story'),
    'issues.issue_label.label_updated.json': stored('created', expect.any(Number)),
    'issues.issues.closed.json': stored('ignored: not a story'),
    'issues.issues.opened.json': stored('ignored: trigger label unchanged'),
    'pull_request.pull_request.closed.json': stored('ignored: not a story PR'),
    'pull_request.pull_request.opened.json': unhandledAction('pull_request', 'opened'),
    'pull_request.pull_request_sync.synchronized.json': stored('ignored: not a story PR'),
    'push.push.json': aPush,
    // third-party (beside the repo)
    'create.branch.json': unhandledEvent('create'),
    'delete.branch.json': unhandledEvent('delete'),
    'fork.json': unhandledEvent('fork'),
    'issue_comment.created.on-pull-request.json': stored('ignored: not a story'),
    'issues.assigned.json': unhandledAction('issues', 'assigned'),
    'issues.milestoned.json': unhandledAction('issues', 'milestoned'),
    'issues.opened.json': stored('ignored: trigger label unchanged'),
    'pull_request.assigned.gitea-com.json': unhandledAction('pull_request', 'assigned'),
    'pull_request.assigned.json': unhandledAction('pull_request', 'assigned'),
    'pull_request.closed-merged.json': stored('ignored: not a story PR'),
    'pull_request.closed.json': stored('ignored: not a story PR'),
    'pull_request.edited.title.json': unhandledAction('pull_request', 'edited'),
    'pull_request.label_cleared.json': unhandledAction('pull_request', 'label_cleared'),
    'pull_request.label_updated.added-label.json': unhandledAction('pull_request', 'label_updated'),
    'pull_request.label_updated.json': unhandledAction('pull_request', 'label_updated'),
    'pull_request.milestoned.json': unhandledAction('pull_request', 'milestoned'),
    'pull_request.opened.json': unhandledAction('pull_request', 'opened'),
    'pull_request.review_requested.json': unhandledAction('pull_request', 'review_requested'),
    'pull_request.synchronized.json': stored('ignored: not a story PR'),
    'pull_request_approved.reviewed.json': unhandledEvent('pull_request_approved'),
    'pull_request_comment.reviewed.json': unhandledEvent('pull_request_comment'),
    'pull_request_rejected.reviewed.json': unhandledEvent('pull_request_rejected'),
    'push.json': aPush,
    'release.published.json': unhandledEvent('release'),
    'repository.created.json': unhandledEvent('repository'),
  };

  test('every real captured payload gets its one answer: stored and routed, or ignored and not stored', async () => {
    const fixtures = loadFixtures();
    // a capture added without its expected answer fails here rather than passing on either status
    expect(fixtures.map((f) => f.file).filter((file) => !(file in expectedAnswer))).toEqual([]);
    for (const f of fixtures) {
      const before = await counts();
      const r = await deliver(f.payload, f.event, f.eventType);
      expect({ file: f.file, ...r }).toEqual({ file: f.file, ...expectedAnswer[f.file] });
      const now = await counts();
      if (r.status === 202) {
        expect(now).toEqual(before); // ignored: nothing written
      } else {
        expect(now.deliveries).toBe(before.deliveries + 1);
      }
    }
  });

  test('trigger label added → project and item created in spec; duplicate delivery does nothing', async () => {
    const payload = issuePayload({ action: 'label_updated', number: 7, labels: ['bug', 'damascus'] });
    const delivery = randomUUID();
    after.length = 0;
    const r = await deliver(payload, 'issues', 'issue_label', { delivery });
    expect(r).toEqual({ status: 200, json: { result: 'created', item: expect.any(Number) } });
    expect(after).toEqual([{ wake: true, relay: true }]);
    const [item] =
      await db.sql`SELECT w.state, w.title, w.requested_by, p.owner, p.name FROM work_items w JOIN projects p ON p.id = w.project_id WHERE w.id = ${r.json.item as number}`;
    expect(item).toEqual({ state: 'spec', title: 'story 7', requestedBy: 'alice', owner: 'acme', name: 'widgets' });
    const before = await counts();
    const dup = await deliver(payload, 'issues', 'issue_label', { delivery });
    expect(dup).toEqual({ status: 200, json: { duplicate: true } });
    expect(await counts()).toEqual(before);
    // a second, different delivery with the label still there changes nothing (the label did not change)
    const again = await deliver(payload, 'issues', 'issue_label');
    expect(again.json.result).toMatch(/^ignored/);
    expect((await counts()).items).toBe(before.items);
  });

  test('trigger label removed → cancelled; added again → reactivated at its last phase; issue closed → to the inbox (who closed it decides)', async () => {
    const created = await deliver(issuePayload({ action: 'label_updated', number: 8, labels: ['damascus'] }), 'issues', 'issue_label');
    const id = created.json.item as number;
    await db.sql`UPDATE work_items SET state = 'build' WHERE id = ${id}`;
    const removed = await deliver(issuePayload({ action: 'label_updated', number: 8, labels: ['bug'] }), 'issues', 'issue_label');
    expect(removed.json.result).toBe('cancelled');
    expect((await db.sql`SELECT state, resume_phase FROM work_items WHERE id = ${id}`)[0]).toEqual({ state: 'cancelled', resumePhase: 'build' });
    const back = await deliver(issuePayload({ action: 'label_updated', number: 8, labels: ['damascus'] }), 'issues', 'issue_label');
    expect(back.json.result).toBe('reactivated');
    expect((await db.sql`SELECT state FROM work_items WHERE id = ${id}`)[0]!.state).toBe('build');
    // Closing cancels only when a writer closed it, which takes Gitea's API: the intake leaves it to the inbox, untouched.
    const closed = await deliver(issuePayload({ action: 'closed', number: 8, labels: ['damascus'], state: 'closed' }), 'issues', 'issues');
    expect(closed.json).toEqual({ result: 'inbox: issue closed', item: id });
    expect((await db.sql`SELECT state FROM work_items WHERE id = ${id}`)[0]!.state).toBe('build');
    expect((await db.sql`SELECT processed_at FROM webhook_deliveries WHERE item_id = ${id} AND result = 'inbox: issue closed'`)[0]!.processedAt).toBeNull();
    await db.sql`UPDATE webhook_deliveries SET processed_at = now() WHERE item_id = ${id}`;
    // label_cleared carries a stale label list: it still means "no labels"
    const c2 = await deliver(issuePayload({ action: 'label_updated', number: 9, labels: ['damascus'] }), 'issues', 'issue_label');
    const cleared = await deliver(issuePayload({ action: 'label_cleared', number: 9, labels: ['damascus'] }), 'issues', 'issue_label');
    expect(cleared.json.result).toBe('cancelled');
    expect((await db.sql`SELECT state FROM work_items WHERE id = ${c2.json.item as number}`)[0]!.state).toBe('cancelled');
    const events = await db.sql`SELECT type FROM events_outbox WHERE item_id = ${id} ORDER BY id`;
    expect(events.map((e) => e.type)).toEqual(['work.created', 'work.cancelled', 'work.reactivated']);
  });

  test('a deleted issue cancels its item for good: a label event seen later does not bring it back', async () => {
    const created = await deliver(issuePayload({ action: 'label_updated', number: 31, labels: ['damascus'] }), 'issues', 'issue_label');
    const id = created.json.item as number;
    const deleted = await deliver(issuePayload({ action: 'deleted', number: 31, labels: ['damascus'] }), 'issues', 'issues');
    expect(deleted.json.result).toBe('cancelled: issue deleted');
    expect((await db.sql`SELECT state, details->'issueDeleted' AS gone FROM work_items WHERE id = ${id}`)[0]).toEqual({ state: 'cancelled', gone: true });
    // Deliveries overtake each other: a label event sent before the deletion may arrive after it.
    const late = await deliver(issuePayload({ action: 'label_updated', number: 31, labels: ['damascus'] }), 'issues', 'issue_label');
    expect(late.json.result).toBe('ignored: the issue was deleted');
    expect((await db.sql`SELECT state FROM work_items WHERE id = ${id}`)[0]!.state).toBe('cancelled');
  });

  test("the bot's own events and gitea-actions are ignored; a person's comment on a story goes to the inbox", async () => {
    const created = await deliver(issuePayload({ action: 'label_updated', number: 10, labels: ['damascus'] }), 'issues', 'issue_label');
    const before = await counts();
    const own = await deliver(commentPayload({ number: 10, body: 'status comment', sender: 'damascus-bot' }), 'issue_comment', 'issue_comment');
    expect(own.status).toBe(202);
    const actions = await deliver(
      issuePayload({ action: 'label_updated', number: 11, labels: ['damascus'], sender: 'gitea-actions' }),
      'issues',
      'issue_label',
    );
    expect(actions.status).toBe(202);
    expect(await counts()).toEqual(before);
    const human = await deliver(commentPayload({ number: 10, body: '/damascus status', sender: 'bob' }), 'issue_comment', 'issue_comment');
    expect(human.json).toEqual({ result: 'inbox', item: created.json.item });
    const [row] = await db.sql`SELECT processed_at, payload FROM webhook_deliveries WHERE item_id = ${created.json.item as number} AND result = 'inbox'`;
    expect(row!.processedAt).toBeNull();
    expect((row!.payload as { comment: { body: string } }).comment.body).toBe('/damascus status');
  });

  test("ATTACK: a delivery signed with another repository's secret, or with the shared DAMASCUS_WEBHOOK_SECRET, is refused", async () => {
    const before = await counts();
    // Someone who learnt acme/widgets' hook secret signs a payload that names acme/other.
    const forB = issuePayload({ action: 'label_updated', number: 40, labels: ['damascus'], repo: 'acme/other', repoId: 2 });
    const forA = issuePayload({ action: 'label_updated', number: 40, labels: ['damascus'] });
    const secretA = hookSecretFor(SECRET, forA);
    expect(await deliver(forB, 'issues', 'issue_label', { secret: secretA })).toEqual({ status: 401, json: { error: 'missing or wrong X-Hub-Signature-256' } });
    // A real delivery for A whose body is re-sent with B's name (the signature no longer covers it).
    const bodyA = giteaBody(forA);
    const replayed = bodyA.replaceAll('acme/widgets', 'acme/other').replace('"name": "widgets"', '"name": "other"');
    expect(replayed).not.toBe(bodyA);
    const headersA = giteaHeaders(bodyA, secretA, 'issues', 'issue_label');
    const res = await fetch(`${base}/api/gitea/webhooks`, { method: 'POST', headers: headersA, body: replayed });
    expect(res.status).toBe(401);
    await res.body?.cancel();
    // The master secret itself (what every hook shared before) signs for no repository.
    expect((await deliver(forA, 'issues', 'issue_label', { secret: SECRET })).status).toBe(401);
    // Owner/name casing does not change the key (Gitea names are case-insensitive); the right key still works.
    expect(
      (
        await deliver(forA, 'issues', 'issue_label', {
          secret: hookSecretFor(SECRET, issuePayload({ action: 'x', number: 1, labels: [], repo: 'ACME/Widgets' })),
        })
      ).status,
    ).toBe(200);
    expect((await counts()).items).toBe(before.items + 1);
  });

  test('ATTACK: the same comment delivery replayed changes nothing the second time', async () => {
    const created = await deliver(issuePayload({ action: 'label_updated', number: 41, labels: ['damascus'] }), 'issues', 'issue_label');
    const delivery = randomUUID();
    const comment = commentPayload({ number: 41, body: '/damascus cancel', sender: 'bob', commentId: 4141 });
    expect((await deliver(comment, 'issue_comment', 'issue_comment', { delivery })).json).toEqual({ result: 'inbox', item: created.json.item });
    const before = await counts();
    expect(await deliver(comment, 'issue_comment', 'issue_comment', { delivery })).toEqual({ status: 200, json: { duplicate: true } });
    expect(await counts()).toEqual(before);
    expect(await db.sql`SELECT id FROM webhook_deliveries WHERE item_id = ${created.json.item as number} AND result = 'inbox'`).toHaveLength(1);
  });

  test('bad input gets its status code and writes nothing', async () => {
    const payload = issuePayload({ action: 'label_updated', number: 12, labels: ['damascus'] });
    const before = await counts();
    expect((await deliver(payload, 'issues', 'issue_label', { secret: 'wrong' })).status).toBe(401);
    expect((await deliver(payload, 'issues', 'issue_label', { headers: { 'x-hub-signature-256': '' } })).status).toBe(401);
    expect((await deliver(null, 'issues', 'issue_label', { body: '{"action": "label_updated", ' })).status).toBe(400);
    expect((await deliver(payload, 'issues', 'issue_label', { headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
    const huge = JSON.stringify({ ...payload, padding: 'x'.repeat(1024 * 1024) });
    expect((await deliver(null, 'issues', 'issue_label', { body: huge })).status).toBe(413);
    expect((await deliver(payload, 'wiki', 'wiki')).status).toBe(202);
    expect((await deliver(payload, 'issues', 'issue_label', { headers: { 'x-gitea-delivery': '' } })).status).toBe(400);
    const broken = issuePayload({ action: 'label_updated', number: 13, labels: ['damascus'] });
    (broken as { repository: { id: unknown } }).repository.id = 'not a number';
    expect((await deliver(broken, 'issues', 'issue_label')).status).toBe(400);
    // A payload that names no repository has no key to be verified with.
    delete (broken as { repository?: unknown }).repository;
    expect((await deliver(broken, 'issues', 'issue_label', { secret: SECRET })).status).toBe(401);
    expect(await counts()).toEqual(before);
  });

  test('pull requests: merged by a person → done; closed unmerged → parked with a question; synchronized → old CI results stop counting', async () => {
    // Our Gitea 1.26.3 captures: a PR merged by the bot, and a push to an open PR; the unmerged close is the
    // merged one with Gitea's values for "not merged".
    type Pr = { number: number; repository: { owner: { login: string }; name: string }; pull_request: Record<string, unknown> & { head: { sha: string } } };
    const mergedPr = ownCapture('pull_request.pull_request.closed.json').payload as unknown as Pr;
    expect(mergedPr.pull_request.merged).toBe(true);
    const unmergedPr = { ...mergedPr, pull_request: { ...mergedPr.pull_request, merged: false, merged_at: null, merge_commit_sha: null, merged_by: null } };
    const syncedPr = ownCapture('pull_request.pull_request_sync.synchronized.json').payload as unknown as Pr;
    const repoOf = (p: Pr) => [p.repository.owner.login, p.repository.name] as const;
    const seed = async (owner: string, name: string, issue: number, pr: number, state: string) => {
      const [p] =
        await db.sql`INSERT INTO projects (owner, name) VALUES (${owner}, ${name}) ON CONFLICT (owner, name) DO UPDATE SET name = EXCLUDED.name RETURNING id`;
      await db.sql`UPDATE work_items SET pr_number = NULL WHERE project_id = ${p!.id} AND pr_number = ${pr}`;
      const [w] =
        await db.sql`INSERT INTO work_items (project_id, issue_number, pr_number, state) VALUES (${p!.id}, ${issue}, ${pr}, ${state}::work_state) RETURNING id`;
      return w!.id as number;
    };
    const merged = await seed(...repoOf(mergedPr), 501, mergedPr.number, 'review');
    const r1 = await deliver(mergedPr, 'pull_request', 'pull_request');
    expect(r1.json).toEqual({ result: 'done: merged', item: merged });
    expect((await db.sql`SELECT state FROM work_items WHERE id = ${merged}`)[0]!.state).toBe('done');

    // the issue's closing seen before the merge (Gitea sends them in no fixed order): cancelled, then done
    const raced = await seed(...repoOf(mergedPr), 504, mergedPr.number, 'cancelled');
    const r1b = await deliver(mergedPr, 'pull_request', 'pull_request');
    expect(r1b.json).toEqual({ result: 'done: merged', item: raced });
    expect((await db.sql`SELECT state FROM work_items WHERE id = ${raced}`)[0]!.state).toBe('done');

    const closed = await seed(...repoOf(mergedPr), 502, mergedPr.number, 'review');
    const r2 = await deliver(unmergedPr, 'pull_request', 'pull_request');
    expect(r2.json).toEqual({ result: 'parked: PR closed unmerged', item: closed });
    expect((await db.sql`SELECT state, resume_phase FROM work_items WHERE id = ${closed}`)[0]).toEqual({ state: 'awaiting_human', resumePhase: 'review' });
    const [q] = await db.sql`SELECT question, status FROM human_issues WHERE item_id = ${closed}`;
    expect(q!.question).toMatch(/closed without merging/);
    // closed unmerged after a cancel: stays cancelled
    const gone = await seed(...repoOf(mergedPr), 505, mergedPr.number, 'cancelled');
    const r2b = await deliver(unmergedPr, 'pull_request', 'pull_request');
    expect(r2b.json).toEqual({ result: 'ignored: already finished', item: gone });

    const synced = await seed(...repoOf(syncedPr), 503, syncedPr.number, 'review');
    await db.sql`UPDATE work_items SET run_after = now() + interval '1 hour' WHERE id = ${synced}`;
    await db.sql`INSERT INTO ci_results (item_id, head_sha, run_id, passed) VALUES (${synced}, 'oldsha', 'run-1', true)`;
    const r3 = await deliver(syncedPr, 'pull_request', 'pull_request_sync');
    expect(r3.json).toEqual({ result: 'head moved', item: synced });
    expect((await db.sql`SELECT superseded FROM ci_results WHERE item_id = ${synced}`)[0]!.superseded).toBe(true);
    const [row] = await db.sql`SELECT run_after, head_sha AS head FROM work_items WHERE id = ${synced}`;
    expect(row).toEqual({ runAfter: null, head: syncedPr.pull_request.head.sha });
  });

  test('concurrent deliveries are each stored exactly once', async () => {
    const payloads = Array.from({ length: 40 }, (_, i) => issuePayload({ action: 'label_updated', number: 1000 + i, labels: ['damascus'] }));
    const results = await Promise.all(payloads.map((p) => deliver(p, 'issues', 'issue_label')));
    expect(results.every((r) => r.status === 200 && r.json.result === 'created')).toBe(true);
    const [n] = await db.sql`SELECT count(*)::int AS n FROM work_items WHERE issue_number >= 1000`;
    expect(n!.n).toBe(40);
  });

  test('a group of concurrent deliveries: one bad delivery fails alone and writes nothing', async () => {
    const good = Array.from({ length: 12 }, (_, i) => issuePayload({ action: 'label_updated', number: 2000 + i, labels: ['damascus'] }));
    // a database refusal for one delivery (injected by a trigger) fails its whole group's statement,
    // which is then written again one delivery at a time. How these HTTP deliveries group depends on
    // their arrival; tests/db/intakeGroup.test.ts drives the same fallback with a known group.
    const refusal = await refuseTitle(db.sql, 'refused by the database');
    const bad = issuePayload({ action: 'label_updated', number: 2100, labels: ['damascus'], title: 'refused by the database' });
    const badDelivery = randomUUID();
    const added = issuePayload({ action: 'label_updated', number: 2200, labels: ['damascus'] });
    const results = await Promise.all([
      ...good.map((p) => deliver(p, 'issues', 'issue_label')),
      deliver(bad, 'issues', 'issue_label', { delivery: badDelivery }),
      deliver(added, 'issues', 'issue_label'),
    ]);
    await refusal.remove();
    expect(results.slice(0, 12).map((r) => r.json.result)).toEqual(Array(12).fill('created'));
    expect(results[12]!.status).toBe(503);
    expect(results[13]!.json.result).toBe('created');
    // the same group path also cancels (the removal runs its own statement between the two)
    const removed = await deliver(issuePayload({ action: 'label_cleared', number: 2200, labels: [] }), 'issues', 'issue_label');
    expect(removed.json.result).toBe('cancelled');
    // nothing of the bad delivery was written, not even its id (a retry by hand is not a duplicate)
    expect(await db.sql`SELECT id FROM webhook_deliveries WHERE delivery_id = ${badDelivery}`).toHaveLength(0);
    expect(await db.sql`SELECT id FROM work_items WHERE issue_number = 2100`).toHaveLength(0);
    const rows = await db.sql<{ issueNumber: number; state: string }[]>`
      SELECT issue_number, state FROM work_items WHERE issue_number >= 2000 ORDER BY issue_number`;
    expect(rows).toEqual([...good.map((_, i) => ({ issueNumber: 2000 + i, state: 'spec' })), { issueNumber: 2200, state: 'cancelled' }]);
    // every stored delivery was settled with its result
    expect(await db.sql`SELECT id FROM webhook_deliveries WHERE result = 'received'`).toHaveLength(0);
  });

  test("a signed push (what Gitea's hook test sends) is answered 202 and counted as `test`; an unsigned one is refused as bad_signature", async () => {
    const metrics = createMetrics();
    const counted = createHttpServer(
      [
        webhookRoute({
          sql: db.sql,
          secret: SECRET,
          triggerLabel: 'damascus',
          botLogin: () => 'damascus-bot',
          log: createLogger('silent'),
          metrics,
          afterCommit: async () => {},
        }),
      ],
      createLogger('silent'),
    );
    const url = `http://127.0.0.1:${await listen(counted, 0, '127.0.0.1')}/api/gitea/webhooks`;
    const counter = async (result: string) => (await metrics.webhookDeliveries.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
    try {
      const push = ownCapture('push.push.json');
      const body = giteaBody(push.payload);
      const before = await counts();
      const signed = await fetch(url, { method: 'POST', headers: giteaHeaders(body, hookSecretFor(SECRET, push.payload), 'push', 'push'), body });
      expect(signed.status).toBe(202);
      expect(await signed.json()).toEqual({ ignored: 'a push: Gitea sends a hook test as a push; nothing to do' });
      expect([await counter('test'), await counter('ignored'), await counter('bad_signature')]).toEqual([1, 0, 0]);

      const unsignedHeaders: Record<string, string> = giteaHeaders(body, hookSecretFor(SECRET, push.payload), 'push', 'push');
      for (const h of ['x-hub-signature-256', 'x-hub-signature', 'x-gitea-signature', 'x-gogs-signature']) delete unsignedHeaders[h];
      const unsigned = await fetch(url, { method: 'POST', headers: unsignedHeaders, body });
      expect(unsigned.status).toBe(401);
      await unsigned.body?.cancel();
      const wrong = await fetch(url, { method: 'POST', headers: giteaHeaders(body, 'another-secret', 'push', 'push'), body });
      expect(wrong.status).toBe(401);
      await wrong.body?.cancel();
      expect([await counter('test'), await counter('bad_signature')]).toEqual([1, 2]);
      expect(await counts()).toEqual(before);
    } finally {
      await new Promise((r) => counted.close(r));
    }
  });

  test('a title with a NUL character (which PostgreSQL text cannot hold) still starts the story', async () => {
    const r = await deliver(issuePayload({ action: 'label_updated', number: 2300, labels: ['damascus'], title: 'nul \u0000inside' }), 'issues', 'issue_label');
    expect(r.json.result).toBe('created');
    const [row] = await db.sql`SELECT title FROM work_items WHERE issue_number = 2300`;
    expect(row!.title).toBe('nul inside');
  });
});
