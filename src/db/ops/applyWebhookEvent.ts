import type { Sql, TxSql } from '../connection.js';
import { PartialGroupWrite } from '../groupCommit.js';
import { storyRow, type StoryRow } from './insertStories.js';
import { recordDeliveries, type DeliveryContext, type Delivery } from './recordDeliveries.js';
import { recordNewStories, type NewStoryDelivery } from './recordNewStories.js';
import { createStoriesAndSettle, type CreateRow, type Settle } from './createStoriesAndSettle.js';
import type { ActionableEvent, RepoRef } from '../../domain/webhookEvent.js';
import { decideIntake, describeIntakeResult, intakeFollowUp, type IntakeDecision, type IntakeResult } from '../../domain/intake.js';
import { cancelItem } from './cancelItem.js';
import { createStory } from './createStory.js';
import { markIssueDeleted } from './markIssueDeleted.js';
import { markItemMerged } from './markItemMerged.js';
import { parkOnClosedPr } from './parkOnClosedPr.js';
import { reactivateItem } from './reactivateItem.js';
import { recordPrHead } from './recordPrHead.js';
import { upsertProject, type ProjectInput } from './upsertProject.js';
import { openDependencyGates } from './openDependencyGates.js';

export type IntakeOutcome =
  | { status: 'duplicate' }
  | {
      status: 'recorded';
      result: IntakeResult;
      /** The result's text (describeIntakeResult), stored as webhook_deliveries.result. */
      effect: string;
      itemId: number | null;
      /** Enqueue a tick after commit (a story became claimable). */
      wake: boolean;
      /** Outbox events were written: ask the relay to run. */
      relay: boolean;
      /** The delivery waits in the inbox (a comment: its sender's permission is checked later). */
      inbox: boolean;
    };

const recorded = (result: IntakeResult): IntakeOutcome => ({
  status: 'recorded',
  result,
  effect: describeIntakeResult(result),
  itemId: result.itemId,
  ...intakeFollowUp(result),
});

export interface WebhookDelivery {
  delivery: Delivery;
  event: ActionableEvent;
}

/**
 * The webhook intake's one write: record the delivery id (a duplicate writes nothing) and apply
 * the event to the store, inside the caller's transaction. No outbound call: what needs the Gitea
 * API (a commenter's permission) is left in the inbox for the relay job.
 */
export async function applyWebhookEvent(tx: TxSql, d: Delivery, ev: ActionableEvent, triggerLabel: string): Promise<IntakeOutcome> {
  const [outcome] = await applyWebhookEvents(tx, [{ delivery: d, event: ev }], triggerLabel);
  return outcome!;
}

/**
 * The intake's group writer (src/db/groupCommit.ts). Deliveries that by their payload start a new
 * story go first through one statement, which is its own transaction (recordNewStories): the
 * common case costs one round trip for the whole group. The rest, and those that statement left
 * alone (the issue has an item, the project row is new or stale), go through applyWebhookEvents in
 * one transaction.
 */
export async function writeWebhookGroup(sql: Sql, deliveries: readonly WebhookDelivery[], triggerLabel: string): Promise<IntakeOutcome[]> {
  const out = new Map<number, IntakeOutcome>();
  const eligible = deliveries.flatMap((w, n) => {
    const story = newStoryDelivery(w, triggerLabel);
    return story ? [{ n, story }] : [];
  });
  if (eligible.length > 0) {
    const ids = await recordNewStories(
      sql,
      eligible.map((e) => e.story),
    );
    ids.forEach((itemId, k) => {
      if (itemId !== null) out.set(eligible[k]!.n, recorded({ kind: 'created', itemId, waitingOn: 0 }));
    });
  }
  const rest = deliveries.flatMap((_, n) => (out.has(n) ? [] : [n]));
  if (rest.length > 0) {
    try {
      const outcomes = await sql.begin((tx) =>
        applyWebhookEvents(
          tx,
          rest.map((n) => deliveries[n]!),
          triggerLabel,
        ),
      );
      for (const [k, n] of rest.entries()) out.set(n, outcomes[k]!);
    } catch (err) {
      if (out.size > 0) throw new PartialGroupWrite(out, err);
      throw err;
    }
  }
  return deliveries.map((_, n) => out.get(n)!);
}

/**
 * The delivery as recordNewStories takes it, when the intake's decision without an item (what the
 * payload alone says) is a story without dependencies; the statement itself checks that there is no item.
 */
function newStoryDelivery({ delivery: d, event: ev }: WebhookDelivery, triggerLabel: string): NewStoryDelivery | null {
  const decision = decideIntake(ev, { item: null, triggerLabel });
  if (decision.kind !== 'create' || decision.dependencies.length > 0) return null;
  const { repo, ...story } = decision.story;
  return {
    deliveryId: d.deliveryId,
    event: d.event,
    eventType: d.eventType,
    action: d.action,
    owner: repo.owner,
    name: repo.name,
    repoId: repo.id,
    defaultBranch: repo.defaultBranch,
    htmlUrl: repo.htmlUrl,
    cloneUrl: repo.cloneUrl,
    ...story,
  };
}

/**
 * The same for several deliveries at once (the intake's group commit, src/db/groupCommit.ts), in
 * two statements whatever their number: one records them all and reads (and locks) their items and
 * projects; one creates the new stories and settles every delivery row. The rarer effects (cancel,
 * reactivate, a merged PR, …) run their own statements in between, pipelined. The deliveries must
 * be about different issues and have different ids (the committer's keys see to it).
 */
export async function applyWebhookEvents(tx: TxSql, deliveries: readonly WebhookDelivery[], triggerLabel: string): Promise<IntakeOutcome[]> {
  // A group's size varies and the tables grow: plan these statements for each group, not once
  // per connection (DbOptions sets force_generic_plan, which suits the fixed-shape claim).
  const [, contexts] = await Promise.all([tx`SET LOCAL plan_cache_mode = force_custom_plan`, recordDeliveries(tx, deliveries)]);
  const effects = await Promise.all(
    deliveries.map((w, n) => {
      const ctx = contexts[n];
      return ctx ? apply(tx, decideIntake(w.event, { item: ctx.item, triggerLabel }), ctx) : null;
    }),
  );
  const creates: CreateRow[] = [];
  const settles: Settle[] = [];
  effects.forEach((e, n) => {
    if (e === null) return;
    const ctx = contexts[n]!;
    if ('create' in e) creates.push({ n, delivery_row_id: ctx.deliveryRowId, deliveryTid: ctx.deliveryTid, ...e.create });
    else {
      const payload = intakeFollowUp(e).inbox ? deliveries[n]!.event : null;
      settles.push({ deliveryRowId: ctx.deliveryRowId, deliveryTid: ctx.deliveryTid, result: describeIntakeResult(e), itemId: e.itemId, payload });
    }
  });
  const createdIds = await createStoriesAndSettle(tx, creates, settles);
  return effects.map((e, n): IntakeOutcome => {
    if (e === null) return { status: 'duplicate' };
    if (!('create' in e)) return recorded(e);
    const itemId = createdIds.get(n);
    return recorded(itemId === undefined ? { kind: 'ignored', itemId: null, reason: 'item already exists' } : { kind: 'created', itemId, waitingOn: 0 });
  });
}

/** A new story without dependencies: created by the closing statement, with the others. */
interface Create {
  create: StoryRow;
}

const projectInput = (r: RepoRef): ProjectInput => ({
  owner: r.owner,
  name: r.name,
  giteaRepoId: r.id,
  defaultBranch: r.defaultBranch,
  htmlUrl: r.htmlUrl,
  cloneUrl: r.cloneUrl,
});

/** Carry a decision out, one operation per kind; a new story without dependencies is left to the closing statement. */
async function apply(tx: TxSql, decision: IntakeDecision, ctx: DeliveryContext): Promise<IntakeResult | Create> {
  switch (decision.kind) {
    case 'create': {
      const { repo, ...fields } = decision.story;
      const projectId = ctx.currentProjectId ?? (await upsertProject(tx, projectInput(repo))).id;
      const story = storyRow({ projectId, ...fields });
      if (decision.dependencies.length === 0) return { create: story };
      const itemId = await createStory(tx, story);
      if (itemId === null) return { kind: 'ignored', itemId: null, reason: 'item already exists' };
      return { kind: 'created', itemId, waitingOn: await openDependencyGates(tx, itemId, decision.dependencies) };
    }
    case 'reactivate':
      await reactivateItem(tx, decision.itemId, decision.story);
      return { kind: 'reactivated', itemId: decision.itemId };
    case 'cancel': {
      const r = await cancelItem(tx, decision.itemId, decision.by, decision.reason);
      return r.ok ? { kind: 'cancelled', itemId: decision.itemId, reason: decision.reason } : { kind: 'ignored', itemId: decision.itemId, reason: null };
    }
    case 'issue-deleted':
      return (await markIssueDeleted(tx, decision.itemId, decision.by))
        ? { kind: 'cancelled', itemId: decision.itemId, reason: 'issue deleted' }
        : { kind: 'ignored', itemId: decision.itemId, reason: 'already finished' };
    case 'done':
      await markItemMerged(tx, decision.itemId, decision.merge);
      return { kind: 'done', itemId: decision.itemId };
    case 'park-closed-pr':
      await parkOnClosedPr(tx, decision.item, decision.prNumber);
      return { kind: 'parked', itemId: decision.item.id };
    case 'head-moved':
      await recordPrHead(tx, decision.itemId, decision.headSha);
      return { kind: 'head-moved', itemId: decision.itemId, wake: decision.inReview };
    case 'to-inbox':
      return { kind: 'to-inbox', itemId: decision.itemId, what: decision.what };
    case 'ignore':
      return { kind: 'ignored', itemId: decision.itemId, reason: decision.reason };
  }
}
