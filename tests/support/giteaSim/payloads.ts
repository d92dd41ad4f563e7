import type { Renderer } from './render.js';
import type { SimComment, SimIssue, SimRepo } from './state.js';

/**
 * Webhook payloads as Gitea 1.26.3 builds them ([G] modules/structs/hook.go, services/webhook/notifier.go),
 * shaped like the captures in shared/gitea/webhooks. `sender` is the acting user.
 */

export type Changes = { title?: { from: string }; body?: { from: string } };

/** IssuePayload (issues, issue_label, …). `changes` only on edited. */
export function issuePayload(render: Renderer, repo: SimRepo, issue: SimIssue, action: string, sender: string, changes?: Changes): Record<string, unknown> {
  return {
    action,
    number: issue.number,
    ...(changes ? { changes: withLabelDeltaFields(changes) } : {}),
    issue: render.issue(repo, issue),
    repository: render.repository(repo, sender),
    sender: render.userByLogin(sender),
    commit_id: '',
  };
}

/** PullRequestPayload (pull_request, pull_request_sync, pull_request_label, …). */
export function pullPayload(render: Renderer, repo: SimRepo, issue: SimIssue, action: string, sender: string, changes?: Changes): Record<string, unknown> {
  return {
    action,
    number: issue.number,
    ...(changes ? { changes: withLabelDeltaFields(changes) } : {}),
    pull_request: render.pullRequest(repo, issue, sender),
    requested_reviewer: null,
    repository: render.repository(repo, sender),
    sender: render.userByLogin(sender),
    commit_id: '',
    review: null,
  };
}

/** IssueCommentPayload; PR comments carry the full `pull_request` (since 1.23) and `is_pull: true`. */
export function commentPayload(
  render: Renderer,
  repo: SimRepo,
  issue: SimIssue,
  comment: SimComment,
  action: 'created' | 'edited' | 'deleted',
  sender: string,
  changes?: Changes,
): Record<string, unknown> {
  return {
    action,
    issue: render.issue(repo, issue),
    ...(issue.pull ? { pull_request: render.pullRequest(repo, issue, sender) } : {}),
    comment: render.comment(repo, comment),
    ...(changes ? { changes: withLabelDeltaFields(changes) } : {}),
    repository: render.repository(repo, sender),
    sender: render.userByLogin(sender),
    is_pull: issue.pull !== null,
  };
}

/** 1.25+ ChangesPayload has added_labels/removed_labels without omitempty, so edited events show them as null. */
function withLabelDeltaFields(changes: Changes): Record<string, unknown> {
  return { ...changes, added_labels: null, removed_labels: null };
}
