/**
 * The comment inbox (humans → bot): comments the webhook intake stored in webhook_deliveries are
 * checked here, outside the webhook request, because who wrote them matters and that takes a Gitea
 * API call. A writer's comment answers open questions and runs `/damascus` commands; a reader who
 * tries either gets a polite refusal and changes nothing; the bot's own comments are skipped. The payload only says
 * which comment: its author and body are read back from Gitea by id (a signed payload can still lie about them).
 * Every write for one delivery commits in one transaction, together with its replies (outbox events).
 */
import type { Sql, TxSql } from '../db/connection.js';
import { answerQuestions } from '../db/ops/answerQuestions.js';
import { approveSpecGate } from '../db/ops/approveSpecGate.js';
import { cancelItem } from '../db/ops/cancelItem.js';
import { claimInboxDelivery } from '../db/ops/claimInboxDelivery.js';
import { listInboxDeliveries } from '../db/ops/listInboxDeliveries.js';
import { readItemView } from '../db/ops/readItemView.js';
import { recordChangeApproval } from '../db/ops/recordChangeApproval.js';
import { retryItem } from '../db/ops/retryItem.js';
import { settleInboxDelivery } from '../db/ops/settleInboxDelivery.js';
import { writeOutboxEvent } from '../db/ops/writeOutboxEvent.js';
import { parseCommands, type CommandName, type CommandReply } from '../domain/commands.js';
import { answerText, matchAnswer, type Answer, type OpenQuestion } from '../domain/answers.js';
import type { State } from '../domain/states.js';
import type { Logger } from '../shared/log.js';
import { forItem } from '../gitea/attribution.js';
import type { GiteaClient } from '../gitea/client.js';
import { orNullIfNotFound } from '../gitea/errors.js';
import type { GiteaEvent } from '../domain/webhookEvent.js';
import { isBotSender, withoutNul } from '../gitea/events.js';
import type { PermissionCache } from '../gitea/permissions.js';
import { outboxEvent, replyEvent } from '../domain/events.js';
import { resumesAfterGates } from '../domain/transitions.js';

export interface InboxOptions {
  sql: Sql;
  /**
   * Reads each comment back by id (who wrote it and what it says come from Gitea, not from the payload), and for a
   * closed issue who closed it; reopens an issue a non-writer closed.
   */
  gitea: Pick<GiteaClient, 'getIssueComment' | 'getIssue' | 'getIssueTimeline' | 'editIssue'>;
  log: Logger;
  botLogin: string;
  permissions: PermissionCache;
  batch?: number;
}

export interface InboxResult {
  /** Deliveries marked processed this run. */
  processed: number;
  /** Items that became claimable (answered, retried, approved): enqueue a tick for each. */
  resumedItemIds: number[];
}

type CommentEvent = Extract<GiteaEvent, { kind: 'comment' }>;
// (one member of GiteaEvent covers closed, reopened and deleted; only closings reach the inbox)
type CloseEvent = Extract<GiteaEvent, { kind: 'issue.closed' | 'issue.reopened' | 'issue.deleted' }>;

/** What a comment asks for, before anyone checks who wrote it (pure). */
export interface CommentPlan {
  answers: Answer[];
  commands: CommandName[];
  unknown: string[];
}

export function planComment(body: string, openQuestions: readonly OpenQuestion[]): CommentPlan {
  const parsed = parseCommands(body);
  return { answers: matchAnswer(body, openQuestions).answers, commands: parsed.commands.map((c) => c.name), unknown: parsed.unknown };
}

const wantsAnything = (p: CommentPlan) => p.answers.length > 0 || p.commands.length > 0 || p.unknown.length > 0;

export async function processInbox(opts: InboxOptions): Promise<InboxResult> {
  const { sql, log } = opts;
  const result: InboxResult = { processed: 0, resumedItemIds: [] };
  for (const d of await listInboxDeliveries(sql, opts.batch ?? 50)) {
    if ((d.payload as Partial<CloseEvent> | null)?.kind === 'issue.closed' && d.itemId !== null) {
      if (await processClose(opts, d.id, d.itemId, d.payload as CloseEvent)) result.processed += 1;
      continue;
    }
    const skip = whyIgnored(d.payload, d.itemId);
    if (skip !== null) {
      await settleInboxDelivery(sql, d.id, { result: `ignored: ${skip}` });
      result.processed += 1;
      continue;
    }
    const itemId = d.itemId!;
    let ev: CommentEvent | null;
    try {
      ev = await forItem(itemId, () => readBack(opts.gitea, d.payload as CommentEvent));
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.warn({ delivery: d.id, itemId, error }, 'inbox: could not read the comment back; it stays in the inbox');
      await settleInboxDelivery(sql, d.id, { error });
      continue;
    }
    const gone = ev === null ? 'the comment no longer exists on this issue' : isBotSender(ev.comment.user.login, opts.botLogin) ? 'own comment' : null;
    if (ev === null || gone !== null) {
      await settleInboxDelivery(sql, d.id, { result: `ignored: ${gone}` });
      result.processed += 1;
      continue;
    }
    const login = ev.comment.user.login;
    // Nothing to steer with: no permission lookup needed.
    if (answerText(ev.comment.body) === '' && !wantsAnything(planComment(ev.comment.body, []))) {
      await settleInboxDelivery(sql, d.id, { result: 'ignored: nothing to act on' });
      result.processed += 1;
      continue;
    }
    let writer: boolean;
    try {
      writer = await forItem(itemId, () => opts.permissions.canWrite(ev.repo.owner, ev.repo.name, login));
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.warn({ delivery: d.id, itemId, error }, 'inbox: permission lookup failed; the comment stays in the inbox');
      await settleInboxDelivery(sql, d.id, { error });
      continue;
    }
    const checked = ev;
    const outcome = await sql.begin(async (tx) => {
      if (!(await claimInboxDelivery(tx, d.id))) return null;
      const applied = await applyComment(tx, itemId, checked, login, writer);
      await settleInboxDelivery(tx, d.id, { result: applied.result });
      return applied;
    });
    if (outcome === null) continue;
    result.processed += 1;
    if (outcome.resumed && !result.resumedItemIds.includes(itemId)) result.resumedItemIds.push(itemId);
    log.info({ delivery: d.id, itemId, login, result: outcome.result }, 'inbox: comment processed');
  }
  return result;
}

/**
 * A story's issue was closed. Only a writer (or the bot) cancels the story by closing its issue; anyone else's
 * closing (an issue's author may close it without write access) is undone: Damascus reopens the issue and goes on,
 * so Gitea keeps showing what Damascus is doing and the reconcile sweep, which replays a closed issue, stays quiet.
 * Who closed it is the issue timeline's last "close" entry, not the payload's sender (the sweep replays with none).
 * False when Gitea could not be asked: the delivery stays in the inbox with the error.
 */
async function processClose(opts: InboxOptions, deliveryId: number, itemId: number, ev: CloseEvent): Promise<boolean> {
  const { owner, name } = ev.repo;
  const n = ev.issue.number;
  let decision: { result: string; cancelBy?: string };
  try {
    decision = await forItem(itemId, async () => {
      // A story that ended meanwhile (its PR merged, say) is left alone: no reopening of a finished story's issue.
      const state = (await readItemView(opts.sql, itemId))?.state;
      if (state === undefined || state === 'done' || state === 'cancelled') return { result: 'ignored: already finished' };
      const issue = await orNullIfNotFound(opts.gitea.getIssue(owner, name, n));
      if (issue === null) return { result: 'ignored: the issue is gone' };
      if (issue.state !== 'closed') return { result: 'ignored: the issue is open again' };
      const closer = (await opts.gitea.getIssueTimeline(owner, name, n)).filter((t) => t.type === 'close' && t.user).at(-1)?.user?.login;
      if (!closer) return { result: 'ignored: Gitea does not say who closed the issue' };
      if (isBotSender(closer, opts.botLogin) || (await opts.permissions.canWrite(owner, name, closer))) return { result: 'cancel', cancelBy: closer };
      await opts.gitea.editIssue(owner, name, n, { state: 'open' });
      return { result: `reopened: closed by ${closer}, who cannot write to the repository; the story goes on` };
    });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    opts.log.warn({ delivery: deliveryId, itemId, error }, 'inbox: could not tell who closed the issue; the closing stays in the inbox');
    await settleInboxDelivery(opts.sql, deliveryId, { error });
    return false;
  }
  const settled = await opts.sql.begin(async (tx) => {
    if (!(await claimInboxDelivery(tx, deliveryId))) return null;
    let result = decision.result;
    if (decision.cancelBy !== undefined)
      result = (await cancelItem(tx, itemId, decision.cancelBy, 'issue closed')).ok ? 'cancelled' : 'ignored: already finished';
    await settleInboxDelivery(tx, deliveryId, { result });
    return result;
  });
  if (settled !== null) opts.log.info({ delivery: deliveryId, itemId, result: settled }, 'inbox: issue closing processed');
  return settled !== null;
}

/**
 * The comment as Gitea has it now (author and body), or null when it is gone or is not on the payload's issue (a
 * real comment's id put in a forged payload about another issue). Only the id and the issue come from the payload.
 */
async function readBack(gitea: InboxOptions['gitea'], ev: CommentEvent): Promise<CommentEvent | null> {
  const c = await orNullIfNotFound(gitea.getIssueComment(ev.repo.owner, ev.repo.name, ev.comment.id));
  const onIssue = (c?.issue_url || c?.pull_request_url || '').replace(/\/+$/, '').split('/').pop();
  if (!c?.user?.login || onIssue !== String(ev.issue.number)) return null;
  return { ...ev, comment: { ...ev.comment, body: withoutNul(c.body ?? ''), user: { id: c.user.id, login: c.user.login } } };
}

/** Why a delivery needs no work, or null when it is a human's new comment on a story. */
function whyIgnored(payload: unknown, itemId: number | null): string | null {
  const ev = payload as Partial<CommentEvent> | null;
  if (ev?.kind !== 'comment' || !ev.comment || !ev.repo || typeof ev.comment.body !== 'string' || typeof ev.comment.user?.login !== 'string') {
    return 'not a comment event';
  }
  if (itemId === null) return 'not a story';
  // An edit would run its commands a second time; answers and commands count when first posted.
  if (ev.action !== 'created') return 'edited comment';
  return null;
}

async function applyComment(tx: TxSql, itemId: number, ev: CommentEvent, login: string, writer: boolean): Promise<{ result: string; resumed: boolean }> {
  const view = await readItemView(tx, itemId);
  if (!view) return { result: 'ignored: item not found', resumed: false };
  const open = view.questions.filter((q) => q.status === 'open' && q.kind === 'question').map((q) => ({ id: q.id, tag: q.tag, question: q.question }));
  const plan = planComment(ev.comment.body, open);
  const reply = (r: CommandReply) => writeOutboxEvent(tx, itemId, replyEvent(r, ev.comment.id, login));

  if (!writer) {
    if (!wantsAnything(plan)) return { result: 'ignored: comment from a reader', resumed: false };
    await reply({ kind: 'forbidden', login });
    return { result: 'refused: no write permission', resumed: false };
  }

  const done: string[] = [];
  let state: State = view.state;
  let resumed = false;
  if (plan.answers.length > 0) {
    const a = await answerQuestions(
      tx,
      itemId,
      plan.answers.map((x) => ({ humanIssueId: x.id, text: x.text, by: login })),
    );
    const tags = open.filter((q) => a.answered.includes(q.id)).map((q) => q.tag);
    if (tags.length > 0) done.push(`answered ${tags.join(', ')}`);
    if (a.resumedTo) {
      state = a.resumedTo;
      resumed = true;
    }
  }
  for (const command of plan.commands) {
    switch (command) {
      case 'retry': {
        const r = await retryItem(tx, itemId, login);
        if (r.ok) {
          state = r.to;
          resumed = true;
          await reply({ kind: 'retried', login, resumes: r.to });
        } else await reply({ kind: 'not_applicable', command, state });
        break;
      }
      case 'cancel': {
        const r = await cancelItem(tx, itemId, login, `/damascus cancel by ${login}`);
        if (r.ok) {
          state = 'cancelled';
          await reply({ kind: 'cancelled', login });
        } else await reply({ kind: 'not_applicable', command, state });
        break;
      }
      case 'approve': {
        // `/damascus approve [sha]`: a spec gate (bound to its test command), else a guarded build change (bound to its fingerprint).
        const arg = parseCommands(ev.comment.body).commands.find((c) => c.name === 'approve')?.arg ?? null;
        const g = await approveSpecGate(tx, itemId, login, arg);
        const change = g.closed > 0 ? null : await recordChangeApproval(tx, itemId, login, arg);
        if (g.closed > 0) {
          const resumes = resumesAfterGates(g);
          if (resumes) resumed = true;
          await reply(resumes ? { kind: 'approved', login, resumes } : { kind: 'approved', login });
        } else if (change) {
          const a = await answerQuestions(tx, itemId, [{ humanIssueId: change.questionId, text: '/damascus approve', by: login }]);
          if (a.resumedTo) {
            state = a.resumedTo;
            resumed = true;
          }
          await reply({ kind: 'approved', login, fingerprint: change.fingerprint, ...(a.resumedTo ? { resumes: a.resumedTo } : {}) });
        } else await reply({ kind: 'not_applicable', command, state });
        break;
      }
      case 'status':
        await writeOutboxEvent(tx, itemId, outboxEvent('status.refresh', { by: login, commentId: ev.comment.id }));
        break;
      case 'why': {
        const last = view.details.lastTransition;
        await reply({ kind: 'why', explanation: last?.explanation ?? null, ...(last ? { from: last.from, to: last.to } : {}) });
        break;
      }
    }
    done.push(command);
  }
  if (plan.unknown.length > 0) {
    await reply({ kind: 'unknown', words: plan.unknown });
    done.push(`unknown: ${plan.unknown.join(' ')}`);
  }
  return { result: done.length > 0 ? done.join('; ') : 'ignored: nothing to act on', resumed };
}
