import { Worker, type Job } from 'bullmq';
import { countTickWork } from '../db/ops/countTickWork.js';
import { ensureLeaseSlots } from '../db/ops/ensureLeaseSlots.js';
import { sweepOldRows } from '../db/ops/sweepOldRows.js';
import { DependencyState } from '../shared/health.js';
import type { Metrics } from '../shared/metrics.js';
import { runTick, type TickDeps, type TickOutcome } from '../tick/runTick.js';
import { connectRedis, type RedisHandle } from './redis.js';
import { MAINTENANCE, RECONCILE, RELAY, TICKS, enqueueRelay, enqueueTicks, openQueues, type Queues } from './queues.js';

/** What each tick needs (TickDeps; `cap`, enforced in the claim, is also this process's number of parallel ticks), and the queue. */
export interface WorkerOptions extends Pick<TickDeps, 'sql' | 'phases' | 'workerId' | 'cap' | 'leaseMs' | 'backoff' | 'log'> {
  redisUrl: string;
  prefix: string;
  metrics?: Metrics;
  /** The retention sweep's window in days (DAMASCUS_RETENTION_DAYS; 0 keeps everything). */
  retentionDays: number;
  /** Inbox + outbox relay and reconcile sweep: run when their jobs arrive (given when Gitea is configured). */
  relay?: (queues: Queues) => Promise<unknown>;
  /** The sweep (`reconcile-*` jobs), or one issue read back (`confirm-issue`, data: IssueKey). */
  reconcile?: (queues: Queues, job: { name: string; data: unknown }) => Promise<unknown>;
}

export interface RunningWorker {
  queues: Queues;
  redis: RedisHandle;
  pg: DependencyState;
  /** Stop taking ticks; let running phases finish for graceMs, then hand their leases back. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * `damascus worker`: BullMQ workers for ticks and maintenance (and the relay/reconcile queues when configured).
 *
 * The lease in PostgreSQL, not the BullMQ job, is the truth about who works on an item. A tick job
 * carries no item: it claims whatever is next. So a BullMQ stall (a lock lost while Redis was away)
 * that re-runs a tick job makes it claim *another* item, never the same one twice; the fenced verdict
 * write settles any race. Locks are long (a build may take an hour; the lock is renewed while the
 * job runs) and a stalled tick may be re-run many times, because re-running one is harmless.
 */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  await ensureLeaseSlots(o.sql, o.cap);
  const redis = connectRedis(o.redisUrl, o.log, 'worker');
  const queues = openQueues(redis.connection, o.prefix);
  const pg = new DependencyState('postgres', o.log);
  const shutdownSignal = new AbortController();
  const lockDuration = o.leaseMs;
  const workerOpts = {
    connection: redis.connection,
    prefix: o.prefix,
    lockDuration,
    stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
    maxStalledCount: 1000,
    autorun: false,
  };

  const afterTick = async (outcome: TickOutcome) => {
    if (outcome.kind === 'deferred') {
      o.metrics?.claims.inc({ result: 'claimed' });
      await enqueueTicks(queues, 1, 'drain');
      if (o.relay) await enqueueRelay(queues);
      return;
    }
    if (outcome.kind !== 'ran') {
      o.metrics?.claims.inc({ result: outcome.kind });
      return;
    }
    o.metrics?.claims.inc({ result: 'claimed' });
    if (outcome.recorded) o.metrics?.verdicts.inc({ phase: outcome.phase, verdict: outcome.verdict });
    o.metrics?.phaseDuration.observe({ phase: outcome.phase }, outcome.durationMs / 1000);
    // A tick that did work asks for the next one, so a backlog drains at full concurrency,
    // and asks the relay to mirror what it just committed.
    await enqueueTicks(queues, 1, 'drain');
    if (o.relay) await enqueueRelay(queues);
  };

  const processTick = async (job: Job) => {
    if (shutdownSignal.signal.aborted) return { skipped: 'shutdown' };
    try {
      if (job.name === 'heartbeat') {
        const work = await countTickWork(o.sql, o.cap);
        pg.ok();
        await enqueueTicks(queues, work.claimable, 'heartbeat');
        return work;
      }
      const outcome = await runTick({
        sql: o.sql,
        phases: o.phases,
        workerId: o.workerId,
        cap: o.cap,
        leaseMs: o.leaseMs,
        backoff: o.backoff,
        log: o.log,
        shutdown: shutdownSignal.signal,
      });
      pg.ok();
      await afterTick(outcome);
      return { kind: outcome.kind };
    } catch (err) {
      if (isConnectionError(err)) pg.failed(err);
      else o.log.error({ err: String((err as Error)?.stack ?? err) }, 'tick failed');
      throw err;
    }
  };

  // The one maintenance job, the retention sweep: whichever worker takes the hourly job runs it, a batch at a time.
  const processMaintenance = async () => {
    try {
      const swept = await sweepOldRows(o.sql, { olderThanDays: o.retentionDays, signal: shutdownSignal.signal });
      pg.ok();
      if (swept.webhookDeliveries > 0 || swept.outboxEvents > 0) o.log.info({ ...swept, retentionDays: o.retentionDays }, 'retention sweep');
      return swept;
    } catch (err) {
      if (isConnectionError(err)) pg.failed(err);
      else o.log.error({ err: String((err as Error)?.stack ?? err) }, 'retention sweep failed');
      throw err;
    }
  };

  const workers: Worker[] = [
    new Worker(TICKS, processTick, { ...workerOpts, concurrency: o.cap }),
    new Worker(MAINTENANCE, processMaintenance, { ...workerOpts, concurrency: 1 }),
  ];
  if (o.relay) {
    const relay = o.relay;
    workers.push(new Worker(RELAY, async () => relay(queues), { ...workerOpts, concurrency: 1 }));
  }
  if (o.reconcile) {
    const reconcile = o.reconcile;
    workers.push(new Worker(RECONCILE, async (job) => reconcile(queues, { name: job.name, data: job.data }), { ...workerOpts, concurrency: 1 }));
  }
  for (const w of workers) {
    // Errors here are connection trouble; the Redis state already logs it once per change.
    w.on('error', () => {});
    w.on('failed', (job, err) => o.log.debug({ queue: w.name, job: job?.name, err: err.message }, 'job failed'));
    void w.run();
  }

  return {
    queues,
    redis,
    pg,
    async shutdown(graceMs: number) {
      const closing = Promise.all(workers.map((w) => w.close()));
      const timer = setTimeout(() => {
        o.log.warn({ graceMs }, 'grace period over: handing back the leases of phases still running');
        shutdownSignal.abort(new Error('shutdown'));
      }, graceMs);
      await closing;
      clearTimeout(timer);
      await queues.close();
      await redis.close();
    },
  };
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|CONNECT_TIMEOUT|CONNECTION_CLOSED|CONNECTION_ENDED|CONNECTION_DESTROYED|57P0[1-3]|08\d\d\d)$/.test(code);
}
