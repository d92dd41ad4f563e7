import { agentCostUsd } from '../agent/cost.js';
import type { AgentReport } from '../agent/presets/types.js';
import { recordAgentProgress } from '../db/ops/recordAgentProgress.js';
import type { Sql } from '../db/connection.js';
import type { ClaimedItem } from '../db/types.js';
import type { Logger } from '../shared/log.js';

export interface ProgressPublisher {
  /** The agent's report so far: published now, or when the interval since the last one has passed. */
  update(report: AgentReport): void;
  /** Stop publishing (the run ended: its verdict says the rest) and wait for a write under way. */
  close(): Promise<void>;
}

/**
 * A running build's progress on its status comment, edited at a bounded rate: at most one write (and one Gitea
 * edit) per interval, the latest report winning. A write that fails is logged; it never stops the run.
 */
export function agentProgressPublisher(o: { sql: Sql; item: ClaimedItem; builder: string; intervalMs: number; log: Logger }): ProgressPublisher {
  let latest: AgentReport | null = null;
  let lastAt = 0;
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();
  let closed = false;
  const publish = (): void => {
    timer = null;
    if (closed || latest === null) return;
    const r = latest;
    latest = null;
    lastAt = Date.now();
    const progress = { builder: o.builder, turns: r.turns, costUsd: agentCostUsd(r), activity: r.activity, at: new Date().toISOString() };
    writing = writing
      .then(() => recordAgentProgress(o.sql, o.item.id, o.item.leaseToken, progress))
      .then(
        () => undefined,
        (e: unknown) => o.log.warn({ item: o.item.id, error: (e as Error).message }, 'agent progress not recorded'),
      );
  };
  return {
    update(report) {
      if (closed) return;
      latest = report;
      if (timer) return;
      timer = setTimeout(publish, Math.max(0, lastAt + o.intervalMs - Date.now()));
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await writing;
    },
  };
}
