import type { PhaseState } from '../domain/phaseState.js';
import type { ActivePhase, State, Verdict } from '../domain/states.js';

/** A work_items row as the store returns it (columns in camelCase). */
export interface WorkItem {
  id: number;
  projectId: number;
  issueNumber: number;
  title: string;
  state: State;
  resumePhase: ActivePhase | null;
  claimRank: number;
  priority: number;
  attempts: number;
  budgetCycles: number;
  errorCount: number;
  maxErrors: number;
  runAfter: Date | null;
  gateCount: number;
  leaseOwner: string | null;
  leaseToken: string | null;
  leaseUntil: Date | null;
  leasedAt: Date | null;
  spec: string | null;
  specVersion: number;
  branch: string | null;
  prNumber: number | null;
  headSha: string | null;
  costUsd: number;
  maxCostUsd: number | null;
  /** The details column, parsed (src/domain/phaseState.ts). */
  details: PhaseState;
  requestedBy: string | null;
  issueUrl: string | null;
  statusCommentId: number | null;
  /** The issue body as labelled (schema/008): what the spec phase reads; null until taken. */
  storyBody: string | null;
  /** The writer whose label or answer vouched for the snapshot; null until checked. */
  storyVouchedBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A work_items row as it comes out of the database, before its phase state is parsed. */
export type StoredRow<T extends WorkItem> = Omit<T, 'details'> & { details: unknown };

/** An item as claimed: its lease is ours until leaseUntil (renewed while the phase runs). */
export interface ClaimedItem extends WorkItem {
  state: ActivePhase;
  leaseOwner: string;
  leaseToken: string;
  leaseUntil: Date;
  slot: number;
}

export interface VerdictRow {
  id: number;
  itemId: number;
  phase: State;
  verdict: Verdict;
  fromState: State;
  toState: State;
  attempt: number;
  reason: string | null;
  details: Record<string, unknown>;
  worker: string | null;
  createdAt: Date;
}
