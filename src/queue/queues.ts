import { Queue, type ConnectionOptions } from 'bullmq';

/** Queue names (fixed) and the key prefix (DAMASCUS_QUEUE_PREFIX) that isolates one installation. */
export const TICKS = 'ticks';
export const RELAY = 'relay';
export const RECONCILE = 'reconcile';
/** Housekeeping that needs no Gitea: the retention sweep. */
export const MAINTENANCE = 'maintenance';

export const HEARTBEAT_SCHEDULER = 'heartbeat';
export const RELAY_SWEEP_SCHEDULER = 'relay-sweep';
export const RECONCILE_SWEEP_SCHEDULER = 'reconcile-sweep';
export const RETENTION_SWEEP_SCHEDULER = 'retention-sweep';

/** Job options for ticks: one attempt (a failed tick is simply the next tick's work), no history kept. */
export const TICK_JOB_OPTS = { removeOnComplete: true, removeOnFail: 100, attempts: 1 } as const;

export interface Queues {
  ticks: Queue;
  relay: Queue;
  reconcile: Queue;
  maintenance: Queue;
  /** Every queue above, for what shows or counts them all. */
  all: Queue[];
  close(): Promise<void>;
}

export function openQueues(connection: ConnectionOptions, prefix: string): Queues {
  const opts = { connection, prefix };
  const ticks = new Queue(TICKS, opts);
  const relay = new Queue(RELAY, opts);
  const reconcile = new Queue(RECONCILE, opts);
  const maintenance = new Queue(MAINTENANCE, opts);
  const all = [ticks, relay, reconcile, maintenance];
  return {
    ticks,
    relay,
    reconcile,
    maintenance,
    all,
    async close() {
      await Promise.all(all.map((q) => q.close()));
    },
  };
}

/** Ask for ticks now (a new story, a CI result, a human answer): n jobs that each claim one item. */
export async function enqueueTicks(queues: Pick<Queues, 'ticks'>, n = 1, reason = 'event'): Promise<void> {
  if (n <= 0) return;
  await queues.ticks.addBulk(Array.from({ length: n }, () => ({ name: 'tick', data: { reason }, opts: TICK_JOB_OPTS })));
}

/** Ask for an outbox relay run (after a committed transition); one pending relay job is enough. */
export async function enqueueRelay(queues: Pick<Queues, 'relay'>): Promise<void> {
  await queues.relay.add('relay', {}, { jobId: 'relay-now', removeOnComplete: true, removeOnFail: true });
}

/** How long after a trigger-label change Damascus reads the issue back: deliveries sent together arrive within it. */
export const LABEL_CONFIRM_DELAY_MS = 2_000;

export interface IssueKey {
  owner: string;
  name: string;
  number: number;
}

/**
 * Read an issue back from Gitea shortly after a delivery changed whether it is a story. Gitea sends deliveries in
 * parallel and in no fixed order, so a label added and removed at once may arrive the other way round; the
 * confirmation applies what Gitea shows by then. One pending confirmation per issue is enough.
 */
export async function enqueueIssueConfirm(queues: Pick<Queues, 'reconcile'>, issue: IssueKey): Promise<void> {
  const jobId = `confirm-${Buffer.from(`${issue.owner}/${issue.name}#${issue.number}`.toLowerCase()).toString('base64url')}`;
  await queues.reconcile.add('confirm-issue', issue, { jobId, delay: LABEL_CONFIRM_DELAY_MS, removeOnComplete: true, removeOnFail: 100 });
}
