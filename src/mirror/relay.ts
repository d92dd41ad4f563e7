/**
 * The outbox relay: turns committed events_outbox rows into Gitea effects (DESIGN §5 "Mirror").
 * Delivery is at-least-once; every comment carries a hidden marker, and a retried event looks for
 * its marker among the bot's own comments before writing, so a crash between "posted" and
 * "marked delivered" never doubles a comment. Failures back off exponentially; an event that keeps
 * failing is parked with its error (shown by `damascus status`), never dropped.
 */
import type { Sql } from '../db/connection.js';
import { claimOutboxEvents, type ClaimedOutboxEvent } from '../db/ops/claimOutboxEvents.js';
import { readItemView, type ItemView } from '../db/ops/readItemView.js';
import { releaseOutboxEvents } from '../db/ops/releaseOutboxEvents.js';
import { renewOutboxClaim } from '../db/ops/renewOutboxClaim.js';
import { setQuestionCommentId } from '../db/ops/setQuestionCommentId.js';
import { setStatusCommentId } from '../db/ops/setStatusCommentId.js';
import { settleOutboxEvent } from '../db/ops/settleOutboxEvent.js';
import { isReplyEvent, readOutboxEvent, type OutboxEventMap } from '../domain/events.js';
import type { Logger } from '../shared/log.js';
import type { Metrics } from '../shared/metrics.js';
import type { GiteaClient } from '../gitea/client.js';
import { forItem } from '../gitea/attribution.js';
import { labelCreateOption, labelPlan } from '../gitea/labels.js';
import { sendOnce } from '../gitea/sendOnce.js';
import { hasMarker, markerFor, renderCommandReply, renderQuestionComment, renderStatusComment, renderVerdictComment } from '../gitea/render.js';
import { buildStatusView } from './statusView.js';
import type { Comment } from '../gitea/types.js';

/** The client methods the relay calls. */
export type RelayGitea = Pick<
  GiteaClient,
  'listIssueComments' | 'createIssueComment' | 'editIssueComment' | 'ensureRepoLabel' | 'getIssueLabels' | 'addIssueLabels' | 'removeIssueLabel'
>;

export interface RelayOptions {
  sql: Sql;
  gitea: RelayGitea;
  log: Logger;
  /** The bot's login (GET /user): only its comments' markers are trusted. */
  botLogin: string;
  metrics?: Pick<Metrics, 'relayed'>;
  batch?: number;
  /** Failed attempts after which an event is parked. */
  maxAttempts?: number;
  /** Backoff after the first failure; doubles per failure, capped at one hour. */
  baseBackoffMs?: number;
  /** How long a claim keeps other relays away (a crashed relay's events are due again after this). */
  claimMs?: number;
  /** Shown on every status comment (DAMASCUS_SANDBOX=off, say). */
  statusWarnings?: string[];
}

export interface RelayResult {
  delivered: number;
  failed: number;
  parked: number;
}

const MAX_BACKOFF_MS = 3_600_000;

export async function relayOutbox(opts: RelayOptions): Promise<RelayResult> {
  const { sql, log } = opts;
  const maxAttempts = opts.maxAttempts ?? 8;
  const baseBackoffMs = opts.baseBackoffMs ?? 1000;
  const claimMs = opts.claimMs ?? 120_000;
  const claimedAt = Date.now();
  const events = await claimOutboxEvents(sql, { batch: opts.batch ?? 50, claimMs });
  const result: RelayResult = { delivered: 0, failed: 0, parked: 0 };
  const labelIds = new Map<string, number>();

  for (const [itemId, claimed] of groupByItem(events)) {
    // Late in a long run, renew the claim before starting on an item. If another relay took any of
    // its events after this claim lapsed, the item is that relay's now: hand back the rest and move on.
    let itemEvents = claimed;
    if (Date.now() - claimedAt > claimMs / 4) {
      itemEvents = await renewOutboxClaim(sql, claimed, claimMs);
      if (itemEvents.length < claimed.length) {
        log.warn({ itemId }, 'outbox claim lapsed before the relay reached this item; another relay has it');
        await releaseOutboxEvents(
          sql,
          itemEvents.map((e) => e.id),
        );
        continue;
      }
    }
    const mirror = itemId === null ? null : new ItemMirror(opts, itemId, labelIds);
    for (let i = 0; i < itemEvents.length; i++) {
      const ev = itemEvents[i]!;
      try {
        // An event without an item has nothing to mirror. Its Gitea requests say which item they are for.
        if (mirror) await forItem(itemId!, () => mirror.deliver(ev));
        await settleOutboxEvent(sql, ev.id, { ok: true });
        result.delivered += 1;
        opts.metrics?.relayed.inc({ result: 'delivered' });
      } catch (err) {
        const error = errorMessage(err);
        const backoffMs = Math.min(baseBackoffMs * 2 ** ev.attempts, MAX_BACKOFF_MS);
        const settled = await settleOutboxEvent(sql, ev.id, { ok: false, error, backoffMs, maxAttempts });
        const parked = settled?.parked ?? false;
        if (parked) result.parked += 1;
        else result.failed += 1;
        opts.metrics?.relayed.inc({ result: parked ? 'parked' : 'failed' });
        log.warn({ eventId: ev.id, itemId, type: ev.type, attempts: settled?.attempts, parked, error }, 'outbox event not delivered');
        // Later events of this item wait for this one, so the issue's comments keep their order.
        await releaseOutboxEvents(
          sql,
          itemEvents.slice(i + 1).map((e) => e.id),
        );
        break;
      }
    }
  }
  return result;
}

function groupByItem(events: ClaimedOutboxEvent[]): Map<number | null, ClaimedOutboxEvent[]> {
  const groups = new Map<number | null, ClaimedOutboxEvent[]>();
  for (const e of events) {
    const g = groups.get(e.itemId);
    if (g) g.push(e);
    else groups.set(e.itemId, [e]);
  }
  return groups;
}

/**
 * One item's issue during one relay run: its view and its comments are read once (Gitea does not
 * paginate issue comments), the status comment and state label are made current once, then each
 * event adds its own comment.
 */
class ItemMirror {
  private view: ItemView | null = null;
  private botComments: Comment[] | null = null;
  private statusSynced = false;
  private labelSynced = false;

  constructor(
    private readonly opts: RelayOptions,
    private readonly itemId: number,
    private readonly labelIds: Map<string, number>,
  ) {}

  async deliver(row: ClaimedOutboxEvent): Promise<void> {
    const view = await this.loadView();
    // The issue was deleted: there is nothing left to write to (Gitea answers 404, and 500 for its comments).
    if (view.details.issueDeleted === true) return;
    // A payload that is not its type's shape fails the delivery (retried, then parked with the error).
    const ev = readOutboxEvent(row);
    if (ev === null)
      this.opts.log.warn(
        { eventId: row.id, itemId: this.itemId, type: row.type },
        'outbox event of an unknown type: only the status comment and label are synced',
      );
    if (!this.statusSynced) {
      await this.syncStatusComment(view);
      this.statusSynced = true;
    }
    // An agent's progress only edits the status comment: the state, and so its label, did not change.
    if (!this.labelSynced && row.type !== 'agent.progress') {
      await this.syncStateLabel(view);
      this.labelSynced = true;
    }
    if (ev === null) return;
    if (isReplyEvent(ev)) {
      const reply = ev.payload.reply;
      await this.postOnce(markerFor.event(row.id), () => renderCommandReply(row.id, reply));
      return;
    }
    switch (ev.type) {
      case 'work.verdict': {
        const verdict = { eventId: row.id, ...ev.payload };
        await this.postOnce(markerFor.event(row.id), () => renderVerdictComment(verdict));
        return;
      }
      case 'human.question':
        await this.postQuestion(view, row.id, ev.payload);
        return;
      // The rest make the status comment and label current (agent.progress: the status comment only).
      default:
    }
  }

  private async loadView(): Promise<ItemView> {
    if (this.view) return this.view;
    const view = await readItemView(this.opts.sql, this.itemId);
    if (!view) throw new Error(`work item ${this.itemId} not found`);
    this.view = view;
    return view;
  }

  private async comments(): Promise<Comment[]> {
    if (this.botComments) return this.botComments;
    const v = await this.loadView();
    const bot = this.opts.botLogin.toLowerCase();
    const all = await this.opts.gitea.listIssueComments(v.owner, v.repo, v.issueNumber);
    // Anyone can type a marker: only the bot's own comments count.
    this.botComments = all.filter((c) => c.user?.login?.toLowerCase() === bot);
    return this.botComments;
  }

  /** The bot comment carrying `marker`, if it was written before (e.g. by a run that crashed before marking delivery). */
  private async findByMarker(marker: string): Promise<Comment | undefined> {
    return (await this.comments()).find((c) => hasMarker(c.body, marker));
  }

  /** Post a comment carrying `marker`; an answer lost on the way is looked up by the marker before it is sent again. */
  private async create(body: string, marker: string): Promise<Comment> {
    const v = await this.loadView();
    let posted = false;
    const c = await sendOnce({
      send: async () => {
        const made = await this.opts.gitea.createIssueComment(v.owner, v.repo, v.issueNumber, body);
        posted = true;
        return made;
      },
      lookup: async () => {
        this.botComments = null;
        return (await this.findByMarker(marker)) ?? null;
      },
    });
    if (posted) (await this.comments()).push(c);
    return c;
  }

  private async postOnce(marker: string, render: () => string): Promise<Comment> {
    return (await this.findByMarker(marker)) ?? this.create(render(), marker);
  }

  private async syncStatusComment(v: ItemView): Promise<void> {
    const body = renderStatusComment({ ...buildStatusView(v), warnings: this.opts.statusWarnings ?? [] });
    const mine = await this.comments();
    const existing =
      (v.statusCommentId !== null ? mine.find((c) => c.id === v.statusCommentId) : undefined) ?? mine.find((c) => hasMarker(c.body, markerFor.status(v.id)));
    let id: number;
    if (!existing) id = (await this.create(body, markerFor.status(v.id))).id;
    else {
      id = existing.id;
      if (existing.body !== body) {
        const edited = await this.opts.gitea.editIssueComment(v.owner, v.repo, existing.id, body);
        existing.body = edited.body ?? body;
      }
    }
    if (id !== v.statusCommentId) await setStatusCommentId(this.opts.sql, v.id, id);
  }

  /** Exactly one `damascus/<state>` label: the current one added (created in the repo if missing), the others removed by id. */
  private async syncStateLabel(v: ItemView): Promise<void> {
    const { gitea } = this.opts;
    const current = await gitea.getIssueLabels(v.owner, v.repo, v.issueNumber);
    const plan = labelPlan(
      current.map((l) => l.name),
      v.state,
    );
    if (plan.add !== null) {
      const key = `${v.owner}/${v.repo}/${v.state}`.toLowerCase();
      let id = this.labelIds.get(key);
      if (id === undefined) {
        id = (await gitea.ensureRepoLabel(v.owner, v.repo, labelCreateOption(v.state))).id;
        this.labelIds.set(key, id);
      }
      await gitea.addIssueLabels(v.owner, v.repo, v.issueNumber, [id]);
    }
    for (const label of current) {
      if (plan.remove.includes(label.name)) {
        await gitea.removeIssueLabel(v.owner, v.repo, v.issueNumber, label.id);
      }
    }
  }

  private async postQuestion(v: ItemView, eventId: number, payload: OutboxEventMap['human.question']): Promise<void> {
    const q = v.questions.find((x) => x.id === payload.humanIssueId);
    if (!q) throw new Error(`human.question event ${eventId}: human issue ${payload.humanIssueId} not found for item ${v.id}`);
    const c = await this.postOnce(markerFor.question(q.id), () =>
      renderQuestionComment({
        humanIssueId: q.id,
        tag: q.tag,
        question: q.question,
        kind: q.kind === 'blocked' ? 'blocked' : 'question',
        phase: q.resumePhase ?? v.resumePhase ?? v.state,
      }),
    );
    if (q.commentId !== c.id) await setQuestionCommentId(this.opts.sql, q.id, c.id);
  }
}

/** The error's message only: GiteaError messages name method and path, never the token. */
function errorMessage(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.slice(0, 1000);
}
