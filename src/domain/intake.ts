/**
 * The webhook intake's decision (pure): what a delivery does, from the event and what the store knows
 * of its story. The database applies a decision with one operation per kind (src/db/ops) and reports
 * what came of it as an IntakeResult, whose text is the delivery's webhook_deliveries.result.
 */
import { type IssueKey, parseDependencies } from './gates.js';
import type { ActivePhase, State } from './states.js';
import { type ActionableEvent, type RepoRef, triggerLabelChange } from './webhookEvent.js';

/** The story's item as the intake reads it (row-locked for the delivery's transaction). */
export interface IntakeItem {
  id: number;
  state: State;
  resumePhase: ActivePhase | null;
  issueDeleted: boolean;
}

export interface IntakeContext {
  /** The item of the event's issue (or of its pull request), if there is one. */
  item: IntakeItem | null;
  triggerLabel: string;
}

/** A story as it enters: the issue as labelled, and who labelled it. */
export interface NewStory {
  repo: RepoRef;
  issueNumber: number;
  title: string;
  body: string;
  by: string;
  issueUrl: string;
}

export type IgnoreReason =
  | 'labels on a pull request'
  | 'trigger label on a closed issue'
  | 'story already done'
  | 'the issue was deleted'
  | 'item already exists'
  | 'trigger label unchanged'
  | 'not a story'
  | 'not a story PR'
  | 'already finished'
  | 'reopened (add the trigger label again to resume)';

export type IntakeDecision =
  | { kind: 'create'; story: NewStory; dependencies: IssueKey[] }
  | { kind: 'reactivate'; itemId: number; story: { by: string; title: string; body: string } }
  | { kind: 'cancel'; itemId: number; by: string; reason: 'trigger label removed' }
  | { kind: 'issue-deleted'; itemId: number; by: string }
  | { kind: 'done'; itemId: number; merge: { by: string; mergeCommitSha: string | null } }
  | { kind: 'park-closed-pr'; item: IntakeItem; prNumber: number }
  | { kind: 'head-moved'; itemId: number; headSha: string; inReview: boolean }
  | { kind: 'to-inbox'; itemId: number; what: 'issue closed' | 'comment' }
  | { kind: 'ignore'; itemId: number | null; reason: IgnoreReason };

/** What applying a decision did (a create can find the item already made, a cancel the item already finished). */
export type IntakeResult =
  | { kind: 'created'; itemId: number; waitingOn: number }
  | { kind: 'reactivated'; itemId: number }
  | { kind: 'cancelled'; itemId: number; reason: 'trigger label removed' | 'issue deleted' }
  | { kind: 'done'; itemId: number }
  | { kind: 'parked'; itemId: number }
  | { kind: 'head-moved'; itemId: number; wake: boolean }
  | { kind: 'to-inbox'; itemId: number; what: 'issue closed' | 'comment' }
  /** reason null: a label removal whose cancel found the item already finished. */
  | { kind: 'ignored'; itemId: number | null; reason: IgnoreReason | null };

/** The issue's labels after the event: label_cleared's list is stale (FACTS §c), a cleared issue has none. */
const labelsNow = (ev: Extract<ActionableEvent, { kind: 'issue.opened' | 'issue.labels' }>): string[] =>
  ev.kind === 'issue.labels' && ev.cleared ? [] : ev.labels;

const ignore = (reason: IgnoreReason, itemId: number | null = null): IntakeDecision => ({ kind: 'ignore', itemId, reason });

export function decideIntake(ev: ActionableEvent, ctx: IntakeContext): IntakeDecision {
  const item = ctx.item;
  switch (ev.kind) {
    case 'issue.opened':
    case 'issue.labels': {
      if (ev.issue.isPull) return ignore('labels on a pull request');
      const active = item !== null && item.state !== 'cancelled' && item.state !== 'done';
      const change = triggerLabelChange(active, labelsNow(ev), ctx.triggerLabel);
      if (change === 'added') {
        if (ev.issue.state === 'closed') return ignore('trigger label on a closed issue', item?.id ?? null);
        if (item?.state === 'done') return ignore('story already done', item.id);
        if (item?.state === 'cancelled') {
          if (item.issueDeleted) return ignore('the issue was deleted', item.id);
          return { kind: 'reactivate', itemId: item.id, story: { by: ev.sender.login, title: ev.issue.title, body: ev.issue.body } };
        }
        return {
          kind: 'create',
          story: { repo: ev.repo, issueNumber: ev.issue.number, title: ev.issue.title, body: ev.issue.body, by: ev.sender.login, issueUrl: ev.issue.htmlUrl },
          // "Depends on #12" / "depends on owner/repo#5" in the body: held until those are done.
          dependencies: parseDependencies(ev.issue.body, { owner: ev.repo.owner, name: ev.repo.name, number: ev.issue.number }),
        };
      }
      if (change === 'removed' && item) return { kind: 'cancel', itemId: item.id, by: ev.sender.login, reason: 'trigger label removed' };
      return ignore('trigger label unchanged', item?.id ?? null);
    }
    case 'issue.closed':
      if (!item) return ignore('not a story');
      if (item.state === 'done' || item.state === 'cancelled') return ignore('already finished', item.id);
      // Only a writer's (or the bot's) closing cancels, and who closed it is read from Gitea: the inbox settles it.
      return { kind: 'to-inbox', itemId: item.id, what: 'issue closed' };
    case 'issue.reopened':
      return ignore('reopened (add the trigger label again to resume)');
    case 'issue.deleted':
      if (!item) return ignore('not a story');
      return { kind: 'issue-deleted', itemId: item.id, by: ev.sender.login };
    case 'comment':
      if (!item) return ignore('not a story');
      return { kind: 'to-inbox', itemId: item.id, what: 'comment' };
    case 'pr.closed':
      if (!item) return ignore('not a story PR');
      // A merged PR makes its story done even when the issue's closing was seen first and cancelled
      // it: Gitea sends the two webhooks in no fixed order.
      if (item.state === 'done' || (item.state === 'cancelled' && !ev.merged)) return ignore('already finished', item.id);
      if (ev.merged) return { kind: 'done', itemId: item.id, merge: { by: ev.sender.login, mergeCommitSha: ev.mergeCommitSha } };
      return { kind: 'park-closed-pr', item, prNumber: ev.number };
    case 'pr.synchronized':
      if (!item) return ignore('not a story PR');
      return { kind: 'head-moved', itemId: item.id, headSha: ev.headSha, inReview: item.state === 'review' };
  }
}

/** The result as webhook_deliveries.result stores it (operators and tests read this text). */
export function describeIntakeResult(r: IntakeResult): string {
  switch (r.kind) {
    case 'created':
      return r.waitingOn === 0 ? 'created' : `created: waiting on ${r.waitingOn} dependenc${r.waitingOn === 1 ? 'y' : 'ies'}`;
    case 'reactivated':
      return 'reactivated';
    case 'cancelled':
      return r.reason === 'issue deleted' ? 'cancelled: issue deleted' : 'cancelled';
    case 'done':
      return 'done: merged';
    case 'parked':
      return 'parked: PR closed unmerged';
    case 'head-moved':
      return 'head moved';
    case 'to-inbox':
      return r.what === 'issue closed' ? 'inbox: issue closed' : 'inbox';
    case 'ignored':
      return r.reason === null ? 'ignored' : `ignored: ${r.reason}`;
  }
}

/** The delivery-count metric's label: the result in a word. */
export const INTAKE_RESULT_LABEL: Record<IntakeResult['kind'], string> = {
  created: 'created',
  reactivated: 'reactivated',
  cancelled: 'cancelled',
  done: 'done',
  parked: 'parked',
  'head-moved': 'head moved',
  'to-inbox': 'inbox',
  ignored: 'ignored',
};

/** What follows the commit: a tick (a story became claimable), a relay run (outbox events were written), the inbox. */
export function intakeFollowUp(r: IntakeResult): { wake: boolean; relay: boolean; inbox: boolean } {
  switch (r.kind) {
    case 'created':
      return { wake: r.waitingOn === 0, relay: true, inbox: false };
    case 'reactivated':
      return { wake: true, relay: true, inbox: false };
    case 'cancelled':
    case 'done':
    case 'parked':
      return { wake: false, relay: true, inbox: false };
    case 'head-moved':
      return { wake: r.wake, relay: false, inbox: false };
    case 'to-inbox':
      return { wake: false, relay: true, inbox: true };
    case 'ignored':
      return { wake: false, relay: false, inbox: false };
  }
}
