import { randomUUID } from 'node:crypto';
import { writeWebhookGroup, type WebhookDelivery } from '../../src/db/ops/applyWebhookEvent.js';
import { readItemView } from '../../src/db/ops/readItemView.js';
import { sweepOldRows } from '../../src/db/ops/sweepOldRows.js';
import { routeWebhook } from '../../src/gitea/events.js';
import { createTestDb, seedItems, setState, type TestDb } from '../support/db.js';
import { issuePayload } from '../support/webhookFixtures.js';

describe('the retention sweep (sweepOldRows)', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => db.drop());
  beforeEach(async () => {
    await db.sql`TRUNCATE webhook_deliveries, events_outbox`;
  });

  const ago = (days: number) => db.sql`now() - make_interval(days => ${days})`;
  /** A delivery received `daysAgo` days ago (and processed then, unless `processed` is false). */
  const delivery = async (daysAgo: number, o: { processed?: boolean; commentId?: number; itemId?: number } = {}): Promise<number> => {
    const [row] = await db.sql<{ id: number }[]>`
      INSERT INTO webhook_deliveries (delivery_id, event, result, item_id, comment_id, received_at, processed_at)
      VALUES (${randomUUID()}, ${o.commentId ? 'issue_comment' : 'issues'}, 'test', ${o.itemId ?? null}, ${o.commentId ?? null},
              ${ago(daysAgo)}, ${o.processed === false ? null : ago(daysAgo)})
      RETURNING id`;
    return row!.id;
  };
  /** An outbox event written `createdDaysAgo` days ago; delivered `deliveredDaysAgo` days ago, else pending (or parked, or claimed). */
  const event = async (
    type: string,
    itemId: number | null,
    createdDaysAgo: number,
    o: { deliveredDaysAgo?: number; parked?: boolean; claimed?: boolean } = {},
  ): Promise<number> => {
    const [row] = await db.sql<{ id: number }[]>`
      INSERT INTO events_outbox (item_id, type, created_at, delivered_at, parked_at, attempts, next_attempt_at)
      VALUES (${itemId}, ${type}, ${ago(createdDaysAgo)}, ${o.deliveredDaysAgo === undefined ? null : ago(o.deliveredDaysAgo)},
              ${o.parked ? ago(createdDaysAgo) : null}, ${o.parked ? 10 : 0}, ${o.claimed ? db.sql`now() + interval '30 seconds'` : ago(createdDaysAgo)})
      RETURNING id`;
    return row!.id;
  };
  const ids = async (table: 'webhook_deliveries' | 'events_outbox') =>
    (await db.sql<{ id: number }[]>`SELECT id FROM ${db.sql(table)} ORDER BY id`).map((r) => r.id);

  test('old settled rows go, batch after batch; recent, unprocessed, pending, claimed and parked ones stay, and what live items still need', async () => {
    const [waiting, cancelled, done] = await seedItems(db.sql, 3);
    await setState(db.sql, cancelled!.id, 'cancelled');
    await setState(db.sql, done!.id, 'done');
    await db.sql`TRUNCATE events_outbox`; // the seeds' work.created events, written now

    const goneDeliveries = [
      await delivery(40),
      await delivery(35, { itemId: waiting!.id }),
      await delivery(45, { commentId: 3, itemId: done!.id }), // a comment of a finished story
      await delivery(40, { commentId: 4 }), // a comment on an issue that is no story
      await delivery(31),
    ];
    const keptDeliveries = [
      await delivery(29), // inside the window
      await delivery(40, { processed: false }), // still in the inbox
      await delivery(40, { commentId: 1, itemId: waiting!.id }), // the reconcile sweep still reads this story's comments
      await delivery(40, { commentId: 2, itemId: cancelled!.id }), // a cancelled story may be reactivated
    ];
    const goneEvents = [
      await event('work.created', waiting!.id, 42, { deliveredDaysAgo: 42 }),
      await event('status.refresh', waiting!.id, 39, { deliveredDaysAgo: 39 }),
      await event('work.created', done!.id, 50, { deliveredDaysAgo: 50 }),
      await event('human.question', done!.id, 45, { deliveredDaysAgo: 45 }),
      await event('reply.approved', null, 33, { deliveredDaysAgo: 33 }),
    ];
    const keptEvents = [
      await event('work.verdict', waiting!.id, 40, { deliveredDaysAgo: 40 }), // its item's newest state event
      await event('work.done', done!.id, 44, { deliveredDaysAgo: 31 }),
      await event('status.refresh', waiting!.id, 10, { deliveredDaysAgo: 10 }),
      await event('status.refresh', cancelled!.id, 40), // pending
      await event('status.refresh', cancelled!.id, 40, { claimed: true }),
      await event('work.cancelled', cancelled!.id, 40, { parked: true }),
    ];
    const since = (await readItemView(db.sql, waiting!.id))!.since;

    const report = await sweepOldRows(db.sql, { olderThanDays: 30, batch: 2 });
    expect(report).toEqual({ webhookDeliveries: goneDeliveries.length, outboxEvents: goneEvents.length });
    expect(await ids('webhook_deliveries')).toEqual(keptDeliveries.sort((a, b) => a - b));
    expect(await ids('events_outbox')).toEqual(keptEvents.sort((a, b) => a - b));
    expect((await readItemView(db.sql, waiting!.id))!.since).toEqual(since);
    // nothing left to do: a second sweep deletes nothing
    expect(await sweepOldRows(db.sql, { olderThanDays: 30, batch: 2 })).toEqual({ webhookDeliveries: 0, outboxEvents: 0 });
  });

  test('sweeps that run at once delete each row once between them', async () => {
    for (let i = 0; i < 25; i++) {
      await delivery(40 + i);
      await event('status.refresh', null, 40 + i, { deliveredDaysAgo: 40 });
    }
    const kept = await delivery(1);
    const reports = await Promise.all([1, 2, 3].map(() => sweepOldRows(db.sql, { olderThanDays: 30, batch: 3 })));
    expect(reports.reduce((n, r) => n + r.webhookDeliveries, 0)).toBe(25);
    expect(reports.reduce((n, r) => n + r.outboxEvents, 0)).toBe(25);
    expect(await ids('webhook_deliveries')).toEqual([kept]);
    expect(await ids('events_outbox')).toEqual([]);
  });

  test('0 days keeps everything', async () => {
    await delivery(400);
    await event('status.refresh', null, 400, { deliveredDaysAgo: 400 });
    expect(await sweepOldRows(db.sql, { olderThanDays: 0 })).toEqual({ webhookDeliveries: 0, outboxEvents: 0 });
    expect(await ids('webhook_deliveries')).toHaveLength(1);
    expect(await ids('events_outbox')).toHaveLength(1);
  });

  test('a delivery sent again inside the window is still a duplicate; past it, its id is new again', async () => {
    const ev = routeWebhook({
      event: 'issues',
      eventType: 'issue_label',
      payload: issuePayload({ action: 'label_updated', number: 9001, labels: ['damascus'] }),
    });
    if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(ev.reason);
    const labelled: WebhookDelivery = { delivery: { deliveryId: randomUUID(), event: 'issues', eventType: 'issue_label', action: 'label_updated' }, event: ev };
    const receivedDaysAgo = (days: number) => db.sql`
      UPDATE webhook_deliveries SET received_at = now() - make_interval(days => ${days}), processed_at = now() - make_interval(days => ${days})
      WHERE delivery_id = ${labelled.delivery.deliveryId}`;

    expect((await writeWebhookGroup(db.sql, [labelled], 'damascus'))[0]).toMatchObject({ status: 'recorded', effect: 'created' });
    await receivedDaysAgo(29);
    expect((await sweepOldRows(db.sql, { olderThanDays: 30 })).webhookDeliveries).toBe(0);
    expect((await writeWebhookGroup(db.sql, [labelled], 'damascus'))[0]).toEqual({ status: 'duplicate' });

    await receivedDaysAgo(31);
    expect((await sweepOldRows(db.sql, { olderThanDays: 30 })).webhookDeliveries).toBe(1);
    expect((await writeWebhookGroup(db.sql, [labelled], 'damascus'))[0]).toMatchObject({ status: 'recorded' });
    expect(await db.sql`SELECT id FROM webhook_deliveries WHERE delivery_id = ${labelled.delivery.deliveryId}`).toHaveLength(1);
  });
});
