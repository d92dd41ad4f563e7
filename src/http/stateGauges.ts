import { Gauge, type Registry } from 'prom-client';
import type { Sql } from '../db/connection.js';
import { STATES } from '../domain/states.js';
import type { Queues } from '../queue/queues.js';

/** Gauges over shared truth (the database, the queues), read at scrape time. */
export function registerStateGauges(registry: Registry, deps: { sql?: Sql; queues?: Queues; cap?: number }): void {
  const { sql, queues, cap } = deps;
  if (sql) {
    new Gauge({
      name: 'damascus_items',
      help: 'work items by state',
      labelNames: ['state'],
      registers: [registry],
      async collect() {
        const rows = await sql<{ state: string; n: number }[]>`SELECT state, count(*)::int AS n FROM work_items GROUP BY state`;
        for (const s of STATES) this.set({ state: s }, rows.find((r) => r.state === s)?.n ?? 0);
      },
    });
    new Gauge({
      name: 'damascus_live_leases',
      help: 'phases running now (live leases)',
      registers: [registry],
      async collect() {
        const [r] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM work_items WHERE lease_token IS NOT NULL AND lease_until > now()`;
        this.set(r!.n);
      },
    });
    new Gauge({
      name: 'damascus_outbox_lag_seconds',
      help: 'age of the oldest undelivered outbox event (0 when none)',
      registers: [registry],
      async collect() {
        const [r] = await sql<{ s: number | null }[]>`
          SELECT extract(epoch FROM now() - min(created_at))::float8 AS s FROM events_outbox WHERE delivered_at IS NULL AND parked_at IS NULL`;
        this.set(r!.s ?? 0);
      },
    });
  }
  if (cap !== undefined) {
    new Gauge({ name: 'damascus_concurrency_cap', help: 'global cap on live leases', registers: [registry] }).set(cap);
  }
  if (queues) {
    new Gauge({
      name: 'damascus_queue_jobs',
      help: 'BullMQ jobs by queue and status',
      labelNames: ['queue', 'status'],
      registers: [registry],
      async collect() {
        for (const q of queues.all) {
          const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
          for (const [status, n] of Object.entries(counts)) this.set({ queue: q.name, status }, n);
        }
      },
    });
  }
}
