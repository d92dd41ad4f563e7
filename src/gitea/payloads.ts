/**
 * The parts of Gitea's webhook payloads that Damascus reads (FACTS §c, real captures in
 * shared/gitea/webhooks/). Field names are Gitea's (snake_case). Everything else in a payload
 * is ignored. These describe the wire shape; a payload is untrusted until events.ts has checked it.
 */

/** `sender`, `comment.user`, `repository.owner` (User). Never key on `email` (FACTS §f.12). */
export interface GiteaUser {
  id: number;
  login: string;
}

/** An entry of `issue.labels` / `pull_request.labels`. `color` is hex without '#'. */
export interface GiteaLabel {
  id: number;
  name: string;
  color?: string;
  description?: string;
}

/** The top-level `repository` (full Repository). */
export interface GiteaRepository {
  id: number;
  owner: GiteaUser;
  name: string;
  full_name: string;
  html_url: string;
  clone_url: string;
  /** Empty for a repository with no commits yet. */
  default_branch: string;
}

/** `issue.pull_request`: null for a real issue, this object for a PR. */
export interface GiteaPullRequestMeta {
  merged: boolean;
  merged_at: string | null;
}

export interface GiteaIssue {
  id: number;
  number: number;
  html_url: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  /** The full label list after the change (stale on `label_cleared`). */
  labels: GiteaLabel[];
  pull_request: GiteaPullRequestMeta | null;
}

export interface GiteaComment {
  id: number;
  html_url: string;
  user: GiteaUser;
  body: string;
  created_at: string;
}

/** `pull_request.head` / `.base`. `ref` becomes `refs/pull/N/head` once the branch is gone; `label` keeps the name. */
export interface GiteaPRBranch {
  label: string;
  ref: string;
  sha: string;
  repo_id?: number;
}

export interface GiteaPullRequest {
  id: number;
  number: number;
  html_url: string;
  title: string;
  state: 'open' | 'closed';
  merged: boolean;
  merge_commit_sha: string | null;
  head: GiteaPRBranch;
  base: GiteaPRBranch;
  labels: GiteaLabel[];
}

/** X-Gitea-Event `issues` (types issues, issue_assign, issue_label, issue_milestone). */
export interface IssuePayload {
  action: string;
  number: number;
  issue: GiteaIssue;
  repository: GiteaRepository;
  sender: GiteaUser;
}

/** X-Gitea-Event `issue_comment` (types issue_comment and pull_request_comment). */
export interface IssueCommentPayload {
  action: 'created' | 'edited' | 'deleted';
  issue: GiteaIssue;
  comment: GiteaComment;
  repository: GiteaRepository;
  sender: GiteaUser;
  /** Since 1.11; absent on older servers (then `issue.pull_request` tells). */
  is_pull?: boolean;
  changes?: { body?: { from: string } };
}

/** X-Gitea-Event `pull_request` (and the review events, which Damascus ignores). */
export interface PullRequestPayload {
  action: string;
  number: number;
  pull_request: GiteaPullRequest;
  repository: GiteaRepository;
  sender: GiteaUser;
}
