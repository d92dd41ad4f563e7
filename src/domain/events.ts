/**
 * The outbox's events (DESIGN §5 "Mirror"): one map from each event type to the payload its writers store
 * and the relay reads. TypeScript writers build events with `outboxEvent`; statements that build a payload
 * with jsonb_build_object are held to the same shapes by tests/db/outboxEvents.test.ts. Pure.
 */
import { type CommandReply, isCommandName } from './commands.js';
import { type ActivePhase, isActivePhase, isState, isVerdict, type State, type Verdict } from './states.js';

/**
 * What a writer approves with `/damascus approve` when a spec_approval gate opens: shown verbatim in the
 * verdict comment, and stored on the gate (the sha256 binds the approval to exactly this command).
 */
export interface GateApproval {
  reasons: string[];
  /** The test command the review will run once approved (from the spec: no test_command is configured). */
  testCommand?: string;
  testCommandSha256?: string;
}

/** What recordVerdict adds to each event of a verdict: the budget, why, and the verdicts row. */
export interface VerdictContext {
  attempts: number;
  budgetCycles: number;
  explanation: string;
  /** The verdicts row, added by the statement that inserts it. */
  verdictId: number;
}

export interface VerdictPayload extends VerdictContext {
  phase: ActivePhase;
  verdict: Verdict;
  from: ActivePhase;
  to: State;
  reason: string | null;
  /** An error verdict that is retried: the consecutive errors so far and the wait before the retry. */
  errorCount?: number;
  retryInMs?: number;
  /** The spec_approval gate this verdict opened. */
  approval?: GateApproval;
}

/** A reply to a comment's command (`reply.<kind>`, a reader's refusal as `reply.refused`). */
export interface ReplyPayload {
  reply: CommandReply;
  commentId: number;
  by: string;
}

const REPLY_TYPES = [
  'reply.unknown',
  'reply.refused',
  'reply.status',
  'reply.why',
  'reply.approved',
  'reply.retried',
  'reply.cancelled',
  'reply.not_applicable',
] as const;
export type ReplyType = (typeof REPLY_TYPES)[number];

export type OutboxEventMap = {
  'work.created': { issueNumber: number; title: string; by: string | null };
  'work.verdict': VerdictPayload;
  'work.blocked': VerdictContext & { phase: ActivePhase; verdict: Verdict; reason: string; resumePhase: ActivePhase };
  'work.waiting': { reason: string };
  'work.cancelled': { from: State; by: string; reason: string };
  'work.retried': { from: State; to: State; by: string };
  'work.resumed': { to: State; answered: number[]; by: string };
  'work.reactivated': { to: State; by: string };
  'work.done': { mergedBy: string; mergeCommitSha: string | null };
  'human.question': { humanIssueId: number; tag: string; kind: 'question' | 'blocked'; question: string };
  'review.dispatched': { headSha: string; workflow: string; attempt: number; runUrl: string | null };
  /** Written by the depends_on trigger (schema/003_gates.sql) for each item a done item releases. */
  'gate.resolved': { dependency: number; openGates: number };
  'agent.progress': Record<string, never>;
  /** A writer's `/damascus status` (by, commentId), or the reconcile sweep's repair (reason). */
  'status.refresh': { by?: string; commentId?: number; reason?: string };
} & { [K in ReplyType]: ReplyPayload };

export type OutboxEventType = keyof OutboxEventMap;
export type OutboxEvent = { [K in OutboxEventType]: { type: K; payload: OutboxEventMap[K] } }[OutboxEventType];
export type OutboxEventOf<K extends OutboxEventType> = Extract<OutboxEvent, { type: K }>;

/** Events of types K whose statement adds the fields F (ids of the rows it inserts, say). */
export type EventWithout<K extends OutboxEventType, F extends PropertyKey> = { [T in K]: { type: T; payload: Omit<OutboxEventMap[T], F> } }[K];

/** An event as every TypeScript writer makes it: the payload checked against its type at compile time. */
export function outboxEvent<K extends OutboxEventType>(type: K, payload: OutboxEventMap[K]): OutboxEventOf<K> {
  return { type, payload } as OutboxEventOf<K>;
}

/** The reply event for a command's answer. */
export function replyEvent(reply: CommandReply, commentId: number, by: string): OutboxEventOf<ReplyType> {
  const type: ReplyType = reply.kind === 'forbidden' ? 'reply.refused' : `reply.${reply.kind}`;
  return outboxEvent(type, { reply, commentId, by });
}

export function isReplyEvent(e: OutboxEvent): e is OutboxEventOf<ReplyType> {
  return (REPLY_TYPES as readonly string[]).includes(e.type);
}

// ---- reading a stored row ----

type Check = (v: unknown) => boolean;
const str: Check = (v) => typeof v === 'string';
const int: Check = (v) => typeof v === 'number' && Number.isInteger(v);
const num: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const nullable =
  (c: Check): Check =>
  (v) =>
    v === null || c(v);
const optional =
  (c: Check): Check =>
  (v) =>
    v === undefined || c(v);
const strings: Check = (v) => Array.isArray(v) && v.every(str);
const ints: Check = (v) => Array.isArray(v) && v.every(int);
const state: Check = (v) => typeof v === 'string' && isState(v);
const phase: Check = (v) => typeof v === 'string' && isActivePhase(v);
const verdict: Check = (v) => typeof v === 'string' && isVerdict(v);
const fields =
  <T>(shape: { [F in keyof Required<T>]: Check }): Check =>
  (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const checks = shape as Record<string, Check>;
    return Object.keys(v).every((k) => k in checks) && Object.entries(checks).every(([k, c]) => c((v as Record<string, unknown>)[k]));
  };

const context = { attempts: int, budgetCycles: int, explanation: str, verdictId: int };
const REPLY_KINDS: Record<ReplyType, CommandReply['kind'][]> = {
  'reply.unknown': ['unknown'],
  'reply.refused': ['forbidden'],
  'reply.status': ['status'],
  'reply.why': ['why'],
  'reply.approved': ['approved'],
  'reply.retried': ['retried'],
  'reply.cancelled': ['cancelled'],
  'reply.not_applicable': ['not_applicable'],
};
/** A command reply: its kind fits the event type (the renderer takes it from there). */
const reply = (type: ReplyType): Check =>
  fields<ReplyPayload>({
    reply: (r) => {
      if (typeof r !== 'object' || r === null) return false;
      const { kind, command } = r as { kind?: unknown; command?: unknown };
      return REPLY_KINDS[type].includes(kind as CommandReply['kind']) && (kind !== 'not_applicable' || (typeof command === 'string' && isCommandName(command)));
    },
    commentId: int,
    by: str,
  });

const PAYLOADS: { [K in OutboxEventType]: Check } = {
  'work.created': fields<OutboxEventMap['work.created']>({ issueNumber: int, title: str, by: nullable(str) }),
  'work.verdict': fields<VerdictPayload>({
    ...context,
    phase,
    verdict,
    from: phase,
    to: state,
    reason: nullable(str),
    errorCount: optional(int),
    retryInMs: optional(num),
    approval: optional(fields<GateApproval>({ reasons: strings, testCommand: optional(str), testCommandSha256: optional(str) })),
  }),
  'work.blocked': fields<OutboxEventMap['work.blocked']>({ ...context, phase, verdict, reason: str, resumePhase: phase }),
  'work.waiting': fields<OutboxEventMap['work.waiting']>({ reason: str }),
  'work.cancelled': fields<OutboxEventMap['work.cancelled']>({ from: state, by: str, reason: str }),
  'work.retried': fields<OutboxEventMap['work.retried']>({ from: state, to: state, by: str }),
  'work.resumed': fields<OutboxEventMap['work.resumed']>({ to: state, answered: ints, by: str }),
  'work.reactivated': fields<OutboxEventMap['work.reactivated']>({ to: state, by: str }),
  'work.done': fields<OutboxEventMap['work.done']>({ mergedBy: str, mergeCommitSha: nullable(str) }),
  'human.question': fields<OutboxEventMap['human.question']>({ humanIssueId: int, tag: str, kind: (k) => k === 'question' || k === 'blocked', question: str }),
  'review.dispatched': fields<OutboxEventMap['review.dispatched']>({ headSha: str, workflow: str, attempt: int, runUrl: nullable(str) }),
  'gate.resolved': fields<OutboxEventMap['gate.resolved']>({ dependency: int, openGates: int }),
  'agent.progress': fields<OutboxEventMap['agent.progress']>({}),
  'status.refresh': fields<OutboxEventMap['status.refresh']>({ by: optional(str), commentId: optional(int), reason: optional(str) }),
  ...(Object.fromEntries(REPLY_TYPES.map((t) => [t, reply(t)])) as Record<ReplyType, Check>),
};

function isEventType(type: string): type is OutboxEventType {
  return Object.hasOwn(PAYLOADS, type);
}

/**
 * A stored outbox row as the typed union: null when its type is not in the map (the relay skips it,
 * and says so); an Error when its payload does not have its type's shape.
 */
export function readOutboxEvent(row: { type: string; payload: unknown }): OutboxEvent | null {
  if (!isEventType(row.type)) return null;
  if (!PAYLOADS[row.type](row.payload))
    throw new Error(`${row.type} event: the payload ${JSON.stringify(row.payload).slice(0, 200)} is not a ${row.type} payload`);
  return { type: row.type, payload: row.payload } as OutboxEvent;
}
