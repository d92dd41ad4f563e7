import type { Sql } from '../connection.js';
import type { EventWithout, GateApproval } from '../../domain/events.js';
import { decideTransition, type BackoffPolicy, type Transition, type VerdictInput } from '../../domain/routing.js';
import type { PhaseStatePatch } from '../../domain/phaseState.js';
import { clearLease, freeSlots, insertQuestions, questionEvent } from '../fragments.js';
import type { ClaimedItem } from '../types.js';

/** Item fields a phase may set together with its verdict (null/undefined = unchanged). */
export interface ItemPatch {
  /** A new spec version (spec_version is incremented). */
  spec?: string | null;
  branch?: string | null;
  prNumber?: number | null;
  headSha?: string | null;
  /** The repo's budget_cycles (.gitea/damascus.yml), applied from this verdict on (it counts for this verdict too). */
  budgetCycles?: number | null;
  /** Merged into work_items.details. */
  details?: PhaseStatePatch;
  /** The story snapshot the spec phase read (title and body), and the writer who vouched for it. */
  story?: { title: string; body: string; vouchedBy: string | null };
}

export interface VerdictRecord extends VerdictInput {
  /** Hold the item after this verdict until a writer approves (`/damascus approve`): a spec_approval gate. */
  openGate?: { kind: 'spec_approval'; reason: string; approval?: GateApproval };
  /** Stored on the verdict row (feedback for the next attempt, test output, …). */
  details?: Record<string, unknown>;
  patch?: ItemPatch;
}

export type RecordResult = { recorded: true; verdictId: number; transition: Transition; humanIssueIds: number[] } | { recorded: false; reason: string };

/**
 * Write one verdict: the verdict row, the item's new state, the lease and its slot released, a
 * human issue per question (or one for a block) and the outbox events. One statement, so it is one
 * transaction; fenced by the lease token in the WHERE, so a zombie's late verdict writes nothing.
 * The transition is decided from the claimed snapshot, which the lease keeps current: every
 * operation that changes a leased item (cancel, an outside merge) also revokes its lease.
 */
export async function recordVerdict(
  sql: Sql,
  item: ClaimedItem,
  record: VerdictRecord,
  opts: { backoff: BackoffPolicy; worker?: string },
): Promise<RecordResult> {
  const budgetCycles = record.patch?.budgetCycles ?? item.budgetCycles;
  const t = decideTransition(
    { id: item.id, state: item.state, attempts: item.attempts, budgetCycles, errorCount: item.errorCount, maxErrors: item.maxErrors },
    record,
    opts.backoff,
  );
  const patch = record.patch ?? {};
  const approval = record.openGate?.approval;
  const context = { attempts: t.attempts, budgetCycles, explanation: t.explanation };
  // The statement adds each event's verdictId.
  const events = t.events.map(
    (e): EventWithout<'work.verdict' | 'work.blocked', 'verdictId'> =>
      e.type === 'work.verdict'
        ? { type: e.type, payload: { ...e.payload, ...context, ...(approval ? { approval } : {}) } }
        : { type: e.type, payload: { ...e.payload, ...context } },
  );
  const story = patch.story;
  const rows = await sql<{ verdictId: number; humanIssueIds: number[] | null }[]>`
    WITH item AS (
      UPDATE work_items SET
        state = ${t.to}, resume_phase = ${t.resumePhase}, attempts = ${t.attempts}, error_count = ${t.errorCount},
        budget_cycles = ${budgetCycles},
        run_after = CASE WHEN ${t.delayMs}::bigint IS NULL THEN NULL ELSE now() + ${t.delayMs}::bigint * interval '1 millisecond' END,
        ${clearLease(sql)},
        gate_count = gate_count + ${record.openGate ? 1 : 0},
        spec = COALESCE(${patch.spec ?? null}, spec),
        spec_version = spec_version + CASE WHEN ${patch.spec ?? null}::text IS NULL THEN 0 ELSE 1 END,
        branch = COALESCE(${patch.branch ?? null}, branch),
        pr_number = COALESCE(${patch.prNumber ?? null}, pr_number),
        head_sha = COALESCE(${patch.headSha ?? null}, head_sha),
        title = COALESCE(${story?.title ?? null}, title),
        story_body = COALESCE(${story?.body ?? null}, story_body),
        story_vouched_by = COALESCE(${story?.vouchedBy ?? null}, story_vouched_by),
        details = details || ${sql.json(patch.details ?? {})}::jsonb
                          || jsonb_build_object('lastTransition', ${sql.json({ verdict: t.verdict, from: t.from, to: t.to, explanation: t.explanation } as never)}::jsonb)
      WHERE id = ${item.id} AND lease_token = ${item.leaseToken} AND state = ${item.state}
      RETURNING id
    ), slot AS (
      ${freeSlots(sql, sql`lease_token = ${item.leaseToken} AND EXISTS (SELECT 1 FROM item)`)}
    ), v AS (
      INSERT INTO verdicts (item_id, phase, verdict, from_state, to_state, attempt, reason, details, worker, lease_token)
      SELECT id, ${item.state}, ${t.verdict}, ${item.state}, ${t.to}, ${t.attempts}, ${record.reason ?? null},
             ${sql.json((record.details ?? {}) as never)}, ${opts.worker ?? item.leaseOwner}, ${item.leaseToken}
      FROM item
      RETURNING id
    ), hi AS (
      ${insertQuestions(sql, 'item', t.humanIssues)}
    ), gate AS (
      INSERT INTO coordination_gates (item_id, kind, details)
      SELECT item.id, 'spec_approval',
             jsonb_build_object('reason', ${record.openGate?.reason ?? null}::text) || ${sql.json((approval ?? {}) as never)}::jsonb
      FROM item WHERE ${!!record.openGate}
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT item.id, e.type, e.payload || jsonb_build_object('verdictId', (SELECT id FROM v))
      FROM item, jsonb_to_recordset(${sql.json(events as never)}::jsonb) AS e(type text, payload jsonb)
      UNION ALL
      SELECT item.id, ${questionEvent(sql)} FROM item, hi
    )
    SELECT v.id AS verdict_id, (SELECT array_agg(id ORDER BY id) FROM hi) AS human_issue_ids FROM v`;
  const row = rows[0];
  if (!row) {
    return { recorded: false, reason: `stale lease: item ${item.id} is no longer leased with this token; the verdict was discarded` };
  }
  return { recorded: true, verdictId: row.verdictId, transition: t, humanIssueIds: row.humanIssueIds ?? [] };
}
