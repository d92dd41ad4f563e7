import { forItem } from '../gitea/attribution.js';
import type { Sql } from '../db/connection.js';
import { claimNextItem, UnfitClaimError } from '../db/ops/claimNextItem.js';
import { recordVerdict } from '../db/ops/recordVerdict.js';
import { renewLease } from '../db/ops/renewLease.js';
import { releaseLease } from '../db/ops/releaseLease.js';
import type { ClaimedItem } from '../db/types.js';
import type { BackoffPolicy } from '../domain/routing.js';
import { isVerdict, type State, type Verdict } from '../domain/states.js';
import type { Logger } from '../shared/log.js';
import { isDefer, type PhaseRegistry, type PhaseResult } from '../phases/types.js';
import { deferItem } from '../db/ops/deferItem.js';
import type { VerdictRecord } from '../db/ops/recordVerdict.js';

export interface TickDeps {
  sql: Sql;
  phases: PhaseRegistry;
  workerId: string;
  cap: number;
  leaseMs: number;
  backoff: BackoffPolicy;
  log: Logger;
  /** Abort to stop the running phase and hand its lease back (shutdown past the grace period). */
  shutdown?: AbortSignal;
  /** Called once the item is claimed, before its phase runs. */
  onClaim?: (item: ClaimedItem) => void;
}

export type TickOutcome =
  | { kind: 'idle' }
  | { kind: 'no-phases' }
  | { kind: 'released'; itemId: number; phase: State; reason: string }
  | { kind: 'deferred'; itemId: number; issueNumber: number; phase: State; reason: string; recorded: boolean; delayMs: number }
  | {
      kind: 'ran';
      itemId: number;
      issueNumber: number;
      phase: State;
      verdict: Verdict;
      to: State | null;
      recorded: boolean;
      reason: string | null;
      durationMs: number;
    };

/**
 * One tick: claim one item and run its one phase, renewing the lease while it runs, then record
 * the verdict (fenced by the lease). A phase that throws is an infrastructure error (backoff, no
 * attempt consumed). Shutdown past the grace period hands the lease back untouched.
 */
export async function runTick(deps: TickDeps): Promise<TickOutcome> {
  if (Object.keys(deps.phases).length === 0) return { kind: 'no-phases' };
  // A row whose phase state does not fit is claimed all the same and gets an infrastructure error (backoff, then
  // blocked for a person), rather than a phase that reads it or a lease left to expire on every claim.
  let item: ClaimedItem | null;
  let unfit: string | null = null;
  try {
    item = await claimNextItem(deps.sql, deps.workerId, { cap: deps.cap, leaseMs: deps.leaseMs });
  } catch (err) {
    if (!(err instanceof UnfitClaimError)) throw err;
    ({ item, message: unfit } = err);
  }
  if (!item) return { kind: 'idle' };
  deps.onClaim?.(item);
  const log = deps.log.child({ item: item.id, phase: item.state });
  const started = Date.now();

  const phaseAbort = new AbortController();
  const onShutdown = () => phaseAbort.abort(new Error('shutdown'));
  deps.shutdown?.addEventListener('abort', onShutdown, { once: true });
  if (deps.shutdown?.aborted) onShutdown();
  const renewEvery = Math.max(50, Math.floor(deps.leaseMs / 3));
  const renewer = setInterval(() => {
    renewLease(deps.sql, item.id, item.leaseToken, deps.leaseMs).then(
      (held) => {
        if (!held && !phaseAbort.signal.aborted) {
          log.warn('lease lost while the phase ran; stopping it (its verdict will be refused)');
          phaseAbort.abort(new Error('lease lost'));
        }
      },
      (err) => log.warn({ err: String(err) }, 'lease renewal failed; retrying at the next interval'),
    );
  }, renewEvery);

  let result: PhaseResult;
  try {
    const phase = deps.phases[item.state];
    if (unfit !== null) {
      result = { verdict: 'error', reason: unfit };
    } else if (!phase) {
      result = { verdict: 'error', reason: `no ${item.state} phase is configured in this process` };
    } else {
      // Every Gitea request the phase makes says which item it is for (X-Damascus-Item).
      result = await runPhase(
        () => forItem(item.id, () => phase.run(item, { sql: deps.sql, log, workerId: deps.workerId, signal: phaseAbort.signal })),
        phaseAbort.signal,
      );
    }
  } catch (err) {
    result = { verdict: 'error', reason: `${item.state} phase failed: ${(err as Error)?.message ?? String(err)}` };
  } finally {
    clearInterval(renewer);
    deps.shutdown?.removeEventListener('abort', onShutdown);
  }

  if (!result || (!isDefer(result) && !isVerdict(String((result as { verdict?: unknown }).verdict)))) {
    result = { verdict: 'error', reason: `${item.state} phase returned no valid verdict` };
  }

  if (deps.shutdown?.aborted) {
    const released = await releaseLease(deps.sql, item.id, item.leaseToken);
    log.info({ released }, 'shutdown: lease handed back without a verdict');
    return { kind: 'released', itemId: item.id, phase: item.state, reason: 'shutdown' };
  }

  if (isDefer(result)) {
    const recorded = await deferItem(deps.sql, item, result.defer);
    log.info({ delayMs: result.defer.delayMs, recorded, durationMs: Date.now() - started }, `waiting: ${result.defer.reason}`);
    return {
      kind: 'deferred',
      itemId: item.id,
      issueNumber: item.issueNumber,
      phase: item.state,
      reason: result.defer.reason,
      recorded,
      delayMs: result.defer.delayMs,
    };
  }
  const verdictResult: VerdictRecord = result;
  // An infrastructure error (no block asked for) is retried after backoff: only its reason and details are kept.
  const record: VerdictRecord =
    verdictResult.verdict === 'error' && !verdictResult.block
      ? { verdict: 'error', reason: verdictResult.reason ?? 'error', details: verdictResult.details }
      : verdictResult;
  const recorded = await recordVerdict(deps.sql, item, record, { backoff: deps.backoff, worker: deps.workerId });
  const durationMs = Date.now() - started;
  if (recorded.recorded) {
    log.info({ verdict: verdictResult.verdict, to: recorded.transition.to, durationMs }, recorded.transition.explanation);
  } else {
    log.warn({ verdict: verdictResult.verdict }, recorded.reason);
  }
  return {
    kind: 'ran',
    itemId: item.id,
    issueNumber: item.issueNumber,
    phase: item.state,
    verdict: verdictResult.verdict,
    to: recorded.recorded ? recorded.transition.to : null,
    recorded: recorded.recorded,
    reason: recorded.recorded ? (verdictResult.reason ?? recorded.transition.explanation) : recorded.reason,
    durationMs,
  };
}

/** Run the phase, but stop waiting for it once the signal aborts (lease lost or shutdown). */
function runPhase(run: () => Promise<PhaseResult>, signal: AbortSignal): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    run().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
