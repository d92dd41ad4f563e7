import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { openDb, type Sql } from '../../src/db/connection.js';
import { createGroupCommitter } from '../../src/db/groupCommit.js';
import { writeWebhookGroup, type WebhookDelivery } from '../../src/db/ops/applyWebhookEvent.js';
import { recordNewStories, type NewStoryDelivery } from '../../src/db/ops/recordNewStories.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { routeWebhook } from '../../src/gitea/events.js';
import { intakeKeys } from '../../src/http/webhooks.js';
import { createTestDb, type TestDb, refuseTitle } from '../support/db.js';
import { issuePayload } from '../support/webhookFixtures.js';

/** A routed delivery from a payload shaped like Gitea's. */
function delivery(action: 'label_updated' | 'label_cleared', number: number, opts: { labels?: string[]; repo?: string; repoId?: number; id?: string; title?: string } = {}): WebhookDelivery {
  const ev = routeWebhook({ event: 'issues', eventType: 'issue_label', payload: issuePayload({ action, number, labels: opts.labels ?? (action === 'label_cleared' ? [] : ['damascus']), repo: opts.repo, repoId: opts.repoId, title: opts.title }) });
  if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(ev.reason);
  return { delivery: { deliveryId: opts.id ?? randomUUID(), event: 'issues', eventType: 'issue_label', action }, event: ev };
}

describe('the intake group writer', () => {
  let db: TestDb;
  let known: NewStoryDelivery;
  beforeAll(async () => {
    db = await createTestDb();
    // the project as the payloads describe it (so its row is current)
    const ev = delivery('label_updated', 1).event;
    await upsertProject(db.sql, { owner: ev.repo.owner, name: ev.repo.name, giteaRepoId: ev.repo.id, defaultBranch: ev.repo.defaultBranch, htmlUrl: ev.repo.htmlUrl, cloneUrl: ev.repo.cloneUrl });
    known = {
      deliveryId: '', event: 'issues', eventType: 'issue_label', action: 'label_updated', owner: ev.repo.owner, name: ev.repo.name,
      repoId: ev.repo.id, defaultBranch: ev.repo.defaultBranch, htmlUrl: ev.repo.htmlUrl, cloneUrl: ev.repo.cloneUrl,
      issueNumber: 0, title: 't', body: 'b', by: 'alice', issueUrl: 'u',
    };
  });
  afterAll(async () => db.drop());

  test('recordNewStories creates only where nothing is known yet, and leaves every other delivery unwritten', async () => {
    const existing = { ...known, deliveryId: randomUUID(), issueNumber: 10 };
    expect((await recordNewStories(db.sql, [existing]))[0]).toEqual(expect.any(Number));
    const seen = { ...known, deliveryId: existing.deliveryId, issueNumber: 11 }; // a delivery id already stored
    const hasItem = { ...known, deliveryId: randomUUID(), issueNumber: 10 }; // the issue already has an item
    const stale = { ...known, deliveryId: randomUUID(), issueNumber: 12, defaultBranch: 'trunk' }; // the project row is out of date
    const unknownRepo = { ...known, deliveryId: randomUUID(), issueNumber: 13, name: 'elsewhere' };
    const fresh = { ...known, deliveryId: randomUUID(), issueNumber: 14, title: 'a new one' };
    const ids = await recordNewStories(db.sql, [seen, hasItem, stale, unknownRepo, fresh]);
    expect(ids.slice(0, 4)).toEqual([null, null, null, null]);
    expect(ids[4]).toEqual(expect.any(Number));
    const left = [hasItem, stale, unknownRepo].map((d) => d.deliveryId);
    expect(await db.sql`SELECT id FROM webhook_deliveries WHERE delivery_id IN ${db.sql(left)}`).toHaveLength(0);
    const [row] = await db.sql`
      SELECT w.state, w.title, w.requested_by, d.result, d.item_id, d.processed_at IS NOT NULL AS processed,
             (SELECT count(*)::int FROM events_outbox e WHERE e.item_id = w.id AND e.type = 'work.created') AS events
      FROM work_items w JOIN webhook_deliveries d ON d.item_id = w.id WHERE w.id = ${ids[4]!}`;
    expect(row).toEqual({ state: 'spec', title: 'a new one', requestedBy: 'alice', result: 'created', itemId: ids[4], processed: true, events: 1 });
  });

  test('a mixed group: new stories, a new repository and a removal each get their own outcome', async () => {
    const group = [
      delivery('label_updated', 20),
      delivery('label_updated', 5, { repo: 'acme/other', repoId: 77 }), // unknown project: the general path
      delivery('label_updated', 21),
    ];
    const first = await writeWebhookGroup(db.sql, group, 'damascus');
    expect(first.map((o) => o.status === 'recorded' && o.effect)).toEqual(['created', 'created', 'created']);
    const second = await writeWebhookGroup(db.sql, [delivery('label_cleared', 20), delivery('label_updated', 22), group[2]!], 'damascus');
    expect(second.map((o) => (o.status === 'recorded' ? o.effect : o.status))).toEqual(['cancelled', 'created', 'duplicate']);
    const states = await db.sql<{ n: number; state: string }[]>`
      SELECT issue_number AS n, state FROM work_items WHERE issue_number IN (5, 20, 21, 22) ORDER BY issue_number`;
    expect(states).toEqual([{ n: 5, state: 'spec' }, { n: 20, state: 'cancelled' }, { n: 21, state: 'spec' }, { n: 22, state: 'spec' }]);
  });

  test("a repository whose default branch changed: the project row is refreshed and the story created", async () => {
    const d = delivery('label_updated', 30);
    if (d.event.kind !== 'issue.labels') throw new Error('unexpected event');
    const moved = { ...d, event: { ...d.event, repo: { ...d.event.repo, defaultBranch: 'trunk' } } };
    const [out] = await writeWebhookGroup(db.sql, [moved], 'damascus');
    expect(out).toMatchObject({ status: 'recorded', effect: 'created' });
    const [p] = await db.sql`SELECT default_branch FROM projects WHERE owner = ${d.event.repo.owner} AND name = ${d.event.repo.name}`;
    expect(p!.defaultBranch).toBe('trunk');
    // the next new story in that repository takes the one-statement path again
    const next = { ...delivery('label_updated', 31), event: { ...moved.event, issue: { ...moved.event.issue, number: 31 } } };
    expect((await recordNewStories(db.sql, [{ ...known, deliveryId: randomUUID(), issueNumber: 32, defaultBranch: 'trunk' }]))[0]).toEqual(expect.any(Number));
    expect((await writeWebhookGroup(db.sql, [next], 'damascus'))[0]).toMatchObject({ effect: 'created' });
  });

  test('the same delivery written by two processes at once: one item, one "created", one duplicate', async () => {
    const a = openDb(db.url, { max: 2 });
    const b = openDb(db.url, { max: 2 });
    try {
      for (let round = 0; round < 10; round++) {
        const d = delivery('label_updated', 100 + round);
        const outcomes = await Promise.all([writeWebhookGroup(a, [d], 'damascus'), writeWebhookGroup(b, [d], 'damascus')]);
        const statuses = outcomes.map(([o]) => (o!.status === 'recorded' ? o!.effect : o!.status)).sort();
        expect(statuses).toEqual(['created', 'duplicate']);
        const [n] = await db.sql`SELECT count(*)::int AS n FROM work_items WHERE issue_number = ${100 + round}`;
        expect(n!.n).toBe(1);
      }
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('a known group with one delivery the database refuses: the group writes nothing, then each is written alone and only that one fails', async () => {
    // a database refusal for one delivery, injected by a trigger
    const refusal = await refuseTitle(db.sql, 'refused by the database');
    try {
      const group = [delivery('label_updated', 40), delivery('label_updated', 41), delivery('label_updated', 42, { title: 'refused by the database' }), delivery('label_updated', 43)];
      const ids = group.map((d) => d.delivery.deliveryId);
      const numbers = [40, 41, 42, 43];

      // the group writer given the whole group: its statement fails, and nothing of the group is written
      const err = await writeWebhookGroup(db.sql, group, 'damascus').then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(postgres.PostgresError);
      expect((err as Error).message).toBe('refused for the test');
      expect(await db.sql`SELECT id FROM webhook_deliveries WHERE delivery_id IN ${db.sql(ids)}`).toHaveLength(0);
      expect(await db.sql`SELECT id FROM work_items WHERE issue_number IN ${db.sql(numbers)}`).toHaveLength(0);

      // the committer the intake uses, given the same group as one: a first job holds the writer until the
      // whole group is queued, so the group is known, not left to how the jobs happen to arrive
      let release!: () => void;
      const held = new Promise<void>((r) => { release = r; });
      const holder = delivery('label_updated', 39);
      const calls: number[][] = [];
      const committer = createGroupCommitter(db.sql, async (sql: Sql, deliveries: WebhookDelivery[]) => {
        calls.push(deliveries.map((d) => (d.event.kind === 'issue.labels' ? d.event.issue.number : -1)));
        if (deliveries[0] === holder) await held;
        return writeWebhookGroup(sql, deliveries, 'damascus');
      }, { parallel: 1 });
      const first = committer.run(holder, intakeKeys(holder.event, holder.delivery.deliveryId));
      const outcomes = Promise.allSettled(group.map((d) => committer.run(d, intakeKeys(d.event, d.delivery.deliveryId))));
      release();
      expect(await first).toMatchObject({ status: 'recorded', effect: 'created' });
      const settled = await outcomes;
      expect(calls).toEqual([[39], numbers, [40], [41], [42], [43]]);
      expect(settled.map((o) => (o.status === 'fulfilled' && o.value.status === 'recorded' ? o.value.effect : o.status))).toEqual(['created', 'created', 'rejected', 'created']);
      expect(((settled[2] as PromiseRejectedResult).reason as Error).message).toBe('refused for the test');
      // nothing of the refused delivery was written, not even its id (a retry by hand is not a duplicate)
      const rows = await db.sql<{ issueNumber: number; deliveryId: string }[]>`
        SELECT w.issue_number, d.delivery_id FROM webhook_deliveries d JOIN work_items w ON w.id = d.item_id
        WHERE d.delivery_id IN ${db.sql(ids)} ORDER BY w.issue_number`;
      expect(rows).toEqual([40, 41, 43].map((n) => ({ issueNumber: n, deliveryId: ids[numbers.indexOf(n)] })));
    } finally {
      await refusal.remove();
    }
  });
});
