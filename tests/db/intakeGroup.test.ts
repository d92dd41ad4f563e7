import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { openDb, type Sql } from '../../src/db/connection.js';
import { createGroupCommitter } from '../../src/db/groupCommit.js';
import { applyWebhookEvent, writeWebhookGroup, type IntakeOutcome, type WebhookDelivery } from '../../src/db/ops/applyWebhookEvent.js';
import { recordNewStories, type NewStoryDelivery } from '../../src/db/ops/recordNewStories.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { routeWebhook } from '../../src/gitea/events.js';
import { intakeKeys } from '../../src/http/webhooks.js';
import { createTestDb, type TestDb, refuseTitle } from '../support/db.js';
import { commentPayload, issuePayload } from '../support/webhookFixtures.js';

/** A routed delivery from a payload shaped like Gitea's. */
function routed(event: string, eventType: string, action: string, payload: Record<string, unknown>, id: string = randomUUID()): WebhookDelivery {
  const ev = routeWebhook({ event, eventType, payload });
  if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(ev.reason);
  return { delivery: { deliveryId: id, event, eventType, action }, event: ev };
}

function delivery(
  action: 'label_updated' | 'label_cleared',
  number: number,
  opts: { labels?: string[]; repo?: string; repoId?: number; id?: string; title?: string } = {},
): WebhookDelivery {
  const ev = routeWebhook({
    event: 'issues',
    eventType: 'issue_label',
    payload: issuePayload({
      action,
      number,
      labels: opts.labels ?? (action === 'label_cleared' ? [] : ['damascus']),
      repo: opts.repo,
      repoId: opts.repoId,
      title: opts.title,
    }),
  });
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
    await upsertProject(db.sql, {
      owner: ev.repo.owner,
      name: ev.repo.name,
      giteaRepoId: ev.repo.id,
      defaultBranch: ev.repo.defaultBranch,
      htmlUrl: ev.repo.htmlUrl,
      cloneUrl: ev.repo.cloneUrl,
    });
    known = {
      deliveryId: '',
      event: 'issues',
      eventType: 'issue_label',
      action: 'label_updated',
      owner: ev.repo.owner,
      name: ev.repo.name,
      repoId: ev.repo.id,
      defaultBranch: ev.repo.defaultBranch,
      htmlUrl: ev.repo.htmlUrl,
      cloneUrl: ev.repo.cloneUrl,
      issueNumber: 0,
      title: 't',
      body: 'b',
      by: 'alice',
      issueUrl: 'u',
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
    expect(states).toEqual([
      { n: 5, state: 'spec' },
      { n: 20, state: 'cancelled' },
      { n: 21, state: 'spec' },
      { n: 22, state: 'spec' },
    ]);
  });

  test('a repository whose default branch changed: the project row is refreshed and the story created', async () => {
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
      const group = [
        delivery('label_updated', 40),
        delivery('label_updated', 41),
        delivery('label_updated', 42, { title: 'refused by the database' }),
        delivery('label_updated', 43),
      ];
      const ids = group.map((d) => d.delivery.deliveryId);
      const numbers = [40, 41, 42, 43];

      // the group writer given the whole group: its statement fails, and nothing of the group is written
      const err = await writeWebhookGroup(db.sql, group, 'damascus').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(postgres.PostgresError);
      expect((err as Error).message).toBe('refused for the test');
      expect(await db.sql`SELECT id FROM webhook_deliveries WHERE delivery_id IN ${db.sql(ids)}`).toHaveLength(0);
      expect(await db.sql`SELECT id FROM work_items WHERE issue_number IN ${db.sql(numbers)}`).toHaveLength(0);

      // the committer the intake uses, given the same group as one: a first job holds the writer until the
      // whole group is queued, so the group is known, not left to how the jobs happen to arrive
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      const holder = delivery('label_updated', 39);
      const calls: number[][] = [];
      const committer = createGroupCommitter(
        db.sql,
        async (sql: Sql, deliveries: WebhookDelivery[]) => {
          calls.push(deliveries.map((d) => (d.event.kind === 'issue.labels' ? d.event.issue.number : -1)));
          if (deliveries[0] === holder) await held;
          return writeWebhookGroup(sql, deliveries, 'damascus');
        },
        { parallel: 1 },
      );
      const first = committer.run(holder, intakeKeys(holder.event, holder.delivery.deliveryId));
      const outcomes = Promise.allSettled(group.map((d) => committer.run(d, intakeKeys(d.event, d.delivery.deliveryId))));
      release();
      expect(await first).toMatchObject({ status: 'recorded', effect: 'created' });
      const settled = await outcomes;
      expect(calls).toEqual([[39], numbers, [40], [41], [42], [43]]);
      expect(settled.map((o) => (o.status === 'fulfilled' && o.value.status === 'recorded' ? o.value.effect : o.status))).toEqual([
        'created',
        'created',
        'rejected',
        'created',
      ]);
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

describe('the group writer is an optimisation: a mixed batch gives the rows that one-by-one writes give', () => {
  let grouped: TestDb;
  let single: TestDb;
  beforeAll(async () => {
    [grouped, single] = await Promise.all([createTestDb(), createTestDb()]);
  });
  afterAll(async () => Promise.all([grouped.drop(), single.drop()]));

  const label = (number: number, id: string, opts: { labels?: string[]; body?: string; repo?: string; repoId?: number } = {}) =>
    routed(
      'issues',
      'issue_label',
      'label_updated',
      issuePayload({ action: 'label_updated', number, labels: opts.labels ?? ['damascus'], body: opts.body, repo: opts.repo, repoId: opts.repoId }),
      id,
    );
  const issueAction = (action: 'closed' | 'reopened' | 'deleted', number: number, id: string) =>
    routed('issues', 'issues', action, issuePayload({ action, number, labels: ['damascus'], state: action === 'reopened' ? 'open' : 'closed' }), id);
  const repo = label(1, 'x').event.repo;
  const pr = (number: number, id: string, over: { merged?: boolean; synchronized?: boolean }): WebhookDelivery => {
    const sender = { id: 3, login: 'bob' };
    const event: WebhookDelivery['event'] = over.synchronized
      ? { kind: 'pr.synchronized', repo, number, headSha: `head-${number}`, headRef: `damascus/${number}`, sender }
      : {
          kind: 'pr.closed',
          repo,
          number,
          merged: over.merged === true,
          headSha: `head-${number}`,
          headRef: `damascus/${number}`,
          mergeCommitSha: over.merged ? 'm1' : null,
          sender,
        };
    return {
      delivery: {
        deliveryId: id,
        event: 'pull_request',
        eventType: over.synchronized ? 'pull_request_sync' : 'pull_request',
        action: over.synchronized ? 'synchronized' : 'closed',
      },
      event,
    };
  };

  /** The same history in both databases, written one delivery at a time: stories 1-9 in several states. */
  async function seed(sql: Sql): Promise<void> {
    const history = [
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => label(n, `seed-${n}`)),
      routed('issues', 'issue_label', 'label_cleared', issuePayload({ action: 'label_cleared', number: 2, labels: [] }), 'seed-cleared-2'),
    ];
    for (const d of history) await sql.begin((tx) => applyWebhookEvent(tx, d.delivery, d.event, 'damascus'));
    await sql`UPDATE work_items SET state = 'build', pr_number = 30 WHERE issue_number = 3`;
    await sql`UPDATE work_items SET state = 'review', pr_number = 40 WHERE issue_number = 4`;
    await sql`UPDATE work_items SET state = 'review', pr_number = 50, run_after = now() + interval '1 hour' WHERE issue_number = 5`;
  }

  /** One of each kind of decision, each about its own issue (as the committer's keys see to it). */
  const batch: WebhookDelivery[] = [
    label(10, 'b-10'), // a new story: the one-statement path
    label(11, 'b-11', { body: 'Depends on #10' }), // a story with a dependency
    label(2, 'b-2'), // a cancelled story labelled again
    routed('issues', 'issue_label', 'label_cleared', issuePayload({ action: 'label_cleared', number: 1, labels: [] }), 'b-1'), // the label removed
    pr(30, 'b-30', { merged: true }),
    pr(40, 'b-40', {}),
    pr(50, 'b-50', { synchronized: true }),
    issueAction('closed', 6, 'b-6'),
    routed('issue_comment', 'issue_comment', 'created', commentPayload({ number: 7, body: 'a question answered', commentId: 777 }), 'b-7'),
    issueAction('deleted', 8, 'b-8'),
    issueAction('reopened', 9, 'b-9'),
    label(13, 'b-13', { repo: 'acme/other', repoId: 9 }), // a repository not seen yet
    label(14, 'seed-9'), // a delivery id already recorded
  ];

  /** What a database holds, with items named by repository and issue (their ids depend on the order of creation). */
  async function snapshot(sql: Sql) {
    const named = await sql<{ id: number; key: string }[]>`
      SELECT w.id, p.owner || '/' || p.name || '#' || w.issue_number AS key FROM work_items w JOIN projects p ON p.id = w.project_id`;
    const key = new Map(named.map((r) => [Number(r.id), r.key]));
    const name = (id: unknown) => (id === null ? null : key.get(Number(id)));
    const items = await sql`
      SELECT p.owner || '/' || p.name || '#' || w.issue_number AS key, w.state, w.resume_phase, w.title, w.requested_by, w.issue_url, w.story_body,
             w.story_vouched_by, w.gate_count, w.pr_number, w.head_sha, w.run_after IS NULL AS runnable, w.lease_token, w.details
      FROM work_items w JOIN projects p ON p.id = w.project_id ORDER BY key`;
    const deliveries = await sql`
      SELECT delivery_id, event, event_type, action, result, item_id, payload, processed_at IS NULL AS pending, comment_id FROM webhook_deliveries ORDER BY delivery_id`;
    const events = await sql`SELECT id, item_id, type, payload FROM events_outbox ORDER BY id`;
    const gates = await sql`SELECT item_id, kind, depends_on_item_id, target, is_open FROM coordination_gates ORDER BY id`;
    const byKey = (a: { item: unknown }, b: { item: unknown }) => String(a.item).localeCompare(String(b.item));
    return {
      items,
      deliveries: deliveries.map(({ itemId, ...d }) => ({ ...d, item: name(itemId) })),
      // per item in the order written (the relative order of different items' events depends on the path)
      events: events.map(({ id: _id, itemId, ...e }) => ({ ...e, item: name(itemId) })).sort(byKey),
      gates: gates.map(({ itemId, dependsOnItemId, ...g }) => ({ ...g, item: name(itemId), dependsOn: name(dependsOnItemId) })).sort(byKey),
      key,
    };
  }
  const described = (outcomes: IntakeOutcome[], key: Map<number, string>) =>
    outcomes.map((o) => (o.status === 'recorded' ? { ...o, itemId: o.itemId === null ? null : key.get(o.itemId), result: { ...o.result, itemId: null } } : o));

  test('work_items, webhook_deliveries, events_outbox and gates', async () => {
    await Promise.all([seed(grouped.sql), seed(single.sql)]);
    const groupOutcomes = await writeWebhookGroup(grouped.sql, batch, 'damascus');
    const singleOutcomes: IntakeOutcome[] = [];
    for (const d of batch) singleOutcomes.push(await single.sql.begin((tx) => applyWebhookEvent(tx, d.delivery, d.event, 'damascus')));

    expect(groupOutcomes.map((o) => (o.status === 'recorded' ? o.effect : o.status))).toEqual([
      'created',
      'created: waiting on 1 dependency',
      'reactivated',
      'cancelled',
      'done: merged',
      'parked: PR closed unmerged',
      'head moved',
      'inbox: issue closed',
      'inbox',
      'cancelled: issue deleted',
      'ignored: reopened (add the trigger label again to resume)',
      'created',
      'duplicate',
    ]);
    const a = await snapshot(grouped.sql);
    const b = await snapshot(single.sql);
    expect(described(groupOutcomes, a.key)).toEqual(described(singleOutcomes, b.key));
    expect(a.items).toEqual(b.items);
    expect(a.deliveries).toEqual(b.deliveries);
    expect(a.events).toEqual(b.events);
    expect(a.gates).toEqual(b.gates);
    expect(a.gates).toEqual([{ kind: 'depends_on', target: 'acme/widgets#10', isOpen: true, item: 'acme/widgets#11', dependsOn: 'acme/widgets#10' }]);
  });
});
