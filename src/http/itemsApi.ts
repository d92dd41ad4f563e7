/**
 * GET /api/v1/items and /api/v1/items/ID: what the dashboard shows, as JSON. The shaping from
 * database facts to summaries (why an item waits, its links) is pure and shared with the HTML page.
 */
import type { Sql } from '../db/connection.js';
import { readDashboard, type DashboardFacts, type DashboardItemRow, type OpenQuestionRow } from '../db/ops/readDashboard.js';
import { readItemDetail, type ItemDetailFacts } from '../db/ops/readItemDetail.js';
import { STATES, isState, type State } from '../domain/states.js';
import { waitKind, type WaitKind } from '../domain/waiting.js';
import { sendJson, type Route } from './server.js';

/** What an item waits on, in words, and since when. */
export interface WaitReason {
  kind: WaitKind;
  text: string;
  since: Date | null;
}

export interface ItemLinks {
  issue: string | null;
  pr: string | null;
  run: string | null;
}

/** The row's facts a summary carries as they are (unknownCostRuns: costUsd is then a floor, not the total). */
type SummaryFacts = Pick<
  DashboardItemRow,
  | 'id'
  | 'issueNumber'
  | 'title'
  | 'state'
  | 'resumePhase'
  | 'attempts'
  | 'budgetCycles'
  | 'errorCount'
  | 'maxErrors'
  | 'costUsd'
  | 'unknownCostRuns'
  | 'maxCostUsd'
  | 'prNumber'
  | 'createdAt'
  | 'updatedAt'
>;

export interface ItemSummary extends SummaryFacts {
  /** owner/name */
  repo: string;
  lease: { holder: string; since: Date | null; until: Date } | null;
  waiting: WaitReason;
  links: ItemLinks;
  /** Tags of the item's open questions, oldest first. */
  openQuestions: string[];
}

export interface QuestionSummary {
  tag: string;
  itemId: number;
  repo: string;
  issueNumber: number;
  question: string;
  since: Date;
  issueUrl: string | null;
}

export interface BlockedSummary {
  itemId: number;
  repo: string;
  issueNumber: number;
  title: string;
  reason: string;
  since: Date;
  issueUrl: string | null;
}

export interface DashboardView {
  generatedAt: Date;
  counts: Record<State, number>;
  leases: { live: number; cap: number };
  /** Unfinished items (claim order), then the most recently finished. */
  items: ItemSummary[];
  /** Open questions, oldest first. */
  openQuestions: QuestionSummary[];
  blocked: BlockedSummary[];
}

/** One item's page: its summary, and its spec, branch, questions, verdicts and review runs. */
export type ItemDetailView = ItemSummary & Omit<ItemDetailFacts, 'now' | 'item'>;

/** ISO time to the second (what people read). */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Only http(s) URLs become links: a value from the database or a payload could be `javascript:`. */
export function safeHttpUrl(raw: string | null | undefined): string | null {
  if (!raw) return null;
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : null;
  } catch {
    return null;
  }
}

export function itemLinks(row: Pick<DashboardItemRow, 'issueUrl' | 'projectHtmlUrl' | 'issueNumber' | 'prNumber' | 'prUrl' | 'runUrl'>): ItemLinks {
  const base = safeHttpUrl(row.projectHtmlUrl)?.replace(/\/+$/, '') ?? null;
  return {
    issue: safeHttpUrl(row.issueUrl) ?? (base ? `${base}/issues/${row.issueNumber}` : null),
    pr: safeHttpUrl(row.prUrl) ?? (base && row.prNumber !== null ? `${base}/pulls/${row.prNumber}` : null),
    run: safeHttpUrl(row.runUrl),
  };
}

type WaitFacts = Pick<
  DashboardItemRow,
  'state' | 'leaseOwner' | 'leasedAt' | 'leaseUntil' | 'runAfter' | 'gateCount' | 'errorCount' | 'maxErrors' | 'explanation' | 'updatedAt'
>;

/**
 * Why an item waits, in the dashboard's words (src/domain/waiting.ts decides which). `openQuestions` are the
 * item's open questions, oldest first; `now` is the database's clock at the read.
 */
export function whyItWaits(f: WaitFacts, openQuestions: Pick<OpenQuestionRow, 'tag' | 'createdAt'>[], now: Date): WaitReason {
  const kind = waitKind(f, now);
  switch (kind) {
    case 'finished':
      return { kind, text: f.state, since: f.updatedAt };
    case 'blocked':
      return { kind, text: f.explanation ?? 'blocked (no reason was recorded)', since: f.updatedAt };
    case 'question': {
      const tags = openQuestions.map((q) => q.tag);
      return {
        kind,
        text: tags.length > 0 ? `waiting for an answer to ${tags.join(', ')}` : 'waiting for an answer',
        since: openQuestions[0]?.createdAt ?? f.updatedAt,
      };
    }
    case 'running': {
      const since = f.leasedAt ?? f.updatedAt;
      return { kind, text: `running ${f.state} on ${f.leaseOwner} since ${isoSeconds(since)}`, since };
    }
    case 'review_run':
      return { kind, text: `waiting for the review run until ${isoSeconds(f.runAfter!)}`, since: f.updatedAt };
    case 'error_retry':
      return { kind, text: `retrying after an error (${f.errorCount} of ${f.maxErrors}), waiting until ${isoSeconds(f.runAfter!)}`, since: f.updatedAt };
    case 'gated':
      return { kind, text: 'waiting on a dependency or spec approval', since: f.updatedAt };
    case 'queued':
      return { kind, text: 'queued', since: f.updatedAt };
  }
}

function repoName(row: Pick<DashboardItemRow, 'owner' | 'repo'>): string {
  return `${row.owner}/${row.repo}`;
}

/** Open human issues that are questions (a blocked item's issue is shown as its reason instead). */
function questionsOnly<T extends { kind: string }>(rows: T[]): T[] {
  return rows.filter((q) => q.kind !== 'blocked');
}

export function summarizeItem(row: DashboardItemRow, openQuestions: Pick<OpenQuestionRow, 'tag' | 'createdAt'>[], now: Date): ItemSummary {
  return {
    id: row.id,
    repo: repoName(row),
    issueNumber: row.issueNumber,
    title: row.title,
    state: row.state,
    resumePhase: row.resumePhase,
    attempts: row.attempts,
    budgetCycles: row.budgetCycles,
    errorCount: row.errorCount,
    maxErrors: row.maxErrors,
    costUsd: row.costUsd,
    unknownCostRuns: row.unknownCostRuns,
    maxCostUsd: row.maxCostUsd,
    prNumber: row.prNumber,
    lease: row.leaseOwner !== null && row.leaseUntil !== null ? { holder: row.leaseOwner, since: row.leasedAt, until: row.leaseUntil } : null,
    waiting: whyItWaits(row, openQuestions, now),
    links: itemLinks(row),
    openQuestions: openQuestions.map((q) => q.tag),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** The whole dashboard from its facts (pure). */
export function buildDashboard(facts: DashboardFacts, cap: number): DashboardView {
  const questions = questionsOnly(facts.openQuestions);
  const byItem = new Map<number, OpenQuestionRow[]>();
  for (const q of questions) byItem.set(q.itemId, [...(byItem.get(q.itemId) ?? []), q]);
  const items = facts.items.map((row) => summarizeItem(row, byItem.get(row.id) ?? [], facts.now));
  const itemById = new Map(facts.items.map((r) => [r.id, r]));
  const counts = Object.fromEntries(STATES.map((s) => [s, facts.counts[s] ?? 0])) as Record<State, number>;
  return {
    generatedAt: facts.now,
    counts,
    leases: { live: facts.liveLeases, cap },
    items,
    openQuestions: questions.map((q) => {
      const row = itemById.get(q.itemId);
      return {
        tag: q.tag,
        itemId: q.itemId,
        repo: row ? repoName(row) : '',
        issueNumber: row?.issueNumber ?? 0,
        question: q.question,
        since: q.createdAt,
        issueUrl: row ? itemLinks(row).issue : null,
      };
    }),
    blocked: items
      .filter((i) => i.state === 'blocked')
      .map((i) => ({
        itemId: i.id,
        repo: i.repo,
        issueNumber: i.issueNumber,
        title: i.title,
        reason: i.waiting.text,
        since: i.updatedAt,
        issueUrl: i.links.issue,
      }))
      .sort((a, b) => a.since.getTime() - b.since.getTime()),
  };
}

/** A positive whole number that fits a BIGINT id, else null. */
export function parseItemId(raw: string): number | null {
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : null;
}

export interface ItemsApiDeps {
  sql: Sql;
  /** The global concurrency cap (DAMASCUS_CONCURRENCY). */
  cap: number;
}

export const ITEMS_PATH = '/api/v1/items';
export const ITEM_PATH = /^\/api\/v1\/items\/([^/]*)$/;

export async function loadDashboard(deps: ItemsApiDeps): Promise<DashboardView> {
  return buildDashboard(await readDashboard(deps.sql), deps.cap);
}

/** The JSON routes (unguarded: src/http/dashboard.ts puts them behind the dashboard token). */
export function itemsApiRoutes(deps: ItemsApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: ITEMS_PATH,
      handler: async (_req, res, url) => {
        const state = url.searchParams.get('state');
        if (state !== null && !isState(state)) {
          return sendJson(res, 400, { error: `unknown state ${JSON.stringify(state)}: use one of ${STATES.join(', ')}` });
        }
        const view = await loadDashboard(deps);
        sendJson(res, 200, state === null ? view : { ...view, items: view.items.filter((i) => i.state === state) });
      },
    },
    {
      method: 'GET',
      path: ITEM_PATH,
      handler: async (_req, res, url) => {
        const id = parseItemId(ITEM_PATH.exec(url.pathname)?.[1] ?? '');
        if (id === null) return sendJson(res, 400, { error: 'the item id must be a positive whole number' });
        const facts = await readItemDetail(deps.sql, id);
        if (!facts) return sendJson(res, 404, { error: `no item ${id}` });
        const open = questionsOnly(facts.questions.filter((q) => q.status === 'open'));
        const detail: ItemDetailView = {
          ...summarizeItem(facts.item, open, facts.now),
          spec: facts.spec,
          specVersion: facts.specVersion,
          branch: facts.branch,
          headSha: facts.headSha,
          questions: facts.questions,
          verdicts: facts.verdicts,
          reviewRuns: facts.reviewRuns,
        };
        sendJson(res, 200, detail);
      },
    },
  ];
}
