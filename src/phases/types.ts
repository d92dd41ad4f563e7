import type { Logger } from '../log.js';
import type { Sql } from '../db/connection.js';
import type { ClaimedItem } from '../db/types.js';
import type { VerdictRecord } from '../db/ops/recordVerdict.js';
import type { ActivePhase } from '../domain/states.js';

export interface PhaseContext {
  sql: Sql;
  log: Logger;
  workerId: string;
  /** Aborted when the lease is lost or the process is shutting down past its grace period. */
  signal: AbortSignal;
}

/** What a phase returns: one typed verdict, with optional details and item fields to store. */
export type PhaseResult = VerdictRecord;

/** One phase: one run on one claimed item, ending in one verdict (DESIGN §2). */
export interface Phase {
  run(item: ClaimedItem, ctx: PhaseContext): Promise<PhaseResult>;
}

export type PhaseRegistry = Partial<Record<ActivePhase, Phase>>;
