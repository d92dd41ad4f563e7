import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The process's Prometheus registry and the counters its parts increment (gauges over the DB and queues: http/stateGauges.ts). */
export interface Metrics {
  registry: Registry;
  claims: Counter<'result'>;
  verdicts: Counter<'phase' | 'verdict'>;
  phaseDuration: Histogram<'phase'>;
  webhookDeliveries: Counter<'result'>;
  relayed: Counter<'result'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'damascus_process_' });
  return {
    registry,
    claims: new Counter({ name: 'damascus_claims_total', help: 'tick claims by result (claimed, idle)', labelNames: ['result'], registers: [registry] }),
    verdicts: new Counter({ name: 'damascus_verdicts_total', help: 'verdicts recorded', labelNames: ['phase', 'verdict'], registers: [registry] }),
    phaseDuration: new Histogram({
      name: 'damascus_phase_duration_seconds',
      help: 'phase run time',
      labelNames: ['phase'],
      registers: [registry],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600],
    }),
    webhookDeliveries: new Counter({
      name: 'damascus_webhook_deliveries_total',
      help: 'webhook deliveries by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    relayed: new Counter({
      name: 'damascus_outbox_relayed_total',
      help: 'outbox events relayed to Gitea by result',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
