import type { TxSql } from '../connection.js';
import { triggerLabelChange, type GiteaEvent, type RepoRef } from '../../gitea/events.js';
import { cancelItem } from './cancelItem.js';
import { upsertProject } from './upsertProject.js';
import { openDependencyGates } from './openDependencyGates.js';
import { parseDependencies } from '../../domain/gates.js';

export interface Delivery {
  deliveryId: string;
  event: string;
  eventType: string | null;
  action: string | null;
}

type Actionable = Exclude<GiteaEvent, { kind: 'ignored' } | { kind: 'invalid' }>;

export type IntakeOutcome =
  | { status: 'duplicate' }
  | {
      status: 'recorded';
      /** What the delivery did, in a word (stored as webhook_deliveries.result). */
      effect: string;
      itemId: number | null;
      /** Enqueue a tick after commit (a story became claimable). */
      wake: boolean;
      /** Outbox events were written: ask the relay to run. */
      relay: boolean;
      /** The delivery waits in the inbox (a comment: its sender's permission is checked later). */
      inbox: boolean;
    };

/**
 * The webhook intake's one write: record the delivery id (a duplicate writes nothing) and apply
 * the event to the store, inside the caller's transaction. No outbound call: what needs the Gitea
 * API (a commenter's permission) is left in the inbox for the relay job.
 */
export async function applyWebhookEvent(tx: TxSql, d: Delivery, ev: Actionable, triggerLabel: string): Promise<IntakeOutcome> {
  const inserted = await tx`
    INSERT INTO webhook_deliveries (delivery_id, event, event_type, action, result)
    VALUES (${d.deliveryId}, ${d.event}, ${d.eventType}, ${d.action}, 'received')
    ON CONFLICT (delivery_id) DO NOTHING
    RETURNING id`;
  if (inserted.length === 0) return { status: 'duplicate' };
  const deliveryRowId = inserted[0]!.id as number;

  const outcome = await apply(tx, ev, triggerLabel);
  await tx`
    UPDATE webhook_deliveries SET
      result = ${outcome.effect}, item_id = ${outcome.itemId},
      payload = ${outcome.inbox ? tx.json(ev as never) : null},
      processed_at = ${outcome.inbox ? null : tx`now()`}
    WHERE id = ${deliveryRowId}`;
  return { status: 'recorded', ...outcome };
}

type Effect = Omit<Extract<IntakeOutcome, { status: 'recorded' }>, 'status'>;
const none = (effect: string, itemId: number | null = null): Effect => ({ effect, itemId, wake: false, relay: false, inbox: false });

interface ItemRow {
  id: number;
  state: string;
  resumePhase: string | null;
}

/** The story's item, row-locked for this transaction: by its issue number, or by its pull request. */
async function findItem(tx: TxSql, repo: RepoRef, by: { issue: number } | { pr: number }): Promise<ItemRow | null> {
  const match = 'issue' in by ? tx`w.issue_number = ${by.issue}` : tx`w.pr_number = ${by.pr}`;
  const rows = await tx<ItemRow[]>`
    SELECT w.id, w.state, w.resume_phase FROM work_items w JOIN projects p ON p.id = w.project_id
    WHERE p.owner = ${repo.owner} AND p.name = ${repo.name} AND ${match}
    FOR UPDATE OF w`;
  return rows[0] ?? null;
}

async function apply(tx: TxSql, ev: Actionable, trigger: string): Promise<Effect> {
  switch (ev.kind) {
    case 'issue.opened':
    case 'issue.labels': {
      if (ev.issue.isPull) return none('ignored: labels on a pull request');
      const item = await findItem(tx, ev.repo, { issue: ev.issue.number });
      const active = item !== null && item.state !== 'cancelled' && item.state !== 'done';
      // label_cleared's list is stale (FACTS §c): a cleared issue has no labels left
      const labels = ev.kind === 'issue.labels' && ev.cleared ? [] : ev.labels;
      const change = triggerLabelChange(active, labels, trigger);
      if (change === 'added') {
        if (ev.issue.state === 'closed') return none('ignored: trigger label on a closed issue', item?.id ?? null);
        if (item?.state === 'done') return none('ignored: story already done', item.id);
        if (item?.state === 'cancelled') {
          await tx`
            WITH upd AS (
              UPDATE work_items SET state = COALESCE(resume_phase, 'spec'), resume_phase = NULL, run_after = NULL,
                requested_by = ${ev.sender.login}
              WHERE id = ${item.id} RETURNING id, state
            )
            INSERT INTO events_outbox (item_id, type, payload)
            SELECT id, 'work.reactivated', jsonb_build_object('to', state, 'by', ${ev.sender.login}::text) FROM upd`;
          return { effect: 'reactivated', itemId: item.id, wake: true, relay: true, inbox: false };
        }
        const project = await upsertProject(tx, {
          owner: ev.repo.owner, name: ev.repo.name, giteaRepoId: ev.repo.id, defaultBranch: ev.repo.defaultBranch,
          htmlUrl: ev.repo.htmlUrl, cloneUrl: ev.repo.cloneUrl,
        });
        const [created] = await tx<{ id: number }[]>`
          WITH ins AS (
            INSERT INTO work_items (project_id, issue_number, title, requested_by, issue_url)
            VALUES (${project.id}, ${ev.issue.number}, ${ev.issue.title}, ${ev.sender.login}, ${ev.issue.htmlUrl})
            ON CONFLICT (project_id, issue_number) DO NOTHING
            RETURNING id, issue_number, title
          ), ev AS (
            INSERT INTO events_outbox (item_id, type, payload)
            SELECT id, 'work.created', jsonb_build_object('issueNumber', issue_number, 'title', title, 'by', ${ev.sender.login}::text) FROM ins
          )
          SELECT id FROM ins`;
        if (!created) return none('ignored: item already exists');
        // "Depends on #12" / "depends on owner/repo#5" in the body: held until those are done.
        const deps = parseDependencies(ev.issue.body, { owner: ev.repo.owner, name: ev.repo.name, number: ev.issue.number });
        const gated = await openDependencyGates(tx, created.id, deps);
        return { effect: gated ? `created: waiting on ${gated} dependenc${gated === 1 ? 'y' : 'ies'}` : 'created', itemId: created.id, wake: gated === 0, relay: true, inbox: false };
      }
      if (change === 'removed' && item) {
        const r = await cancelItem(tx, item.id, ev.sender.login, 'trigger label removed');
        return { ...none(r.ok ? 'cancelled' : 'ignored', item.id), relay: r.ok };
      }
      return none('ignored: trigger label unchanged', item?.id ?? null);
    }
    case 'issue.closed': {
      const item = await findItem(tx, ev.repo, { issue: ev.issue.number });
      if (!item) return none('ignored: not a story');
      const r = await cancelItem(tx, item.id, ev.sender.login, 'issue closed');
      return { ...none(r.ok ? 'cancelled' : 'ignored: already finished', item.id), relay: r.ok };
    }
    case 'issue.reopened':
      return none('ignored: reopened (add the trigger label again to resume)');
    case 'comment': {
      const item = await findItem(tx, ev.repo, { issue: ev.issue.number });
      if (!item) return none('ignored: not a story');
      return { effect: 'inbox', itemId: item.id, wake: false, relay: true, inbox: true };
    }
    case 'pr.closed': {
      const item = await findItem(tx, ev.repo, { pr: ev.number });
      if (!item) return none('ignored: not a story PR');
      if (item.state === 'done' || item.state === 'cancelled') return none('ignored: already finished', item.id);
      if (ev.merged) {
        await tx`
          WITH upd AS (
            UPDATE work_items SET state = 'done', resume_phase = NULL, run_after = NULL,
              lease_owner = NULL, lease_token = NULL, lease_until = NULL
            WHERE id = ${item.id} RETURNING id
          ), slot AS (
            UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE item_id = ${item.id}
          )
          INSERT INTO events_outbox (item_id, type, payload)
          SELECT id, 'work.done', jsonb_build_object('mergedBy', ${ev.sender.login}::text, 'mergeCommitSha', ${ev.mergeCommitSha}::text) FROM upd`;
        return { effect: 'done: merged', itemId: item.id, wake: false, relay: true, inbox: false };
      }
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
          SELECT id, 'question', ${`Pull request #${ev.number} was closed without merging. Reopen it and answer here to continue, or reply \`/damascus cancel\`.`},
                 ${resume}::work_state FROM upd
          RETURNING id, tag, kind, question
        )
        INSERT INTO events_outbox (item_id, type, payload)
        SELECT upd.id, 'human.question', jsonb_build_object('humanIssueId', hi.id, 'tag', hi.tag, 'kind', hi.kind, 'question', hi.question)
        FROM upd, hi`;
      return { effect: 'parked: PR closed unmerged', itemId: item.id, wake: false, relay: true, inbox: false };
    }
    case 'pr.synchronized': {
      const item = await findItem(tx, ev.repo, { pr: ev.number });
      if (!item) return none('ignored: not a story PR');
      // The head moved: results for older heads no longer count, and a waiting review runs again now.
      await tx`UPDATE ci_results SET superseded = true WHERE item_id = ${item.id} AND head_sha <> ${ev.headSha} AND NOT superseded`;
      await tx`
        UPDATE work_items SET
          details = details || jsonb_build_object('prHead', ${ev.headSha}::text),
          run_after = CASE WHEN state = 'review' AND lease_token IS NULL THEN NULL ELSE run_after END
        WHERE id = ${item.id}`;
      return { effect: 'head moved', itemId: item.id, wake: item.state === 'review', relay: false, inbox: false };
    }
  }
}
