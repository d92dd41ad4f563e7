/**
 * Markdown for every comment the bot writes (pure). Each comment starts with a hidden marker so a
 * retried delivery finds the comment it wrote before instead of writing a second one. Issue text,
 * LLM output and test logs are untrusted: they are neutralised so they cannot @mention people,
 * open HTML (comments, <details>) or break out of a code block.
 */
import { fenceFor } from '../config/repoConfig.js';
import { markdownLines, unclosedFence, VALID_COMMANDS, type CommandReply } from '../domain/commands.js';
import type { ActivePhase, State, Verdict } from '../domain/states.js';

// ---- markers ----

export type MarkerKind = 'status' | 'event' | 'question';
export interface Marker {
  kind: MarkerKind;
  id: string;
}

const MARKER_LINE = /^[ \t]*<!-- damascus:(status|event|question):([A-Za-z0-9_.-]+) -->[ \t]*$/;

function marker(kind: MarkerKind, id: number | string): string {
  const s = String(id);
  if (!/^[A-Za-z0-9_.-]+$/.test(s)) throw new Error(`marker id must be letters, digits, '_', '.' or '-': ${JSON.stringify(s)}`);
  return `<!-- damascus:${kind}:${s} -->`;
}

export const markerFor = {
  status: (itemId: number | string) => marker('status', itemId),
  event: (eventId: number | string) => marker('event', eventId),
  question: (humanIssueId: number | string) => marker('question', humanIssueId),
};

/**
 * The first marker on a line of its own, outside quotes and code. A human quote-reply copies the
 * bot's text, marker included, into `> ` lines; those do not make the reply a bot comment. (Only
 * look at comments whose author is the bot: anyone can type a marker.)
 */
export function findMarker(body: string): Marker | null {
  for (const line of markdownLines(body)) {
    if (line.quoted || line.inCode) continue;
    const m = MARKER_LINE.exec(line.text);
    if (m) return { kind: m[1] as MarkerKind, id: m[2] as string };
  }
  return null;
}

/** True when `marker` (from markerFor) stands on a line of its own outside quotes and code. */
export function hasMarker(body: string, markerText: string): boolean {
  const want = markerText.trim();
  return markdownLines(body).some((l) => !l.quoted && !l.inCode && l.text.trim() === want);
}

// ---- neutralising untrusted text ----

const ZWJ = '\u200d';

/** `@name` would notify a user (or `@everyone`-style teams); a zero-width joiner after '@' keeps it readable but inert. */
function defuseMentions(s: string): string {
  return s.replace(/@(?=[\w.-])/g, `@${ZWJ}`);
}

/** Untrusted text on one line: no line breaks, no HTML, no mentions, at most `max` characters. */
export function inlineText(s: string, max = 300): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return defuseMentions(cap(flat, max).replace(/</g, '&lt;'));
}

/**
 * Untrusted Markdown prose kept as Markdown: '<' is escaped outside code blocks (no HTML, so no
 * `<!--`, `</details>` or fake markers), mentions are defused everywhere, and a fence left open is
 * closed so the text cannot swallow what the bot writes after it.
 */
export function proseText(s: string, max = 20_000): string {
  const capped = cap(s, max);
  const body = markdownLines(capped)
    .map((l) => (l.inCode ? defuseMentions(l.text) : defuseMentions(l.text.replace(/</g, '&lt;'))))
    .join('\n');
  const open = unclosedFence(capped);
  return open === null ? body : `${body}\n${open}`;
}

/** Test output and logs are capped so a comment stays postable; the tail (where failures are summarised) is kept. */
export const MAX_LOG_CHARS = 60_000;

/** A fenced block whose fence is longer than any backtick run inside, so the text cannot close it early. */
export function codeBlock(s: string, max = MAX_LOG_CHARS): string {
  const text = capTail(s, max);
  const fence = fenceFor(text);
  return `${fence}text\n${defuseMentions(text)}\n${fence}`;
}

function cap(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${safeSlice(s, 0, max)}… (${s.length - max} more characters cut)`;
}

/** Keep the first third and the last two thirds of the budget. */
function capTail(s: string, max: number): string {
  if (s.length <= max) return s;
  const head = Math.floor(max / 3);
  const tail = max - head;
  const cut = s.length - head - tail;
  return `${safeSlice(s, 0, head)}\n… (${cut} characters cut) …\n${safeSlice(s, s.length - tail, s.length)}`;
}

/** Slice without splitting a surrogate pair. */
function safeSlice(s: string, start: number, end: number): string {
  let a = start;
  let b = end;
  if (a > 0 && isLowSurrogate(s.charCodeAt(a))) a += 1;
  if (b < s.length && isLowSurrogate(s.charCodeAt(b))) b -= 1;
  return s.slice(a, b);
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function when(d: Date | string): string {
  const date = d instanceof Date ? d : new Date(d);
  if (Number.isNaN(date.getTime())) return inlineText(String(d), 40);
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function usd(n: number): string {
  return `$${n.toFixed(2)}`;
}

/** Only http(s) links are rendered; anything else is dropped. */
function link(label: string, url: string | null | undefined): string | null {
  if (!url || !/^https?:\/\/[^\s()<>]+$/i.test(url)) return null;
  return `[${label}](${url})`;
}

// ---- status comment ----

export interface StatusView {
  itemId: number;
  state: State;
  resumePhase: ActivePhase | null;
  /** Attempts consumed by fail / spec_wrong verdicts. */
  attempts: number;
  budgetCycles: number;
  costUsd: number;
  /** Runs whose cost nobody knows: the cost is then shown as at least costUsd, never as exact. */
  unknownCostRuns?: number;
  maxCostUsd: number | null;
  /** The coding agent's progress while a build runs, as its CLI streams it. */
  agent?: AgentProgress | null;
  phasesDone: { spec: boolean; build: boolean; review: boolean; merge: boolean };
  /** What the item waits on right now (e.g. "the review run", "an answer to Q-7"), or null. */
  waitingOn: string | null;
  since: Date | string;
  /** What happens next, in words. */
  next: string;
  prUrl?: string | null;
  runUrl?: string | null;
  openQuestions: { tag: string; question: string }[];
  updatedAt: Date | string;
  /** What a reader must know about how the installation runs this story (e.g. an agent without a sandbox). */
  warnings?: string[];
}

/** What a running coding agent has done so far (src/agent/progress.ts writes it under the lease). */
export interface AgentProgress {
  builder: string;
  turns: number | null;
  costUsd: number | null;
  activity: string | null;
  at: Date | string;
}

function agentLine(a: AgentProgress): string {
  const parts = [
    `\`${inlineText(a.builder, 40)}\``,
    a.turns === null ? null : `${a.turns} turn${a.turns === 1 ? '' : 's'}`,
    a.costUsd === null ? 'cost so far unknown' : `${usd(a.costUsd)} so far`,
    a.activity ? `last: ${inlineText(a.activity, 120)}` : null,
  ].filter((x): x is string => x !== null);
  return `${parts.join(' · ')} (at ${when(a.at)})`;
}

const PHASE_WORDS: Record<ActivePhase, string> = {
  spec: 'writing the spec',
  build: 'implementing the spec',
  review: 're-running the tests on the pull request',
};

function nowLine(v: StatusView): string {
  switch (v.state) {
    case 'spec':
    case 'build':
    case 'review':
      return `${v.state} (${PHASE_WORDS[v.state]})`;
    case 'awaiting_human':
      return `awaiting an answer${v.resumePhase ? `, then back to ${v.resumePhase}` : ''}`;
    case 'blocked':
      return `blocked${v.resumePhase ? ` in ${v.resumePhase}` : ''}; \`/damascus retry\` resets the attempts and resumes it`;
    case 'done':
      return 'done: the pull request is merged';
    case 'cancelled':
      return 'cancelled';
  }
}

export function renderStatusComment(v: StatusView): string {
  const checklist = (['spec', 'build', 'review', 'merge'] as const).map((p) => `- [${v.phasesDone[p] ? 'x' : ' '}] ${p}`);
  const unknown = v.unknownCostRuns ?? 0;
  const spent = unknown > 0 ? `${usd(v.costUsd)} + unknown (${unknown} run${unknown === 1 ? '' : 's'} reported no cost)` : usd(v.costUsd);
  const cost = v.maxCostUsd === null ? `${spent} (no limit)` : `${spent} of ${usd(v.maxCostUsd)}`;
  const facts = [
    `- **Now:** ${nowLine(v)}`,
    `- **Waiting on:** ${v.waitingOn === null ? 'nothing' : inlineText(v.waitingOn, 200)} since ${when(v.since)}`,
    `- **Next:** ${inlineText(v.next, 300)}`,
    `- **Attempts:** ${v.attempts} of ${v.budgetCycles} used`,
    `- **Cost:** ${cost}`,
  ];
  if (v.agent && v.state === 'build') facts.splice(1, 0, `- **Agent:** ${agentLine(v.agent)}`);
  const links = [link('pull request', v.prUrl), link('review run', v.runUrl)].filter((l): l is string => l !== null);
  if (links.length > 0) facts.push(`- **Links:** ${links.join(' · ')}`);
  for (const w of v.warnings ?? []) facts.push(`- **Warning:** ${inlineText(w, 300)}`);
  const parts = [markerFor.status(v.itemId), `**Damascus** · work item ${v.itemId} · \`damascus/${v.state}\``, checklist.join('\n'), facts.join('\n')];
  if (v.openQuestions.length > 0) {
    parts.push(['**Open questions:**', ...v.openQuestions.map((q) => `- \`${inlineText(q.tag, 20)}\`: ${inlineText(q.question, 200)}`)].join('\n'));
  }
  parts.push(`<sub>Updated ${when(v.updatedAt)}. This comment is edited in place.</sub>`);
  return parts.join('\n\n');
}

// ---- verdict comment ----

export interface VerdictCommentInput {
  eventId: number | string;
  phase: State;
  verdict: Verdict;
  from: State;
  to: State;
  reason: string | null;
  attempts: number;
  budgetCycles: number;
  explanation: string | null;
  /** Long text such as test output: capped and fenced. */
  details?: string | null;
  /** The spec_approval gate this verdict opened: what a writer approves with `/damascus approve`. */
  approval?: { reasons: string[]; testCommand?: string; testCommandSha256?: string } | null;
}

export function renderVerdictComment(v: VerdictCommentInput): string {
  const reason = v.reason ? `: ${inlineText(v.reason, 300)}` : '';
  const line = `**${v.phase}: ${v.verdict}** → ${v.to} (attempts ${v.attempts} of ${v.budgetCycles} used)${reason}`;
  const folded: string[] = [];
  if (v.explanation && v.explanation.trim() !== '') folded.push(proseText(v.explanation.trim()));
  if (v.details && v.details !== '') folded.push(codeBlock(v.details));
  const parts = [markerFor.event(v.eventId), line];
  if (v.approval) parts.push(approvalRequest(v.approval));
  if (folded.length > 0) parts.push(`<details>\n<summary>Details (${v.from} → ${v.to})</summary>\n\n${folded.join('\n\n')}\n\n</details>`);
  return parts.join('\n\n');
}

/**
 * What `/damascus approve` approves, in full: a test command from the spec is shown verbatim, in a fence the
 * command cannot close, since issue text can steer the LLM that wrote it.
 */
function approvalRequest(a: NonNullable<VerdictCommentInput['approval']>): string {
  const why = a.reasons.length > 0 ? ` (${inlineText(a.reasons.join('; '), 300)})` : '';
  if (a.testCommand === undefined) return `**Waiting for a writer's approval**${why}. A writer: reply \`/damascus approve\` to let the build start.`;
  const fence = fenceFor(a.testCommand);
  const sha = (a.testCommandSha256 ?? '').replace(/[^0-9a-f]/g, '').slice(0, 12);
  return [
    `**Waiting for a writer's approval**${why}. The review will run this test command, written by the spec from the issue's text:`,
    `${fence}sh\n${a.testCommand}\n${fence}`,
    `A writer: reply \`/damascus approve\`${sha ? ` (or \`/damascus approve ${sha}\`)` : ''} to approve exactly this command and start the build. ` +
      'A later spec with another command asks again; a `test_command` in `.gitea/damascus.yml` always wins.',
  ].join('\n\n');
}

// ---- question comment ----

export interface QuestionCommentInput {
  humanIssueId: number;
  tag: string;
  question: string;
  kind: 'question' | 'blocked';
  phase: State;
}

export function renderQuestionComment(q: QuestionCommentInput): string {
  const tag = inlineText(q.tag, 20);
  const title = q.kind === 'blocked' ? `**Blocked \`${tag}\`** (in ${q.phase})` : `**Question \`${tag}\`** (from ${q.phase})`;
  const howToAnswer =
    `**How to answer:** quote-reply this comment, or mention \`${tag}\` in a comment on this issue. ` +
    'While this is the only open question, any comment here answers it. ' +
    'Only comments from users with write access to the repository count.';
  const parts = [markerFor.question(q.humanIssueId), title, proseText(q.question.trim()), howToAnswer];
  if (q.kind === 'blocked') {
    parts.push(`When the cause is fixed, comment \`/damascus retry\` to reset the attempts and resume ${q.phase}, or \`/damascus cancel\` to stop.`);
  }
  return parts.join('\n\n');
}

// ---- replies to commands ----

export function renderCommandReply(eventId: number | string, r: CommandReply): string {
  return `${markerFor.event(eventId)}\n\n${commandReplyText(r)}`;
}

function commandList(): string {
  return VALID_COMMANDS.map((c) => `\`/damascus ${c}\``).join(', ');
}

function commandReplyText(r: CommandReply): string {
  switch (r.kind) {
    case 'unknown': {
      const words = r.words.map((w) => (w === '' ? '(none)' : `\`${inlineText(w, 40).replace(/`/g, '')}\``)).join(', ');
      return `Unknown Damascus command: ${words}. Valid commands: ${commandList()}.`;
    }
    case 'forbidden':
      return `Sorry, ${inlineText(r.login, 60)}: only users with write access to this repository can steer Damascus, so this comment was not acted on.`;
    case 'status': {
      const where = link('status comment', r.statusUrl);
      return `Status refreshed${where ? `: see the ${where}` : ' (see the status comment above)'}.`;
    }
    case 'why': {
      if (!r.explanation || r.explanation.trim() === '') return 'No transition has been recorded for this item yet.';
      const head = r.from && r.to ? `Why it moved from ${r.from} to ${r.to}${r.at ? ` (${when(r.at)})` : ''}:` : 'Why the last transition happened:';
      return `${head}\n\n${proseText(r.explanation.trim())}`;
    }
    case 'approved':
      return `Approved by ${inlineText(r.login, 60)}${r.fingerprint ? `: the change \`${inlineText(r.fingerprint, 64).slice(0, 12)}\`` : ''}.${r.resumes ? ` Resuming ${r.resumes}.` : ''}`;
    case 'retried':
      return `Retry requested by ${inlineText(r.login, 60)}: attempts reset${r.resumes ? `, resuming ${r.resumes}` : ''}.`;
    case 'cancelled':
      return `Cancelled by ${inlineText(r.login, 60)}. Damascus stops working on this issue.`;
    case 'not_applicable':
      return `\`/damascus ${r.command}\` does not apply while the item is ${r.state}.`;
  }
}
