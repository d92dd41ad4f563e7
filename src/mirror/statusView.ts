/**
 * The status comment's content from an item's stored facts (pure): which phases are behind it,
 * what it waits on, what happens next, and the PR and review-run links.
 */
import type { ItemView } from '../db/ops/readItemView.js';
import { waitKind } from '../domain/waiting.js';
import type { AgentProgress, StatusView } from '../gitea/render.js';

const ORDER = ['spec', 'build', 'review', 'done'] as const;

/** The phases done so far follow from where the item is (or where it resumes). */
function phasesDone(v: ItemView): StatusView['phasesDone'] {
  const at = v.state === 'done' ? 'done' : v.state === 'spec' || v.state === 'build' || v.state === 'review' ? v.state : v.resumePhase;
  const rank = at === null ? 0 : ORDER.indexOf(at);
  return { spec: rank > 0, build: rank > 1, review: rank > 2, merge: rank > 2 };
}

function str(details: Record<string, unknown>, key: string): string | null {
  const v = details[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

function waitingAndNext(v: ItemView, openTags: string[]): { waitingOn: string | null; next: string } {
  const after = v.state === 'spec' ? 'build' : v.state === 'build' ? 'review' : 'merge';
  const next = `${v.state}, then ${after}`;
  switch (waitKind(v, v.now)) {
    case 'question':
      return {
        waitingOn: openTags.length > 0 ? `an answer to ${openTags.join(', ')}` : 'a human answer',
        next: `${v.resumePhase ?? 'the phase it came from'} resumes once every open question is answered`,
      };
    case 'blocked':
      return {
        waitingOn: 'a human: fix the cause, then comment /damascus retry',
        next: `/damascus retry resumes ${v.resumePhase ?? 'spec'} with a fresh attempt budget`,
      };
    case 'finished':
      return { waitingOn: null, next: v.state === 'done' ? 'nothing: the work is merged' : 'nothing: add the trigger label again to resume' };
    case 'running':
      return { waitingOn: null, next: `${v.state} is running; then ${after}` };
    case 'gated':
      return { waitingOn: `${v.gateCount} open gate(s): another item to finish or a spec approval`, next };
    case 'review_run':
      return { waitingOn: 'the review run', next };
    case 'error_retry':
      return { waitingOn: `a retry after an infrastructure error (${v.errorCount} of ${v.maxErrors})`, next };
    case 'queued':
      return { waitingOn: 'a free worker', next };
  }
}

/** The agent's progress, shown only while its build holds the lease (a finished run's last report is history). */
function agentProgress(v: ItemView): AgentProgress | null {
  const p = v.agentProgress;
  if (!p || v.state !== 'build' || !v.leased || typeof p.builder !== 'string' || typeof p.at !== 'string') return null;
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  return { builder: p.builder, turns: num(p.turns), costUsd: num(p.costUsd), activity: typeof p.activity === 'string' ? p.activity : null, at: p.at };
}

export function buildStatusView(v: ItemView, now: Date = v.since): StatusView {
  const open = v.questions.filter((q) => q.status === 'open');
  const prUrl = str(v.details, 'prUrl') ?? (v.prNumber !== null && v.projectHtmlUrl ? `${v.projectHtmlUrl.replace(/\/+$/, '')}/pulls/${v.prNumber}` : null);
  const { waitingOn, next } = waitingAndNext(
    v,
    open.map((q) => q.tag),
  );
  return {
    itemId: v.id,
    state: v.state,
    resumePhase: v.resumePhase,
    attempts: v.attempts,
    budgetCycles: v.budgetCycles,
    costUsd: v.costUsd,
    unknownCostRuns: v.unknownCostRuns,
    agent: agentProgress(v),
    maxCostUsd: v.maxCostUsd,
    phasesDone: phasesDone(v),
    waitingOn,
    since: v.since,
    next,
    prUrl,
    runUrl: str(v.details, 'runUrl'),
    openQuestions: open.map((q) => ({ tag: q.tag, question: q.question })),
    updatedAt: now,
  };
}
