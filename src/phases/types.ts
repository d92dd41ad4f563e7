import type { Logger } from '../shared/log.js';
import type { Sql } from '../db/connection.js';
import type { ClaimedItem } from '../db/types.js';
import type { ItemPatch, VerdictRecord } from '../db/ops/recordVerdict.js';
import type { OutboxEvent } from '../domain/events.js';
import type { ActivePhase } from '../domain/states.js';

export interface PhaseContext {
  sql: Sql;
  log: Logger;
  workerId: string;
  /** Aborted when the lease is lost or the process is shutting down past its grace period. */
  signal: AbortSignal;
}

/**
 * Instead of a verdict, a phase may end by waiting: the review phase that has just dispatched the
 * review run waits for its result (or for ci_timeout). No attempt is consumed.
 */
export interface DeferRecord {
  defer: { delayMs: number; reason: string; patch?: ItemPatch; event?: OutboxEvent; wakeIfResultAfter?: number };
}

/** What a phase returns: one typed verdict (with optional details and item fields to store), or a wait. */
export type PhaseResult = VerdictRecord | DeferRecord;

export function isDefer(r: PhaseResult): r is DeferRecord {
  return typeof (r as DeferRecord).defer === 'object' && (r as DeferRecord).defer !== null;
}

/** One phase: one run on one claimed item, ending in one verdict (DESIGN §2). */
export interface Phase {
  run(item: ClaimedItem, ctx: PhaseContext): Promise<PhaseResult>;
}

export type PhaseRegistry = Partial<Record<ActivePhase, Phase>>;
