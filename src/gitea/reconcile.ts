import { randomUUID } from 'node:crypto';
import type { Sql } from '../db/connection.js';
import { applyWebhookEvent, type IntakeOutcome } from '../db/ops/applyWebhookEvent.js';
import { listReconcileTargets } from '../db/ops/listReconcileTargets.js';
import type { Logger } from '../log.js';
import type { GiteaClient } from './client.js';
import { withoutNul, type GiteaEvent, type RepoRef } from './events.js';
import { stateOfLabel } from './labels.js';
import type { Issue, PullRequest, Repository } from './types.js';

/**
 * The reconcile sweep: Gitea delivers each webhook once and never retries, so on start and every
 * few minutes Damascus polls what it may have missed and replays it through the webhook intake's
 * own write (applyWebhookEvent), as if the event had arrived: labelled issues without an item,
 * closed issues, PRs merged or closed meanwhile. Label drift is repaired by asking the relay for a
 * status refresh.
 */
export interface ReconcileReport {
  projects: number;
  created: number;
  cancelled: number;
  prs: number;
  refreshed: number;
  errors: string[];
}

export async function reconcile(o: { sql: Sql; gitea: GiteaClient; triggerLabel: string; log: Logger }): Promise<ReconcileReport & { wake: boolean }> {
  const report: ReconcileReport = { projects: 0, created: 0, cancelled: 0, prs: 0, refreshed: 0, errors: [] };
  let wake = false;
  const targets = await listReconcileTargets(o.sql);
  for (const project of targets.projects) {
    report.projects++;
    try {
      const repo = repoRef(await o.gitea.getRepo(project.owner, project.name));
      const labelled = await o.gitea.listIssues(project.owner, project.name, { state: 'open', labels: [o.triggerLabel], type: 'issues' });
      const tracked = new Set(project.tracked);
      for (const issue of labelled.filter((i) => !tracked.has(i.number))) {
        const out = await replay(o, issueEvent(repo, issue, 'issue.labels'));
        if (out.status === 'recorded' && (out.effect.startsWith('created') || out.effect === 'reactivated')) { report.created++; wake = true; }
      }
      for (const item of targets.items.filter((i) => i.projectId === project.id)) {
        const issue = await o.gitea.getIssue(project.owner, project.name, item.issueNumber);
        // The PR first: merging it closes the issue too (by "Closes #N", or by the review phase right
        // after the merge), and a merged story is done, not cancelled.
        if (item.prNumber !== null) {
          const pr = await o.gitea.getPullRequest(project.owner, project.name, item.prNumber);
          if (pr.state === 'closed') {
            const out = await replay(o, prClosedEvent(repo, pr));
            if (out.status === 'recorded') report.prs++;
            continue;
          }
        }
        if (issue.state === 'closed') {
          const out = await replay(o, issueEvent(repo, issue, 'issue.closed'));
          if (out.status === 'recorded' && out.effect === 'cancelled') report.cancelled++;
          continue;
        }
        const stateLabels = issue.labels.map((l) => stateOfLabel(l.name)).filter((s) => s !== null);
        if (stateLabels.length !== 1 || stateLabels[0] !== item.state) {
          await o.sql`INSERT INTO events_outbox (item_id, type, payload) VALUES (${item.id}, 'status.refresh', '{"reason":"label drift"}'::jsonb)`;
          report.refreshed++;
        }
      }
    } catch (err) {
      report.errors.push(`${project.owner}/${project.name}: ${(err as Error).message}`);
    }
  }
  if (report.created || report.cancelled || report.prs || report.refreshed || report.errors.length) o.log.info(report, 'reconcile sweep');
  return { ...report, wake };
}

/** Apply one issue's current state as the webhook would (used by `damascus enqueue` too). */
export async function reconcileIssue(o: { sql: Sql; gitea: GiteaClient; triggerLabel: string }, owner: string, name: string, number: number): Promise<IntakeOutcome> {
  const repo = repoRef(await o.gitea.getRepo(owner, name));
  const issue = await o.gitea.getIssue(owner, name, number);
  return replay(o, issueEvent(repo, issue, issue.state === 'closed' ? 'issue.closed' : 'issue.labels'));
}

function replay(o: { sql: Sql; triggerLabel: string }, ev: Exclude<GiteaEvent, { kind: 'ignored' | 'invalid' }>): Promise<IntakeOutcome> {
  return o.sql.begin((tx) =>
    applyWebhookEvent(tx, { deliveryId: `reconcile:${randomUUID()}`, event: 'reconcile', eventType: ev.kind, action: null }, ev, o.triggerLabel),
  ) as Promise<IntakeOutcome>;
}

function repoRef(r: Repository): RepoRef {
  return { id: r.id, owner: r.owner.login, name: r.name, fullName: r.full_name, defaultBranch: r.default_branch, htmlUrl: r.html_url, cloneUrl: r.clone_url };
}

const SWEEP = { id: 0, login: 'damascus-reconcile' };

function issueEvent(repo: RepoRef, issue: Issue, kind: 'issue.labels' | 'issue.closed'): Exclude<GiteaEvent, { kind: 'ignored' | 'invalid' }> {
  const ref = { number: issue.number, title: withoutNul(issue.title), body: withoutNul(issue.body ?? ''), state: issue.state, htmlUrl: issue.html_url, isPull: issue.pull_request !== null };
  if (kind === 'issue.closed') return { kind, repo, issue: ref, sender: SWEEP };
  return { kind, repo, issue: ref, labels: issue.labels.map((l) => l.name), cleared: false, sender: SWEEP };
}

function prClosedEvent(repo: RepoRef, pr: PullRequest): Exclude<GiteaEvent, { kind: 'ignored' | 'invalid' }> {
  return {
    kind: 'pr.closed', repo, number: pr.number, merged: pr.merged, headSha: pr.head.sha, headRef: pr.head.ref,
    mergeCommitSha: pr.merge_commit_sha ?? null, sender: SWEEP,
  };
}
