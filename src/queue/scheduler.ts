import type { Logger } from '../shared/log.js';
import { connectRedis } from './redis.js';
import { HEARTBEAT_SCHEDULER, RECONCILE_SWEEP_SCHEDULER, RELAY_SWEEP_SCHEDULER, RETENTION_SWEEP_SCHEDULER, openQueues } from './queues.js';

/** The retention sweep runs hourly (its first run at once); each run removes what aged past the window since the last. */
const RETENTION_SWEEP_MS = 3_600_000;

export interface SchedulerOptions {
  redisUrl: string;
  prefix: string;
  heartbeatMs: number;
  relaySweepMs: number;
  reconcileSweepMs: number;
  log: Logger;
}

/**
 * `damascus scheduler`: upserts the job schedulers (heartbeat, relay sweep, reconcile sweep, retention sweep).
 * Upserting is idempotent, so any number of schedulers yield one schedule; it runs again after
 * every Redis (re)connect, because a Redis without persistence forgets the schedulers.
 */
export function startScheduler(o: SchedulerOptions): { upserted: Promise<void>; close(): Promise<void> } {
  let firstReady!: () => void;
  const upserted = new Promise<void>((resolve) => (firstReady = resolve));
  let queues: ReturnType<typeof openQueues> | undefined;
  const upsert = async () => {
    if (!queues) return;
    try {
      const schedules = [
        { queue: queues.ticks, id: HEARTBEAT_SCHEDULER, every: o.heartbeatMs, job: 'heartbeat' },
        { queue: queues.relay, id: RELAY_SWEEP_SCHEDULER, every: o.relaySweepMs, job: 'relay-sweep' },
        { queue: queues.reconcile, id: RECONCILE_SWEEP_SCHEDULER, every: o.reconcileSweepMs, job: 'reconcile-sweep' },
        { queue: queues.maintenance, id: RETENTION_SWEEP_SCHEDULER, every: RETENTION_SWEEP_MS, job: 'retention-sweep' },
      ];
      for (const s of schedules) {
        await s.queue.upsertJobScheduler(s.id, { every: s.every }, { name: s.job, opts: { removeOnComplete: true, removeOnFail: 100 } });
      }
      o.log.info({ heartbeatMs: o.heartbeatMs }, 'job schedulers upserted');
      firstReady();
    } catch (err) {
      o.log.warn({ err: (err as Error).message }, 'could not upsert the job schedulers; will retry on reconnect');
    }
  };
  const redis = connectRedis(o.redisUrl, o.log, 'scheduler', () => void upsert());
  queues = openQueues(redis.connection, o.prefix);
  if (redis.connection.status === 'ready') void upsert();
  return {
    upserted,
    async close() {
      await queues!.close();
      await redis.close();
    },
  };
}
