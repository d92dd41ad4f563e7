import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { SCRIPTED_PHASES } from '../support/cli.js';
import { processWorld, spawnDamascus, waitFor } from '../support/processes.js';

describe('the retention sweep on its schedule (real processes, Redis and PostgreSQL)', () => {
  const world = processWorld('damascus-retention-');

  test('two schedulers and two workers: one hourly schedule, and one worker sweeps what aged past DAMASCUS_RETENTION_DAYS', async () => {
    const { db, redis, dir, procs } = world;
    const delivery = async (daysAgo: number) =>
      (
        await db.sql<{ id: number }[]>`
      INSERT INTO webhook_deliveries (delivery_id, event, result, received_at, processed_at)
      VALUES (${randomUUID()}, 'issues', 'test', now() - make_interval(days => ${daysAgo}), now() - make_interval(days => ${daysAgo})) RETURNING id`
      )[0]!.id;
    const event = async (daysAgo: number) =>
      (
        await db.sql<{ id: number }[]>`
      INSERT INTO events_outbox (type, created_at, delivered_at)
      VALUES ('status.refresh', now() - make_interval(days => ${daysAgo}), now() - make_interval(days => ${daysAgo})) RETURNING id`
      )[0]!.id;
    await Promise.all([delivery(40), delivery(9), event(40), event(9)]);
    const keptDelivery = await delivery(6);
    const keptEvent = await event(6);

    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      DAMASCUS_QUEUE_PREFIX: 'retention',
      DAMASCUS_RETENTION_DAYS: '7',
      DAMASCUS_PHASES_MODULE: SCRIPTED_PHASES,
      DAMASCUS_DATA_DIR: dir.path,
    };
    procs.push(spawnDamascus(['scheduler'], env), spawnDamascus(['scheduler'], env), spawnDamascus(['worker'], env), spawnDamascus(['worker'], env));
    // hourly, and the first run at once
    const sweeps = () =>
      procs
        .slice(2)
        .flatMap((p) => p.output().split('\n'))
        .filter((l) => l.includes('"msg":"retention sweep"'))
        .map((l) => JSON.parse(l));
    await waitFor('a worker to sweep', () => sweeps().length > 0, 30_000, 100);
    expect(await db.sql`SELECT id FROM webhook_deliveries`).toEqual([{ id: keptDelivery }]);
    expect(await db.sql`SELECT id FROM events_outbox`).toEqual([{ id: keptEvent }]);

    const maintenance = new Queue('maintenance', { connection: { url: redis.url }, prefix: 'retention' });
    try {
      const schedulers = await maintenance.getJobSchedulers();
      expect(schedulers.map((s) => [s.key, s.every])).toEqual([['retention-sweep', 3_600_000]]);
    } finally {
      await maintenance.close();
    }
    // the rows were swept once, by one worker
    expect(sweeps().map((s) => [s.webhookDeliveries, s.outboxEvents, s.retentionDays])).toEqual([[2, 2, 7]]);
  });
});
