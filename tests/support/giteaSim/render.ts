import { createHash } from 'node:crypto';
import type { SimComment, SimHook, SimIssue, SimLabel, SimRepo, SimRun, SimRunner, SimState, SimStatus, SimTimelineEntry, SimUser } from './state.js';
import { isMergeable, labelsOf } from './state.js';
import { storedHookEvents } from './webhooks.js';

/**
 * Gitea's JSON for each record, field for field as 1.26.3 writes it (`services/convert/*`), with the key sets
 * of the real webhook captures in shared/gitea/webhooks. Go's nil values are written as null, like Gitea does.
 */
export class Renderer {
  constructor(
    private readonly state: SimState,
    private readonly baseUrl: () => string,
  ) {}

  user(u: SimUser): Record<string, unknown> {
    const base = this.baseUrl();
    return {
      id: u.id,
      login: u.login,
      login_name: '',
      source_id: 0,
      full_name: u.fullName,
      email: `${u.id}+${u.login.toLowerCase()}@noreply.localhost`,
      avatar_url: `${base}/avatars/${createHash('md5').update(u.login).digest('hex')}`,
      html_url: `${base}/${u.login}`,
      language: '',
      is_admin: u.isAdmin,
      last_login: '0001-01-01T00:00:00Z',
      created: u.created,
      restricted: false,
      active: true,
      prohibit_login: false,
      location: '',
      website: '',
      description: '',
      visibility: 'public',
      followers_count: 0,
      following_count: 0,
      starred_repos_count: 0,
      username: u.login,
    };
  }

  userByLogin(login: string): Record<string, unknown> {
    return this.user(this.state.user(login));
  }

  /** Full Repository; `viewer` decides `permissions`. `clone_url` is built from ROOT_URL, as Gitea does (never trust it). */
  repository(r: SimRepo, viewer: string): Record<string, unknown> {
    const base = this.baseUrl();
    const perm = this.state.permission(r, viewer);
    const open = (pulls: boolean) => r.issues.filter((i) => i.state === 'open' && (i.pull !== null) === pulls).length;
    return {
      id: r.id,
      owner: this.userByLogin(r.owner),
      name: r.name,
      full_name: `${r.owner}/${r.name}`,
      description: '',
      empty: false,
      private: r.private,
      fork: false,
      template: false,
      mirror: false,
      size: 0,
      language: '',
      languages_url: `${base}/api/v1/repos/${r.owner}/${r.name}/languages`,
      html_url: `${base}/${r.owner}/${r.name}`,
      url: `${base}/api/v1/repos/${r.owner}/${r.name}`,
      link: '',
      ssh_url: `git@127.0.0.1:${r.owner}/${r.name}.git`,
      clone_url: `${base}/${r.owner}/${r.name}.git`,
      original_url: '',
      website: '',
      stars_count: 0,
      forks_count: 0,
      watchers_count: 1,
      open_issues_count: open(false),
      open_pr_counter: open(true),
      release_counter: 0,
      branch_count: r.branchCount,
      default_branch: r.defaultBranch,
      archived: false,
      created_at: r.createdAt,
      updated_at: r.createdAt,
      archived_at: '1970-01-01T00:00:00Z',
      permissions: { admin: ['admin', 'owner'].includes(perm), push: ['write', 'admin', 'owner'].includes(perm), pull: perm !== 'none' },
      has_code: true,
      has_issues: true,
      internal_tracker: { enable_time_tracker: true, allow_only_contributors_to_track_time: true, enable_issue_dependencies: true },
      has_wiki: r.wiki !== null,
      has_pull_requests: true,
      has_projects: true,
      projects_mode: 'all',
      has_releases: true,
      has_packages: true,
      has_actions: true,
      ignore_whitespace_conflicts: false,
      allow_merge_commits: true,
      allow_rebase: true,
      allow_rebase_explicit: true,
      allow_squash_merge: true,
      allow_fast_forward_only_merge: true,
      allow_rebase_update: true,
      allow_manual_merge: false,
      autodetect_manual_merge: false,
      default_delete_branch_after_merge: false,
      default_merge_style: 'merge',
      default_allow_maintainer_edit: false,
      avatar_url: '',
      internal: false,
      mirror_interval: '',
      object_format_name: 'sha1',
      mirror_updated: '0001-01-01T00:00:00Z',
      topics: [],
      licenses: [],
    };
  }

  label(r: SimRepo, l: SimLabel): Record<string, unknown> {
    return {
      id: l.id,
      name: l.name,
      exclusive: l.exclusive,
      is_archived: l.isArchived,
      color: l.color,
      description: l.description,
      url: `${this.baseUrl()}/api/v1/repos/${r.owner}/${r.name}/labels/${l.id}`,
    };
  }

  issue(r: SimRepo, i: SimIssue): Record<string, unknown> {
    const base = this.baseUrl();
    const kind = i.pull ? 'pulls' : 'issues';
    return {
      id: i.id,
      url: `${base}/api/v1/repos/${r.owner}/${r.name}/issues/${i.number}`,
      html_url: `${base}/${r.owner}/${r.name}/${kind}/${i.number}`,
      number: i.number,
      user: this.userByLogin(i.user),
      original_author: '',
      original_author_id: 0,
      title: i.title,
      body: i.body,
      ref: '',
      assets: [],
      labels: labelsOf(r, i).map((l) => this.label(r, l)),
      milestone: null,
      assignee: null,
      assignees: null,
      state: i.state,
      is_locked: false,
      comments: r.comments.filter((c) => c.issueNumber === i.number).length,
      created_at: i.createdAt,
      updated_at: i.updatedAt,
      closed_at: i.closedAt,
      due_date: null,
      time_estimate: 0,
      pull_request: i.pull
        ? { merged: i.pull.merged, merged_at: i.pull.mergedAt, draft: false, html_url: `${base}/${r.owner}/${r.name}/pulls/${i.number}` }
        : null,
      repository: { id: r.id, name: r.name, owner: r.owner, full_name: `${r.owner}/${r.name}` },
      pin_order: 0,
      content_version: i.contentVersion,
    };
  }

  comment(r: SimRepo, c: SimComment): Record<string, unknown> {
    const base = this.baseUrl();
    const issue = r.issues.find((i) => i.number === c.issueNumber);
    const isPull = Boolean(issue?.pull);
    return {
      id: c.id,
      html_url: `${base}/${r.owner}/${r.name}/${isPull ? 'pulls' : 'issues'}/${c.issueNumber}#issuecomment-${c.id}`,
      pull_request_url: isPull ? `${base}/${r.owner}/${r.name}/pulls/${c.issueNumber}` : '',
      issue_url: isPull ? '' : `${base}/${r.owner}/${r.name}/issues/${c.issueNumber}`,
      user: this.userByLogin(c.user),
      original_author: '',
      original_author_id: 0,
      body: c.body,
      assets: [],
      created_at: c.createdAt,
      updated_at: c.updatedAt,
    };
  }

  pullRequest(r: SimRepo, i: SimIssue, viewer: string, opts: { list?: boolean } = {}): Record<string, unknown> {
    const p = i.pull;
    if (!p) throw new Error('not a pull request');
    const base = this.baseUrl();
    const repoJson = this.repository(r, viewer);
    const html = `${base}/${r.owner}/${r.name}/pulls/${i.number}`;
    return {
      id: p.id,
      url: html,
      number: i.number,
      user: this.userByLogin(i.user),
      title: i.title,
      body: i.body,
      labels: labelsOf(r, i).map((l) => this.label(r, l)),
      milestone: null,
      assignee: null,
      // One PR's lists are never null ([G] services/convert/pull.go ToAPIPullRequest: SliceNilAsEmpty,
      // []*api.User{}); in a list (ToAPIPullRequests) they stay nil, so null (seen on 1.26.3).
      assignees: opts.list ? null : [],
      requested_reviewers: opts.list ? null : [],
      requested_reviewers_teams: opts.list ? null : [],
      state: i.state,
      draft: false,
      is_locked: false,
      comments: r.comments.filter((c) => c.issueNumber === i.number).length,
      // review_comments is omitempty; the diff stats are left out of lists ("the diff is quite slow")
      ...(opts.list ? {} : { additions: 0, deletions: 0, changed_files: 0 }),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      mergeable: isMergeable(i),
      merged: p.merged,
      merged_at: p.mergedAt,
      merge_commit_sha: p.mergeCommitSha,
      merged_by: p.mergedBy ? this.userByLogin(p.mergedBy) : null,
      allow_maintainer_edit: false,
      base: { label: p.baseBranch, ref: p.baseBranch, sha: p.merged && p.mergeCommitSha ? p.mergeCommitSha : p.mergeBase, repo_id: r.id, repo: repoJson },
      head: {
        label: p.headBranch,
        // Gitea reports the PR ref once the head branch is gone (services/convert/pull.go).
        ref: p.headDeleted ? `refs/pull/${i.number}/head` : p.headBranch,
        sha: p.headSha,
        repo_id: r.id,
        repo: repoJson,
      },
      merge_base: p.mergeBase,
      due_date: null,
      created_at: i.createdAt,
      updated_at: i.updatedAt,
      closed_at: i.closedAt,
      pin_order: 0,
      content_version: i.contentVersion,
    };
  }

  hook(h: SimHook): Record<string, unknown> {
    // Gitea never returns the secret.
    return {
      id: h.id,
      name: h.name,
      type: 'gitea',
      branch_filter: h.branchFilter,
      config: { content_type: h.contentType, url: h.url },
      events: storedHookEvents(h.events),
      authorization_header: '',
      active: h.active,
      updated_at: h.updatedAt,
      created_at: h.createdAt,
    };
  }

  /** TimelineComment ([G] services/convert/issue_comment.go ToTimelineComment), the fields a label or comment entry has. */
  timeline(r: SimRepo, i: SimIssue, e: SimTimelineEntry): Record<string, unknown> {
    const base = this.baseUrl();
    const label = e.labelId === null ? null : r.labels.find((l) => l.id === e.labelId);
    return {
      id: e.id,
      type: e.type,
      html_url: `${base}/${r.owner}/${r.name}/${i.pull ? 'pulls' : 'issues'}/${i.number}#issuecomment-${e.id}`,
      pull_request_url: i.pull ? `${base}/${r.owner}/${r.name}/pulls/${i.number}` : '',
      issue_url: i.pull ? '' : `${base}/${r.owner}/${r.name}/issues/${i.number}`,
      user: this.userByLogin(e.user),
      body: e.body,
      created_at: e.createdAt,
      updated_at: e.createdAt,
      old_project_id: 0,
      project_id: 0,
      old_title: '',
      new_title: '',
      old_ref: '',
      new_ref: '',
      ref_action: '',
      ref_commit_sha: '',
      review_id: 0,
      label: label ? this.label(r, label) : null,
      assignee: null,
      assignee_team: null,
      removed_assignee: false,
      resolve_doer: null,
      tracked_time: null,
      milestone: null,
      old_milestone: null,
      ref_issue: null,
      ref_comment: null,
      dependent_issue: null,
    };
  }

  /** ActionWorkflowRun (the fields Gitea 1.26 fills for a dispatched run). */
  run(r: SimRepo, run: SimRun, viewer: string): Record<string, unknown> {
    const base = this.baseUrl();
    return {
      id: run.id,
      url: `${base}/api/v1/repos/${r.owner}/${r.name}/actions/runs/${run.id}`,
      html_url: `${base}/${r.owner}/${r.name}/actions/runs/${run.id}`,
      display_title: run.displayTitle,
      path: `${run.workflow}@${run.ref.startsWith('refs/') ? run.ref : `refs/heads/${run.ref}`}`,
      event: run.event,
      run_attempt: 0,
      run_number: run.runNumber,
      head_sha: run.sha,
      head_branch: run.ref.replace(/^refs\/heads\//, ''),
      status: run.status,
      actor: this.userByLogin(run.actor),
      trigger_actor: this.userByLogin(run.actor),
      repository: this.repository(r, viewer),
      conclusion: run.conclusion,
      // A run no runner has taken yet has no start: Gitea 1.26.3 shows the zero Unix time.
      started_at: run.status === 'queued' ? '1970-01-01T00:00:00Z' : run.createdAt,
      completed_at: run.status === 'completed' ? run.createdAt : '0001-01-01T00:00:00Z',
    };
  }

  /** ActionRunner */
  runner(x: SimRunner): Record<string, unknown> {
    return {
      id: x.id,
      name: x.name,
      status: x.status,
      busy: x.status === 'active',
      disabled: false,
      ephemeral: false,
      labels: x.labels.map((name) => ({ id: 0, name, type: 'custom' })),
    };
  }

  status(r: SimRepo, s: SimStatus): Record<string, unknown> {
    return {
      id: s.id,
      status: s.state,
      target_url: s.targetUrl,
      description: s.description,
      url: `${this.baseUrl()}/api/v1/repos/${r.owner}/${r.name}/statuses/${s.sha}`,
      context: s.context,
      creator: this.userByLogin(s.creator),
      created_at: s.createdAt,
      updated_at: s.createdAt,
    };
  }
}
