import type { Sql, TxSql } from '../connection.js';
import { PartialGroupWrite } from '../groupCommit.js';
import { insertStories, recordNewStories, type NewStoryDelivery } from './recordNewStories.js';
import { isPrEvent, type ActionableEvent, type RepoRef } from '../../domain/webhookEvent.js';
import {
  decideIntake,
  describeIntakeResult,
  intakeFollowUp,
  type IntakeDecision,
  type IntakeItem,
  type IntakeResult,
  type NewStory,
} from '../../domain/intake.js';
import type { ActivePhase, State } from '../../domain/states.js';
import { cancelItem } from './cancelItem.js';
import { projectIsCurrent, upsertProject, type ProjectInput } from './upsertProject.js';
import { openDependencyGates } from './openDependencyGates.js';

export interface Delivery {
  deliveryId: string;
  event: string;
  eventType: string | null;
  action: string | null;
}

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
  status: 'recorded', result, effect: describeIntakeResult(result), itemId: result.itemId, ...intakeFollowUp(result),
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
    const ids = await recordNewStories(sql, eligible.map((e) => e.story));
    ids.forEach((itemId, k) => {
      if (itemId !== null) out.set(eligible[k]!.n, recorded({ kind: 'created', itemId, waitingOn: 0 }));
    });
  }
  const rest = deliveries.flatMap((_, n) => (out.has(n) ? [] : [n]));
  if (rest.length > 0) {
    try {
      const outcomes = await sql.begin((tx) => applyWebhookEvents(tx, rest.map((n) => deliveries[n]!), triggerLabel));
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
    deliveryId: d.deliveryId, event: d.event, eventType: d.eventType, action: d.action,
    owner: repo.owner, name: repo.name, repoId: repo.id, defaultBranch: repo.defaultBranch, htmlUrl: repo.htmlUrl, cloneUrl: repo.cloneUrl,
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
  const creates: StoryRow[] = [];
  const settles: { deliveryRowId: number; deliveryTid: string; result: string; itemId: number | null; payload: unknown }[] = [];
  effects.forEach((e, n) => {
    if (e === null) return;
    const ctx = contexts[n]!;
    if ('create' in e) creates.push({ n, delivery_row_id: ctx.deliveryRowId, deliveryTid: ctx.deliveryTid, ...storyRow(e.create) });
    else {
      const payload = intakeFollowUp(e).inbox ? deliveries[n]!.event : null;
      settles.push({ deliveryRowId: ctx.deliveryRowId, deliveryTid: ctx.deliveryTid, result: describeIntakeResult(e), itemId: e.itemId, payload });
    }
  });
  const createdIds = await createAndSettle(tx, creates, settles);
  return effects.map((e, n): IntakeOutcome => {
    if (e === null) return { status: 'duplicate' };
    if (!('create' in e)) return recorded(e);
    const itemId = createdIds.get(n);
    return recorded(itemId === undefined ? { kind: 'ignored', itemId: null, reason: 'item already exists' } : { kind: 'created', itemId, waitingOn: 0 });
  });
}

type Story = Omit<NewStory, 'repo'> & { projectId: number };
/** A story as insertStories reads it, with its delivery's row. */
type StoryRow = { n: number; delivery_row_id: number; deliveryTid: string; project_id: number; issue_number: number; title: string; requested_by: string; issue_url: string; story_body: string };
const storyRow = (s: Story) => ({ project_id: s.projectId, issue_number: s.issueNumber, title: s.title, requested_by: s.by, issue_url: s.issueUrl, story_body: s.body });
/** A new story without dependencies: created by the closing statement, with the others. */
interface Create { create: Story }

interface Context {
  deliveryRowId: number;
  /** Where the delivery row is: the closing statement updates it by TID, whatever plan the cache holds. */
  deliveryTid: string;
  /** The story's item, row-locked for this transaction: by its issue number, or by its pull request. */
  item: IntakeItem | null;
  /** The project's id when its row already says what this payload says about the repository. */
  currentProjectId: number | null;
}

const projectInput = (r: RepoRef): ProjectInput => ({
  owner: r.owner, name: r.name, giteaRepoId: r.id, defaultBranch: r.defaultBranch, htmlUrl: r.htmlUrl, cloneUrl: r.cloneUrl,
});

/** Record the deliveries and read what each is about, in one statement; null for a duplicate. */
async function recordDeliveries(tx: TxSql, deliveries: readonly WebhookDelivery[]): Promise<(Context | null)[]> {
  const input = deliveries.map(({ delivery: d, event: ev }, n) => ({
    n, delivery_id: d.deliveryId, event: d.event, event_type: d.eventType, action: d.action,
    owner: ev.repo.owner, name: ev.repo.name, repo_id: ev.repo.id, default_branch: ev.repo.defaultBranch, html_url: ev.repo.htmlUrl, clone_url: ev.repo.cloneUrl,
    issue_number: isPrEvent(ev) ? null : ev.issue.number, pr_number: isPrEvent(ev) ? ev.number : null,
    // A new comment is taken once, by whichever of its webhook and the reconcile sweep comes first.
    comment_id: ev.kind === 'comment' && ev.action === 'created' ? ev.comment.id : null,
  }));
  // the delivery's item by one work_items column, the same in the input
  const itemBy = (column: 'issue_number' | 'pr_number') => tx`
      SELECT i.n, w.id, w.state, w.resume_phase, w.issue_deleted FROM input i
      CROSS JOIN LATERAL (
        SELECT w.id, w.state, w.resume_phase, COALESCE((w.details ->> 'issueDeleted')::boolean, false) AS issue_deleted FROM work_items w
        WHERE w.project_id = (SELECT p.id FROM projects p WHERE p.owner = i.owner AND p.name = i.name)
          AND w.${tx(column)} = i.${tx(column)}
        FOR UPDATE
      ) w`;
  const rows = await tx<{ n: number; deliveryRowId: number; deliveryTid: string; itemId: number | null; state: State | null; resumePhase: ActivePhase | null; issueDeleted: boolean | null; currentProjectId: number | null }[]>`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${tx.json(input as never)}::jsonb) AS i(
        n int, delivery_id text, event text, event_type text, action text, owner text, name text, repo_id bigint,
        default_branch text, html_url text, clone_url text, issue_number int, pr_number int, comment_id bigint)
    ), d AS (
      -- processed from the start (the closing statement reopens an inbox delivery), so the settling
      -- update leaves the pending index alone
      INSERT INTO webhook_deliveries (delivery_id, event, event_type, action, result, processed_at, comment_id)
      SELECT delivery_id, event, event_type, action, 'received', now(), comment_id FROM input ORDER BY n
      ON CONFLICT DO NOTHING
      RETURNING id, ctid, delivery_id
    ), item AS (
      -- one index probe per delivery (a join could be planned as a scan of the whole table: the
      -- planner takes the input for 100 rows, and a cached plan outlives the table's growth)
      ${itemBy('issue_number')}
      UNION ALL
      ${itemBy('pr_number')}
    ), project AS (
      SELECT i.n, p.id FROM input i JOIN projects p ON p.owner = i.owner AND p.name = i.name
      WHERE ${projectIsCurrent(tx, 'p', { repoId: tx`i.repo_id`, defaultBranch: tx`COALESCE(i.default_branch, 'main')`, htmlUrl: tx`i.html_url`, cloneUrl: tx`i.clone_url` })}
    )
    SELECT i.n, d.id AS delivery_row_id, d.ctid::text AS delivery_tid, item.id AS item_id, item.state, item.resume_phase, item.issue_deleted, project.id AS current_project_id
    FROM input i JOIN d ON d.delivery_id = i.delivery_id
    LEFT JOIN item ON item.n = i.n LEFT JOIN project ON project.n = i.n
    ORDER BY i.n`;
  const out: (Context | null)[] = deliveries.map(() => null);
  for (const r of rows) {
    if (out[r.n]) continue; // a second item with the same PR number: the first one counts
    out[r.n] = {
      deliveryRowId: r.deliveryRowId,
      deliveryTid: r.deliveryTid,
      item: r.itemId === null ? null : { id: r.itemId, state: r.state!, resumePhase: r.resumePhase, issueDeleted: r.issueDeleted === true },
      currentProjectId: r.currentProjectId,
    };
  }
  return out;
}

/**
 * The closing statement: create the new stories (each with its work.created event) and write every
 * delivery's result. Returns the created item id by delivery index (absent: the item already existed).
 */
async function createAndSettle(
  tx: TxSql,
  creates: StoryRow[],
  settles: { deliveryRowId: number; deliveryTid: string; result: string; itemId: number | null; payload: unknown }[],
): Promise<Map<number, number>> {
  const rows = await tx<{ n: number; itemId: number | null }[]>`
    WITH c AS (
      SELECT * FROM jsonb_to_recordset(${tx.json(creates as never)}::jsonb)
        AS c(n int, delivery_row_id bigint, project_id bigint, issue_number int, title text, requested_by text, issue_url text, story_body text)
    ), ${insertStories(tx, 'c')}, made AS (
      SELECT c.n, c.delivery_row_id, ins.id FROM c LEFT JOIN ins ON ins.project_id = c.project_id AND ins.issue_number = c.issue_number
    ), settle_created AS (
      -- rows found by TID: joined to 100 estimated input rows alone, a plan cached while the table
      -- was small would scan the whole table
      UPDATE webhook_deliveries d SET result = CASE WHEN made.id IS NULL THEN 'ignored: item already exists' ELSE 'created' END,
        item_id = made.id, processed_at = now()
      FROM made WHERE d.ctid = ANY(${creates.map((c) => c.deliveryTid)}::tid[]) AND d.id = made.delivery_row_id
    ), s AS (
      SELECT * FROM jsonb_to_recordset(${tx.json(settles as never)}::jsonb) AS s("deliveryRowId" bigint, result text, "itemId" bigint, payload jsonb)
    ), settle_others AS (
      -- an inbox delivery (a comment) keeps its event and stays unprocessed until the relay job checks its sender
      UPDATE webhook_deliveries d SET result = s.result, item_id = s."itemId", payload = s.payload,
        processed_at = CASE WHEN s.payload IS NULL THEN now() END
      FROM s WHERE d.ctid = ANY(${settles.map((x) => x.deliveryTid)}::tid[]) AND d.id = s."deliveryRowId"
    )
    SELECT n, id AS item_id FROM made`;
  return new Map(rows.filter((r) => r.itemId !== null).map((r) => [r.n, r.itemId!]));
}


/** Carry a decision out; a new story without dependencies is left to the closing statement. */
async function apply(tx: TxSql, decision: IntakeDecision, ctx: Context): Promise<IntakeResult | Create> {
  switch (decision.kind) {
    case 'create': {
      const { repo, ...fields } = decision.story;
      const projectId = ctx.currentProjectId ?? (await upsertProject(tx, projectInput(repo))).id;
      const story = { projectId, ...fields };
      if (decision.dependencies.length === 0) return { create: story };
      const [created] = await tx<{ id: number }[]>`
        WITH story AS (
          SELECT * FROM jsonb_to_recordset(${tx.json([{ n: 0, ...storyRow(story) }] as never)}::jsonb)
            AS s(n int, project_id bigint, issue_number int, title text, requested_by text, issue_url text, story_body text)
        ), ${insertStories(tx, 'story')}
        SELECT id FROM ins`;
      if (!created) return { kind: 'ignored', itemId: null, reason: 'item already exists' };
      const waitingOn = await openDependencyGates(tx, created.id, decision.dependencies);
      return { kind: 'created', itemId: created.id, waitingOn };
    }
    case 'reactivate': {
      const { itemId, story } = decision;
      await tx`
        WITH upd AS (
          UPDATE work_items SET state = COALESCE(resume_phase, 'spec'), resume_phase = NULL, run_after = NULL,
            requested_by = ${story.by},
            -- a new snapshot of what is labelled now, to be vouched for again (spec phase)
            title = ${story.title}, story_body = ${story.body}, story_vouched_by = NULL
          WHERE id = ${itemId} RETURNING id, state
        )
        INSERT INTO events_outbox (item_id, type, payload)
        SELECT id, 'work.reactivated', jsonb_build_object('to', state, 'by', ${story.by}::text) FROM upd`;
      return { kind: 'reactivated', itemId };
    }
    case 'cancel': {
      const r = await cancelItem(tx, decision.itemId, decision.by, decision.reason);
      return r.ok ? { kind: 'cancelled', itemId: decision.itemId, reason: decision.reason } : { kind: 'ignored', itemId: decision.itemId, reason: null };
    }
    case 'issue-deleted': {
      const cancelled = await markIssueDeleted(tx, decision.itemId, decision.by);
      return cancelled
        ? { kind: 'cancelled', itemId: decision.itemId, reason: 'issue deleted' }
        : { kind: 'ignored', itemId: decision.itemId, reason: 'already finished' };
    }
    case 'done': {
      const { itemId, merge } = decision;
      await tx`
        WITH upd AS (
          UPDATE work_items SET state = 'done', resume_phase = NULL, run_after = NULL,
            lease_owner = NULL, lease_token = NULL, lease_until = NULL
          WHERE id = ${itemId} RETURNING id
        ), slot AS (
          UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE item_id = ${itemId}
        )
        INSERT INTO events_outbox (item_id, type, payload)
        SELECT id, 'work.done', jsonb_build_object('mergedBy', ${merge.by}::text, 'mergeCommitSha', ${merge.mergeCommitSha}::text) FROM upd`;
      return { kind: 'done', itemId };
    }
    case 'park-closed-pr': {
      const { item, prNumber } = decision;
      const resume = ['spec', 'build', 'review'].includes(item.state) ? item.state : (item.resumePhase ?? 'build');
      await tx`
        WITH upd AS (
          UPDATE work_items SET state = 'awaiting_human', resume_phase = ${resume}::work_state, run_after = NULL,
            lease_owner = NULL, lease_token = NULL, lease_until = NULL
          WHERE id = ${item.id} RETURNING id
        ), slot AS (
          UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE item_id = ${item.id}
        ), hi AS (
          INSERT INTO human_issues (item_id, kind, question, resume_phase)
          SELECT id, 'question', ${`Pull request #${prNumber} was closed without merging. Reopen it and answer here to continue, or reply \`/damascus cancel\`.`},
                 ${resume}::work_state FROM upd
          RETURNING id, tag, kind, question
        )
        INSERT INTO events_outbox (item_id, type, payload)
        SELECT upd.id, 'human.question', jsonb_build_object('humanIssueId', hi.id, 'tag', hi.tag, 'kind', hi.kind, 'question', hi.question)
        FROM upd, hi`;
      return { kind: 'parked', itemId: item.id };
    }
    case 'head-moved': {
      const { itemId, headSha } = decision;
      // The head moved: results for older heads no longer count, and a waiting review runs again now.
      await tx`UPDATE ci_results SET superseded = true WHERE item_id = ${itemId} AND head_sha <> ${headSha} AND NOT superseded`;
      await tx`
        UPDATE work_items SET
          head_sha = ${headSha},
          run_after = CASE WHEN state = 'review' AND lease_token IS NULL THEN NULL ELSE run_after END
        WHERE id = ${itemId}`;
      return { kind: 'head-moved', itemId, wake: decision.inReview };
    }
    case 'to-inbox':
      return { kind: 'to-inbox', itemId: decision.itemId, what: decision.what };
    case 'ignore':
      return { kind: 'ignored', itemId: decision.itemId, reason: decision.reason };
  }
}

/**
 * The story's issue is gone: the item is cancelled, and marked so that the relay stops mirroring to it (Gitea
 * answers 404 for the issue and 500 for its comments from now on) and a trigger label seen later cannot revive it.
 * False when the item was already finished.
 */
async function markIssueDeleted(tx: TxSql, itemId: number, by: string): Promise<boolean> {
  const r = await cancelItem(tx, itemId, by, 'issue deleted');
  await tx`UPDATE work_items SET details = details || '{"issueDeleted": true}'::jsonb WHERE id = ${itemId}`;
  return r.ok;
}
