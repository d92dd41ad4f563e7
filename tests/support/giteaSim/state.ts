import type { RepoPermission } from '../../../src/gitea/types.js';

/** In-memory Gitea data. Plain records; the server and the sim API mutate them, render.ts turns them into JSON. */

export interface SimUser {
  id: number;
  login: string;
  fullName: string;
  isAdmin: boolean;
  created: string;
}

export interface SimLabel {
  id: number;
  name: string;
  color: string;
  description: string;
  exclusive: boolean;
  isArchived: boolean;
}

export interface SimPull {
  id: number;
  headBranch: string;
  baseBranch: string;
  /** Head commit as last seen (refreshed from git before every API call on the repo). */
  headSha: string;
  mergeBase: string;
  merged: boolean;
  mergedAt: string | null;
  mergedBy: string | null;
  mergeCommitSha: string | null;
  headDeleted: boolean;
  /** The (head, base) pair the conflict check last ran on, and what it found. */
  checkedPair: string | null;
  conflict: boolean;
  /** Gitea re-checks a PR asynchronously after its head or base moved: `mergeable` is false until then (ms epoch). */
  checkingUntil: number;
}

/** An issue timeline entry ([G] models/issues/comment.go CommentType): label changes carry the label and who made them. */
export interface SimTimelineEntry {
  id: number;
  type: 'label' | 'comment' | 'close' | 'reopen';
  /** For `label`: "1" when added, "" when removed (Gitea's encoding). For `comment`: the text. '' for close/reopen. */
  body: string;
  user: string;
  labelId: number | null;
  createdAt: string;
}

/** A workflow run started by a dispatch. */
export interface SimRun {
  id: number;
  /** Per repository, as Gitea numbers runs (the web route /actions/runs/{number} takes this). */
  runNumber: number;
  workflow: string;
  displayTitle: string;
  event: 'workflow_dispatch';
  ref: string;
  sha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: '' | 'success' | 'failure' | 'cancelled';
  createdAt: string;
  /** Who dispatched it (Gitea's actor and trigger_actor). */
  actor: string;
}

/** A runner as Gitea lists it, with where it is registered. */
export interface SimRunner {
  id: number;
  name: string;
  labels: string[];
  status: 'online' | 'offline' | 'idle' | 'active';
  /** global, or a repo (`owner/name`), a user or an org (`login`). */
  scope: { kind: 'global' } | { kind: 'repo'; repo: string } | { kind: 'user' | 'org'; owner: string };
}

/** An access token: who it belongs to and its scopes (`all`, or `read:…`/`write:…` by category). */
export interface SimToken {
  login: string;
  scopes: string[];
}

export interface SimIssue {
  id: number;
  number: number;
  user: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  labelIds: number[];
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  contentVersion: number;
  pull: SimPull | null;
  timeline: SimTimelineEntry[];
  /** Deleted through the API or UI: the API answers 404 for it (500 for its comments and timeline). */
  deleted: boolean;
}

export interface SimComment {
  id: number;
  issueNumber: number;
  user: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}

export interface SimHook {
  id: number;
  name: string;
  url: string;
  secret: string;
  contentType: 'json' | 'form';
  events: string[];
  active: boolean;
  authorizationHeader: string;
  branchFilter: string;
  createdAt: string;
  updatedAt: string;
}

export interface SimStatus {
  id: number;
  sha: string;
  state: string;
  context: string;
  description: string;
  targetUrl: string;
  creator: string;
  createdAt: string;
}

export interface SimDispatch {
  owner: string;
  repo: string;
  /** The workflow file name (e.g. damascus-review.yml). */
  workflow: string;
  /** The dispatched ref (the branch the workflow file is read from). */
  ref: string;
  /** The commit `ref` pointed at when the dispatch arrived (GITHUB_SHA of the run). */
  sha: string;
  inputs: Record<string, string>;
  runId: number;
  runNumber: number;
  sender: string;
}

export interface SimRepo {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  private: boolean;
  /** Bare git repository on disk. */
  path: string;
  createdAt: string;
  /** Wiki pages by title; null when the repo has no wiki. */
  wiki: Map<string, { content: string; sha: string }> | null;
  labels: SimLabel[];
  issues: SimIssue[];
  comments: SimComment[];
  hooks: SimHook[];
  statuses: SimStatus[];
  secrets: Map<string, { data: string; description: string }>;
  permissions: Map<string, RepoPermission>;
  dispatches: SimDispatch[];
  runs: SimRun[];
  /** The owner is an organization (its Owners team members get `owner`, like the repo's owner user). */
  ownerIsOrg: boolean;
  /** Branches in the bare repo (Repository.branch_count), counted again after every push. */
  branchCount: number;
}

export class SimState {
  readonly users = new Map<string, SimUser>();
  readonly repos = new Map<string, SimRepo>();
  readonly tokens = new Map<string, SimToken>();
  readonly runners: SimRunner[] = [];
  private seq = new Map<string, number>();

  /** Gitea ids are global per table: one counter per kind. */
  nextId(kind: 'user' | 'repo' | 'label' | 'issue' | 'pull' | 'comment' | 'hook' | 'status' | 'run' | 'runner' | 'timeline'): number {
    const n = (this.seq.get(kind) ?? 0) + 1;
    this.seq.set(kind, n);
    return n;
  }

  ensureUser(login: string, opts: { fullName?: string; isAdmin?: boolean } = {}): SimUser {
    let user = this.users.get(login);
    if (!user) {
      user = { id: this.nextId('user'), login, fullName: opts.fullName ?? '', isAdmin: opts.isAdmin ?? false, created: now() };
      this.users.set(login, user);
    }
    return user;
  }

  user(login: string): SimUser {
    const u = this.users.get(login);
    if (!u) throw new Error(`giteaSim: no user ${login}`);
    return u;
  }

  repo(owner: string, name: string): SimRepo | undefined {
    return this.repos.get(`${owner}/${name}`.toLowerCase());
  }

  mustRepo(owner: string, name: string): SimRepo {
    const r = this.repo(owner, name);
    if (!r) throw new Error(`giteaSim: no repo ${owner}/${name}`);
    return r;
  }

  /**
   * Permission of `login` on the repo, the way GET …/collaborators/{user}/permission reports it: `owner` for the
   * owning user, a site admin, or an org Owners-team member (granted here as `owner`); else the collaborator's
   * grant; else read on a public repo ([G] models/perm/access/repo_permission.go, services/convert/user.go).
   */
  permission(repo: SimRepo, login: string): RepoPermission {
    if (login.toLowerCase() === repo.owner.toLowerCase()) return 'owner';
    const user = this.users.get(login);
    if (user?.isAdmin) return 'owner';
    return repo.permissions.get(login) ?? (repo.private ? 'none' : 'read');
  }
}

export function issueOf(repo: SimRepo, n: number): SimIssue | undefined {
  return repo.issues.find((i) => i.number === n);
}

/** What a PR's `mergeable` says: open, not merged, checked, and no conflict with its base. */
export function isMergeable(issue: SimIssue): boolean {
  const p = issue.pull;
  return p !== null && !p.merged && issue.state === 'open' && !p.conflict && Date.now() >= p.checkingUntil;
}

export function labelsOf(repo: SimRepo, issue: SimIssue): SimLabel[] {
  return issue.labelIds.map((id) => repo.labels.find((l) => l.id === id)).filter((l): l is SimLabel => l !== undefined);
}

/** Gitea timestamps: RFC 3339 without milliseconds. */
export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const PERMISSION_RANK: Record<RepoPermission, number> = { none: 0, read: 1, write: 2, admin: 3, owner: 4 };
