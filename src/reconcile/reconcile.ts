import { randomUUID } from 'node:crypto';
import type { Sql } from '../db/connection.js';
import { applyWebhookEvent, type IntakeOutcome } from '../db/ops/applyWebhookEvent.js';
import { listReconcileTargets, type ReconcileItem } from '../db/ops/listReconcileTargets.js';
import { recordSweptComment } from '../db/ops/recordSweptComment.js';
import { writeOutboxEvent } from '../db/ops/writeOutboxEvent.js';
import { outboxEvent } from '../domain/events.js';
import type { Logger } from '../shared/log.js';
import { forItem } from '../gitea/attribution.js';
import type { GiteaClient } from '../gitea/client.js';
import { orNullIfNotFound } from '../gitea/errors.js';
import { isTriggerLabel, type ActionableEvent, type RepoRef, type SenderRef } from '../domain/webhookEvent.js';
import { isBotSender, withoutNul } from '../gitea/events.js';
import { stateOfLabel } from '../gitea/labels.js';
import type { Comment, Issue, PullRequest, Repository } from '../gitea/types.js';

/**
 * The reconcile sweep: Gitea delivers each webhook once and never retries (and delivers them in parallel, in no
 * fixed order), so on start and every few minutes Damascus compares what Gitea shows now with what it knows and
 * replays the difference through the webhook intake's own write (applyWebhookEvent), as if the event had arrived:
 * labelled issues without an item (credited to whoever added the label, from the issue's timeline), a trigger
 * label removed, issues closed or deleted, PRs merged or closed. Comments on stories that wait for a human go
 * into the inbox, once each. Label drift is repaired by asking the relay for a status refresh. One issue that
 * fails never stops the sweep of the rest.
 */
export interface ReconcileReport {
  projects: number;
  created: number;
  cancelled: number;
  prs: number;
  refreshed: number;
  /** Comments found on waiting stories that no webhook had brought. */
  comments: number;
  errors: string[];
}

export type ReconcileGitea = Pick<GiteaClient, 'getRepo' | 'listIssues' | 'getIssue' | 'getPullRequest' | 'getIssueTimeline' | 'listIssueComments'>;

export interface ReconcileOptions {
  sql: Sql;
  gitea: ReconcileGitea;
  triggerLabel: string;
  log: Logger;
  /** The bot's login: its own comments are not a human's answer. */
  botLogin?: string | null;
}

export async function reconcile(o: ReconcileOptions): Promise<ReconcileReport & { wake: boolean }> {
  const report: ReconcileReport = { projects: 0, created: 0, cancelled: 0, prs: 0, refreshed: 0, comments: 0, errors: [] };
  let wake = false;
  const targets = await listReconcileTargets(o.sql);
  for (const project of targets.projects) {
    report.projects++;
    let repo: RepoRef;
    try {
      repo = repoRef(await o.gitea.getRepo(project.owner, project.name));
      const labelled = await o.gitea.listIssues(project.owner, project.name, { state: 'open', labels: [o.triggerLabel], type: 'issues' });
      const tracked = new Set(project.tracked);
      for (const issue of labelled.filter((i) => !tracked.has(i.number))) {
        await isolated(report, `${project.owner}/${project.name}#${issue.number}`, async () => {
          const out = await replay(o, issueEvent(repo, issue, 'issue.labels', await labeller(o, project.owner, project.name, issue)));
          if (out.status === 'recorded' && (out.result.kind === 'created' || out.result.kind === 'reactivated')) {
            report.created++;
            wake = true;
          }
        });
      }
    } catch (err) {
      report.errors.push(`${project.owner}/${project.name}: ${(err as Error).message}`);
      continue;
    }
    for (const item of targets.items.filter((i) => i.projectId === project.id)) {
      await isolated(report, `${project.owner}/${project.name}#${item.issueNumber}`, () => forItem(item.id, () => reconcileItem(o, repo, item, report)));
    }
  }
  if (report.created || report.cancelled || report.prs || report.refreshed || report.comments || report.errors.length) o.log.info(report, 'reconcile sweep');
  return { ...report, wake };
}

/** One tracked item against what Gitea shows now. */
async function reconcileItem(o: ReconcileOptions, repo: RepoRef, item: ReconcileItem, report: ReconcileReport): Promise<void> {
  const issue = await orNullIfNotFound(o.gitea.getIssue(repo.owner, repo.name, item.issueNumber));
  if (issue === null) {
    // Deleted while Damascus was not listening (its one `deleted` webhook was lost).
    const out = await replay(o, {
      kind: 'issue.deleted',
      repo,
      issue: { number: item.issueNumber, title: '', body: '', state: 'closed', htmlUrl: '', isPull: false },
      sender: SWEEP,
    });
    if (out.status === 'recorded' && out.result.kind === 'cancelled') report.cancelled++;
    return;
  }
  // The PR first: merging it closes the issue too (by "Closes #N", or by the review phase right after the merge),
  // and a merged story is done, not cancelled.
  if (item.prNumber !== null) {
    const pr = await o.gitea.getPullRequest(repo.owner, repo.name, item.prNumber);
    if (pr.state === 'closed') {
      const out = await replay(o, prClosedEvent(repo, pr));
      if (out.status === 'recorded') report.prs++;
      return;
    }
  }
  if (issue.state === 'closed') {
    const out = await replay(o, issueEvent(repo, issue, 'issue.closed', SWEEP));
    if (out.status === 'recorded' && out.result.kind === 'cancelled') report.cancelled++;
    return;
  }
  // Deliveries overtake each other: a label added and removed in quick succession may have arrived the other way
  // round. What Gitea shows now decides.
  if (!issue.labels.some((l) => isTriggerLabel(l.name, o.triggerLabel))) {
    const out = await replay(o, issueEvent(repo, issue, 'issue.labels', SWEEP));
    if (out.status === 'recorded' && out.result.kind === 'cancelled') report.cancelled++;
    return;
  }
  if (item.waitingSince) report.comments += await sweepComments(o, repo, issue, item);
  const stateLabels = issue.labels.map((l) => stateOfLabel(l.name)).filter((s) => s !== null);
  if (stateLabels.length !== 1 || stateLabels[0] !== item.state) {
    await writeOutboxEvent(o.sql, item.id, outboxEvent('status.refresh', { reason: 'label drift' }));
    report.refreshed++;
  }
}

/** Humans' comments since the story began to wait, into the inbox (each once, whichever way it came); how many were new. */
async function sweepComments(o: ReconcileOptions, repo: RepoRef, issue: Issue, item: ReconcileItem): Promise<number> {
  // A minute's slack: Gitea's clock and PostgreSQL's need not agree.
  const since = new Date(item.waitingSince!.getTime() - 60_000).toISOString();
  let found = 0;
  for (const c of await o.gitea.listIssueComments(repo.owner, repo.name, issue.number, { since })) {
    const login = c.user?.login;
    if (!login || isBotSender(login, o.botLogin)) continue;
    const isPull = issue.pull_request !== null;
    if (
      await recordSweptComment(o.sql, {
        itemId: item.id,
        commentId: c.id,
        eventType: isPull ? 'pull_request_comment' : 'issue_comment',
        payload: commentEvent(repo, issue, c),
      })
    )
      found++;
  }
  return found;
}

/** Apply one issue's current state as the webhook would (used by `damascus enqueue` too). */
export async function reconcileIssue(
  o: { sql: Sql; gitea: ReconcileGitea; triggerLabel: string },
  owner: string,
  name: string,
  number: number,
): Promise<IntakeOutcome> {
  const repo = repoRef(await o.gitea.getRepo(owner, name));
  const issue = await o.gitea.getIssue(owner, name, number);
  if (issue.state === 'closed') return replay(o, issueEvent(repo, issue, 'issue.closed', SWEEP));
  return replay(o, issueEvent(repo, issue, 'issue.labels', await labeller(o, owner, name, issue)));
}

/**
 * Who put the trigger label on: the newest "label added" entry of the issue's timeline (Gitea records who added
 * and removed each label). Without one, the issue's author: the spec phase then checks that person's rights, and a
 * writer's reply vouches for the story if they have none.
 */
async function labeller(o: { gitea: ReconcileGitea; triggerLabel: string }, owner: string, name: string, issue: Issue): Promise<SenderRef> {
  const timeline = await o.gitea.getIssueTimeline(owner, name, issue.number);
  const added = timeline.filter((t) => t.type === 'label' && t.body === '1' && t.label && isTriggerLabel(t.label.name, o.triggerLabel) && t.user);
  const by = added.at(-1)?.user ?? issue.user;
  return { id: by.id, login: by.login };
}

async function isolated(report: ReconcileReport, what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    report.errors.push(`${what}: ${(err as Error).message}`);
  }
}

function replay(o: { sql: Sql; triggerLabel: string }, ev: ActionableEvent): Promise<IntakeOutcome> {
  return o.sql.begin((tx) =>
    applyWebhookEvent(tx, { deliveryId: `reconcile:${randomUUID()}`, event: 'reconcile', eventType: ev.kind, action: null }, ev, o.triggerLabel),
  ) as Promise<IntakeOutcome>;
}

function repoRef(r: Repository): RepoRef {
  return { id: r.id, owner: r.owner.login, name: r.name, fullName: r.full_name, defaultBranch: r.default_branch, htmlUrl: r.html_url, cloneUrl: r.clone_url };
}

/** The sweep itself, as the sender of what it replays that no person did (a closing, a deletion it noticed). */
const SWEEP: SenderRef = { id: 0, login: 'damascus-reconcile' };

function issueRef(issue: Issue) {
  return {
    number: issue.number,
    title: withoutNul(issue.title),
    body: withoutNul(issue.body ?? ''),
    state: issue.state,
    htmlUrl: issue.html_url,
    isPull: issue.pull_request !== null,
  };
}

function issueEvent(repo: RepoRef, issue: Issue, kind: 'issue.labels' | 'issue.closed', sender: SenderRef): ActionableEvent {
  const ref = issueRef(issue);
  if (kind === 'issue.closed') return { kind, repo, issue: ref, sender };
  return { kind, repo, issue: ref, labels: issue.labels.map((l) => l.name), cleared: false, sender };
}

function commentEvent(repo: RepoRef, issue: Issue, c: Comment): Extract<ActionableEvent, { kind: 'comment' }> {
  const user = { id: c.user?.id ?? 0, login: c.user?.login ?? '' };
  const ref = issueRef(issue);
  return {
    kind: 'comment',
    action: 'created',
    repo,
    issue: ref,
    isPull: ref.isPull,
    comment: { id: c.id, body: withoutNul(c.body ?? ''), user, createdAt: c.created_at },
    sender: user,
  };
}

function prClosedEvent(repo: RepoRef, pr: PullRequest): ActionableEvent {
  return {
    kind: 'pr.closed',
    repo,
    number: pr.number,
    merged: pr.merged,
    headSha: pr.head.sha,
    headRef: pr.head.ref,
    mergeCommitSha: pr.merge_commit_sha ?? null,
    sender: SWEEP,
  };
}
