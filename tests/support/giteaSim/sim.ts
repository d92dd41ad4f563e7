import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RepoPermission } from '../../../src/gitea/types.js';
import { FaultInjector } from './faults.js';
import * as g from './git.js';
import { commentPayload, issuePayload, pullPayload, type Changes } from './payloads.js';
import { Renderer } from './render.js';
import {
  isMergeable,
  issueOf,
  labelsOf,
  now,
  SimState,
  type SimComment,
  type SimDispatch,
  type SimIssue,
  type SimLabel,
  type SimRepo,
  type SimRun,
  type SimRunner,
  type SimStatus,
} from './state.js';
import { WebhookQueue, type WebhookDelivery } from './webhooks.js';

export interface RecordedRequest {
  method: string;
  /** Path below /api/v1, without the query. */
  path: string;
  /** Status answered; null when a fault dropped the connection. */
  status: number | null;
  operationId?: string;
  /** Login of the token that made the request (null: none, or one the simulator does not know); unset before the token is checked. */
  viewer?: string | null;
}

/** An outcome the HTTP layer turns into Gitea's `{message, url}` error answer. */
export class SimHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type DispatchHandler = (d: SimDispatch, sim: GiteaSim) => void | Promise<void>;

export interface GiteaSimOptions {
  /** What GET /version reports (default 1.26.3). Versions below 1.23 reject label names; below 1.24 have no dispatch API. */
  version?: string;
  /** Login of the token's owner (default `damascus-bot`). */
  botLogin?: string;
  /** Webhook delivery timeout (default 5000 ms, Gitea's DELIVER_TIMEOUT). */
  webhookTimeoutMs?: number;
  /**
   * Parallel webhook senders (Gitea's queue runs NumCPU/2 workers, 1 to 10): above 1, deliveries overtake each
   * other. Default 1, which is what Gitea runs on a 2-core machine.
   */
  webhookWorkers?: number;
  /** Gitea's ROOT_URL, which `clone_url`, `html_url` and links are built from (default: the URL the sim listens on). */
  rootUrl?: string;
  /** How long a PR counts as "checking" (`mergeable: false`, merge 405) after its head or base moved (default 0). */
  mergeCheckMs?: number;
  /** Scopes of the bot's token (default `all`). */
  botScopes?: string[];
}

/**
 * A faithful simulated Gitea 1.26.3 for tests: the HTTP API (validated against Gitea's swagger), issues, comments,
 * labels and PRs in memory, real bare git repos (real merges), signed webhooks, and fault injection.
 * Start one with `startGiteaSim()` (index.ts).
 */
export class GiteaSim {
  /** Server root, e.g. `http://127.0.0.1:40123` (what GITEA_URL would be). */
  url = '';
  /** `${url}/api/v1` */
  apiUrl = '';
  /** The bot's access token: send `Authorization: token <token>`. */
  readonly token: string;
  readonly botLogin: string;
  readonly version: string;
  /** Every API request with the status it got, in arrival order. */
  readonly requests: RecordedRequest[] = [];
  /** Responses the simulator sent that break Gitea's response schemas (tests assert this stays empty). */
  readonly responseViolations: string[] = [];
  /** Injected failures: `sim.faults.add({path: /\/merge$/, status: 405, times: 1})`, `sim.faults.clear()`. */
  readonly faults = new FaultInjector();
  /** Workflow dispatches received, in order. */
  readonly dispatches: SimDispatch[] = [];
  /** What `clone_url` and links are built from (Gitea's ROOT_URL); the listening URL unless set. */
  rootUrlOverride: string | null;
  readonly mergeCheckMs: number;

  /** @internal */ readonly state = new SimState();
  /** @internal */ readonly render: Renderer;
  /** @internal */ readonly webhooks: WebhookQueue;
  /** @internal */ server: Server | null = null;
  private dispatchHandlers: DispatchHandler[] = [];
  private pendingHandlers = new Set<Promise<void>>();

  constructor(
    /** Scratch directory holding the bare repos; removed by close(). */
    readonly dataDir: string,
    opts: GiteaSimOptions,
    token: string,
  ) {
    this.token = token;
    this.botLogin = opts.botLogin ?? 'damascus-bot';
    this.version = opts.version ?? '1.26.3';
    this.rootUrlOverride = opts.rootUrl?.replace(/\/+$/, '') ?? null;
    this.mergeCheckMs = opts.mergeCheckMs ?? 0;
    this.render = new Renderer(this.state, () => this.rootUrl);
    this.webhooks = new WebhookQueue(opts.webhookTimeoutMs ?? 5000, opts.webhookWorkers ?? 1);
    this.state.ensureUser(this.botLogin, { fullName: 'Damascus' });
    this.state.tokens.set(token, { login: this.botLogin, scopes: opts.botScopes ?? ['all'] });
  }

  /** Gitea's ROOT_URL: where `clone_url` and `html_url` point (the listening URL unless `rootUrl` was given). */
  get rootUrl(): string {
    return this.rootUrlOverride ?? this.url;
  }

  /** A new access token for `login` (created if missing) with these scopes (default `all`). */
  createToken(login: string, scopes: string[] = ['all']): string {
    this.state.ensureUser(login);
    const token = randomBytes(20).toString('hex');
    this.state.tokens.set(token, { login, scopes });
    return token;
  }

  /** Registers a runner (global, or on a repo / user / org) as Gitea's runner list shows it. */
  addRunner(r: Omit<SimRunner, 'id'>): SimRunner {
    const runner = { ...r, id: this.state.nextId('runner') };
    this.state.runners.push(runner);
    return runner;
  }

  // ───────────────────────── lifecycle ─────────────────────────

  /** Stops the server (after pending deliveries and dispatch handlers) and deletes the repos. */
  async close(): Promise<void> {
    await this.waitForDeliveries();
    await Promise.allSettled([...this.pendingHandlers]);
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
    await rm(this.dataDir, { recursive: true, force: true });
  }

  // ───────────────────────── users and repos ─────────────────────────

  /** Adds a user (idempotent) and sets its permission on repos, keyed `owner/name`. */
  addUser(login: string, opts: { permissions?: Record<string, RepoPermission>; isAdmin?: boolean; fullName?: string } = {}): void {
    this.state.ensureUser(login, { fullName: opts.fullName, isAdmin: opts.isAdmin });
    for (const [full, perm] of Object.entries(opts.permissions ?? {})) {
      const [owner, name] = full.split('/');
      this.state.mustRepo(owner!, name!).permissions.set(login, perm);
    }
  }

  /** Sets `login`'s collaborator permission on a repo (creating the user if needed). */
  setPermission(owner: string, name: string, login: string, permission: RepoPermission): void {
    this.state.ensureUser(login);
    this.state.mustRepo(owner, name).permissions.set(login, permission);
  }

  /**
   * Creates a repo backed by a real bare git repo holding one commit of `files` on `defaultBranch` (default `main`).
   * The owner (an organization unless `ownerIsOrg: false`) is created if needed. The bot gets `botPermission`:
   * default `owner`, as a member of the org's Owners team, which Actions secrets need; `admin` is an admin
   * collaborator, which Gitea refuses secrets to. `wiki` enables the wiki.
   */
  async createRepo(
    owner: string,
    name: string,
    opts: {
      files?: Record<string, string>;
      defaultBranch?: string;
      wiki?: Record<string, string>;
      private?: boolean;
      botPermission?: RepoPermission;
      ownerIsOrg?: boolean;
      /** No commit at all (a repository created without auto_init). */
      empty?: boolean;
    } = {},
  ): Promise<{ path: string; defaultBranch: string; headSha: string | null }> {
    if (this.state.repo(owner, name)) throw new Error(`giteaSim: repo ${owner}/${name} exists`);
    this.state.ensureUser(owner);
    const defaultBranch = opts.defaultBranch ?? 'main';
    const path = join(this.dataDir, owner, `${name}.git`);
    await mkdir(join(this.dataDir, owner), { recursive: true });
    const headSha = await g.initBareRepo(path, opts.files ?? {}, defaultBranch, opts.empty === true);
    const repo: SimRepo = {
      id: this.state.nextId('repo'),
      owner,
      name,
      defaultBranch,
      private: opts.private ?? false,
      path,
      createdAt: now(),
      wiki: opts.wiki ? new Map(Object.entries(opts.wiki).map(([t, c], i) => [t, { content: c, sha: fakeSha(`${t}${i}`) }])) : null,
      labels: [],
      issues: [],
      comments: [],
      hooks: [],
      statuses: [],
      secrets: new Map(),
      permissions: owner.toLowerCase() === this.botLogin.toLowerCase() ? new Map() : new Map([[this.botLogin, opts.botPermission ?? 'owner']]),
      dispatches: [],
      runs: [],
      ownerIsOrg: opts.ownerIsOrg ?? owner.toLowerCase() !== this.botLogin.toLowerCase(),
      branchCount: opts.empty === true ? 0 : 1,
    };
    this.state.repos.set(`${owner}/${name}`.toLowerCase(), repo);
    return { path, defaultBranch, headSha };
  }

  /** The bare repo's path; push to it with plain git over the filesystem. */
  repoPath(owner: string, name: string): string {
    return this.state.mustRepo(owner, name).path;
  }

  // ───────────────────────── labels, issues, comments (user actions) ─────────────────────────

  /** Creates a repo label (no webhook, like the UI). Gitea allows duplicate names; so does this. */
  createLabel(owner: string, name: string, label: { name: string; color?: string; description?: string }): SimLabel {
    const repo = this.state.mustRepo(owner, name);
    return this.addLabelRecord(repo, { name: label.name, color: label.color ?? 'ededed', description: label.description ?? '' });
  }

  /**
   * A user opens an issue: `issues`/opened, then `issue_label`/label_updated when it has labels (as Gitea does).
   * Label names that do not exist yet are created. Returns the issue number.
   */
  createIssue(owner: string, name: string, issue: { title: string; body?: string; user: string; labels?: string[] }): number {
    const repo = this.state.mustRepo(owner, name);
    this.state.ensureUser(issue.user);
    const labelIds = (issue.labels ?? []).map((l) => this.labelByName(repo, l).id);
    return this.openIssue(repo, { title: issue.title, body: issue.body ?? '', user: issue.user }, labelIds).number;
  }

  /** @internal An issue opened (by a person or the API): `opened`, then `label_updated` when it carries labels. */
  openIssue(repo: SimRepo, i: { title: string; body: string; user: string }, labelIds: number[]): SimIssue {
    const created = this.newIssue(repo, { ...i, pull: null });
    this.emitIssueEvent(repo, created, 'opened', i.user);
    if (labelIds.length > 0) this.setIssueLabels(repo, created, labelIds, i.user);
    return created;
  }

  /** A user adds labels (by name; created if missing): one `label_updated` carrying the full list afterwards. */
  labelIssue(owner: string, name: string, n: number, labels: string[], opts: { by: string }): void {
    const repo = this.state.mustRepo(owner, name);
    this.state.ensureUser(opts.by);
    const issue = this.mustIssue(repo, n);
    const ids = labels.map((l) => this.labelByName(repo, l).id);
    this.setIssueLabels(repo, issue, [...issue.labelIds, ...ids.filter((id) => !issue.labelIds.includes(id))], opts.by);
  }

  /** A user removes labels (by name): `label_updated` with the shorter list. */
  unlabel(owner: string, name: string, n: number, labels: string[], opts: { by: string }): void {
    const repo = this.state.mustRepo(owner, name);
    this.state.ensureUser(opts.by);
    const issue = this.mustIssue(repo, n);
    const drop = new Set(repo.labels.filter((l) => labels.includes(l.name)).map((l) => l.id));
    this.setIssueLabels(
      repo,
      issue,
      issue.labelIds.filter((id) => !drop.has(id)),
      opts.by,
    );
  }

  /** A user comments: `issue_comment` (event type `pull_request_comment` on a PR), action created. Returns the comment. */
  comment(owner: string, name: string, n: number, body: string, opts: { by: string }): SimComment {
    const repo = this.state.mustRepo(owner, name);
    this.state.ensureUser(opts.by);
    return this.addComment(repo, this.mustIssue(repo, n), body, opts.by);
  }

  /** A user closes an issue or PR (`issues`/closed or `pull_request`/closed, merged false). */
  closeIssue(owner: string, name: string, n: number, opts: { by: string }): void {
    const repo = this.state.mustRepo(owner, name);
    this.editIssueRecord(repo, this.mustIssue(repo, n), { state: 'closed' }, opts.by);
  }

  /**
   * A user deletes an issue: one `issues`/deleted delivery; afterwards the API answers 404 for the issue and its
   * labels, and 500 for its comments and timeline (FACTS §0, seen on 1.26.3).
   */
  deleteIssue(owner: string, name: string, n: number, opts: { by: string }): void {
    const repo = this.state.mustRepo(owner, name);
    this.deleteIssueRecord(repo, this.mustIssue(repo, n), opts.by);
  }

  /** Chaos: hold deliveries until release(); then send them in the order given (`reverse`: newest first). */
  holdWebhooks(): void {
    this.webhooks.hold();
  }

  releaseWebhooks(order: 'fifo' | 'reverse' = 'fifo'): void {
    this.webhooks.release(order);
  }

  /**
   * A user pushes a commit with `files` to `branch` (created from `from`, default the default branch).
   * Open PRs with that head get `pull_request_sync`/synchronized. Returns the new commit sha.
   */
  async pushToBranch(
    owner: string,
    name: string,
    branch: string,
    opts: { files: Record<string, string>; message?: string; from?: string; by?: string },
  ): Promise<string> {
    const repo = this.state.mustRepo(owner, name);
    const sha = await g.commitToBranch(repo.path, branch, {
      files: opts.files,
      message: opts.message ?? `Update ${branch}`,
      from: opts.from ?? `refs/heads/${repo.defaultBranch}`,
    });
    await this.syncRepo(repo, opts.by ?? owner);
    return sha;
  }

  // ───────────────────────── reading state (assertions) ─────────────────────────

  /** The issue or PR record (live object: read, do not mutate). */
  issue(owner: string, name: string, n: number): SimIssue {
    return this.mustIssue(this.state.mustRepo(owner, name), n);
  }

  /** Label names currently on an issue. */
  issueLabels(owner: string, name: string, n: number): string[] {
    const repo = this.state.mustRepo(owner, name);
    return labelsOf(repo, this.mustIssue(repo, n)).map((l) => l.name);
  }

  /** The repo's labels (live records). */
  labels(owner: string, name: string): SimLabel[] {
    return this.state.mustRepo(owner, name).labels;
  }

  /** Comments on an issue, oldest first. */
  comments(owner: string, name: string, n: number): SimComment[] {
    return this.state.mustRepo(owner, name).comments.filter((c) => c.issueNumber === n);
  }

  /** Commit statuses posted for a sha, oldest first. */
  statuses(owner: string, name: string, sha: string): SimStatus[] {
    return this.state.mustRepo(owner, name).statuses.filter((s) => s.sha === sha);
  }

  /** Actions secrets of a repo (name → value), as set through the API. */
  secrets(owner: string, name: string): Map<string, string> {
    return new Map([...this.state.mustRepo(owner, name).secrets].map(([k, v]) => [k, v.data]));
  }

  // ───────────────────────── webhooks and dispatches ─────────────────────────

  /** Adds an active JSON webhook (like the UI). `events` are subscription names (`issues`, `pull_request`, …). */
  addWebhook(owner: string, name: string, hook: { url: string; secret: string; events: string[] }): number {
    const repo = this.state.mustRepo(owner, name);
    return this.addHookRecord(repo, { ...hook, active: true, contentType: 'json' }).id;
  }

  /** Every delivery attempt so far (headers, exact body, answer status). */
  get deliveries(): readonly WebhookDelivery[] {
    return this.webhooks.deliveries;
  }

  /** Resolves when the delivery queue is empty. */
  async waitForDeliveries(): Promise<void> {
    await this.webhooks.idle();
  }

  /** Chaos: record deliveries but never send them (Gitea losing events while the receiver is down). */
  dropWebhooks(on: boolean): void {
    this.webhooks.setDrop(on);
  }

  /** Chaos: send every delivery twice — with the same X-Gitea-Delivery (`same-id`, default) or a new one like a replay (`new-id`). */
  duplicateWebhooks(on: boolean, mode: 'same-id' | 'new-id' = 'same-id'): void {
    this.webhooks.setDuplicate(on ? mode : 'off');
  }

  /** Registers a reaction to workflow dispatches (e.g. run the review Action). Runs after the 204 is sent. */
  onDispatch(handler: DispatchHandler): void {
    this.dispatchHandlers.push(handler);
  }

  // ───────────────────────── operations shared by the API handlers (internal) ─────────────────────────

  /**
   * @internal Picks up pushes made straight to the bare repo or over git HTTP: PR heads that moved get `synchronized`
   * (sent as `pusher`), and a PR whose head or base moved is checked again for conflicts, as Gitea's PR checker does
   * (asynchronously: `mergeable` stays false for `mergeCheckMs`).
   */
  async syncRepo(repo: SimRepo, pusher: string = repo.owner): Promise<void> {
    const branches = await g.listBranches(repo.path);
    repo.branchCount = branches.size;
    const open = repo.issues.filter((i) => i.pull && i.state === 'open' && !i.pull.merged && !i.deleted);
    for (const issue of open) {
      const pull = issue.pull!;
      const tip = branches.get(pull.headBranch);
      if (tip && tip !== pull.headSha) {
        pull.headSha = tip;
        pull.mergeBase = (await g.mergeBase(repo.path, tip, `refs/heads/${pull.baseBranch}`)) ?? pull.mergeBase;
        await g.updateRef(repo.path, `refs/pull/${issue.number}/head`, tip);
        issue.updatedAt = now();
        this.emit(repo, 'pull_request_sync', pullPayload(this.render, repo, issue, 'synchronized', pusher));
      }
      await this.checkPull(repo, issue, branches.get(pull.baseBranch));
    }
  }

  /** @internal The PR checker: conflict or not against the base's current tip (re-run only when head or base moved). */
  async checkPull(repo: SimRepo, issue: SimIssue, baseTip?: string): Promise<void> {
    const pull = issue.pull!;
    const base = baseTip ?? (await g.revParse(repo.path, `refs/heads/${pull.baseBranch}`));
    if (!base) return;
    const pair = `${pull.headSha}:${base}`;
    if (pair === pull.checkedPair) return;
    const first = pull.checkedPair === null;
    pull.checkedPair = pair;
    pull.conflict = await g.conflicts(repo.path, base, pull.headSha);
    pull.mergeBase = (await g.mergeBase(repo.path, pull.headSha, base)) ?? pull.mergeBase;
    // A new PR is checked before it is first shown (its creation answer says mergeable: true); a change is not.
    if (!first) pull.checkingUntil = Date.now() + this.mergeCheckMs;
  }

  /**
   * @internal POST /pulls/{index}/update: the base merged into the head branch (or the head rebased onto it) by
   * `sender`. 422 merged or closed, 500 when the head is not behind (Gitea's "HeadBranch … is up to date" is an
   * internal error), 409 on a conflict; then the head moves and `synchronized` is sent.
   */
  async updatePull(repo: SimRepo, issue: SimIssue, style: 'merge' | 'rebase', sender: string): Promise<void> {
    const pull = issue.pull;
    if (!pull) throw new SimHttpError(404, 'pull request does not exist');
    if (pull.merged || issue.state === 'closed') throw new SimHttpError(422, '');
    const baseSha = await g.revParse(repo.path, `refs/heads/${pull.baseBranch}`);
    if (!baseSha) throw new SimHttpError(404, `branch does not exist [name: ${pull.baseBranch}]`);
    if ((await g.mergeBase(repo.path, pull.headSha, baseSha)) === baseSha) throw new SimHttpError(500, '');
    const user = this.state.user(sender);
    const outcome = await g.updateBranchFromBase(repo.path, {
      headBranch: pull.headBranch,
      headSha: pull.headSha,
      baseSha,
      rebase: style === 'rebase',
      message: `Merge branch '${pull.baseBranch}' into ${pull.headBranch}`,
      author: { name: user.fullName || user.login, email: `${user.id}+${user.login.toLowerCase()}@noreply.localhost` },
    });
    if (!outcome.ok) {
      if (outcome.reason === 'conflict') throw new SimHttpError(409, `${style} failed because of conflict`);
      throw new SimHttpError(500, '');
    }
    await this.syncRepo(repo, sender);
  }

  /** @internal The `push` payload of a hook's test delivery ([G] routers/api/v1/repo/hook.go TestHook). */
  testPushPayload(repo: SimRepo, sha: string, info: g.CommitInfo | null, sender: string, ref = `refs/heads/${repo.defaultBranch}`): Record<string, unknown> {
    const base = this.rootUrl;
    const user = this.state.user(sender);
    const person = { name: info?.authorName ?? '', email: info?.authorEmail ?? '', username: '' };
    const commit = {
      id: sha,
      message: info?.message ?? '',
      url: `${base}/${repo.owner}/${repo.name}/commit/${sha}`,
      author: person,
      committer: person,
      verification: null,
      timestamp: info?.date ?? now(),
      // the test commit's file lists are nil slices: null (seen on 1.26.3)
      added: null,
      removed: null,
      modified: null,
    };
    return {
      ref,
      before: sha,
      after: sha,
      compare_url: `${base}/${repo.owner}/${repo.name}/compare/${sha}...${sha}`,
      commits: [commit],
      total_commits: 1,
      head_commit: commit,
      repository: this.render.repository(repo, sender),
      pusher: this.render.user(user),
      sender: this.render.user(user),
    };
  }

  /** A workflow run a runner finished (the sim's onDispatch handlers call this with the job's outcome). */
  completeRun(owner: string, name: string, runId: number, conclusion: 'success' | 'failure' | 'cancelled'): void {
    const run = this.state.mustRepo(owner, name).runs.find((r) => r.id === runId);
    if (!run) throw new Error(`giteaSim: no run ${runId} in ${owner}/${name}`);
    run.status = 'completed';
    run.conclusion = conclusion;
  }

  /** Runs of a repo, oldest first (live records). */
  runs(owner: string, name: string): SimRun[] {
    return this.state.mustRepo(owner, name).runs;
  }

  /** @internal */
  mustIssue(repo: SimRepo, n: number): SimIssue {
    const issue = issueOf(repo, n);
    if (!issue || issue.deleted) throw new SimHttpError(404, 'not found');
    return issue;
  }

  /** @internal The record even when deleted (endpoints Gitea answers 500 for a deleted issue use this). */
  anyIssue(repo: SimRepo, n: number): SimIssue | undefined {
    return issueOf(repo, n);
  }

  /** @internal */
  deleteIssueRecord(repo: SimRepo, issue: SimIssue, sender: string): void {
    issue.deleted = true;
    this.emitIssueEvent(repo, issue, 'deleted', sender);
  }

  /** @internal */
  addLabelRecord(repo: SimRepo, l: { name: string; color: string; description: string; exclusive?: boolean; isArchived?: boolean }): SimLabel {
    const label: SimLabel = {
      id: this.state.nextId('label'),
      name: l.name,
      color: l.color,
      description: l.description,
      exclusive: l.exclusive ?? false,
      isArchived: l.isArchived ?? false,
    };
    repo.labels.push(label);
    return label;
  }

  /** @internal */
  newIssue(repo: SimRepo, i: { title: string; body: string; user: string; pull: SimIssue['pull'] }): SimIssue {
    const stamp = now();
    const issue: SimIssue = {
      id: this.state.nextId('issue'),
      number: repo.issues.reduce((max, x) => Math.max(max, x.number), 0) + 1,
      user: i.user,
      title: i.title,
      body: i.body,
      state: 'open',
      labelIds: [],
      createdAt: stamp,
      updatedAt: stamp,
      closedAt: null,
      contentVersion: 0,
      pull: i.pull,
      timeline: [],
      deleted: false,
    };
    repo.issues.push(issue);
    return issue;
  }

  /** @internal Sets the label list; one `label_updated` when it changed. */
  setIssueLabels(repo: SimRepo, issue: SimIssue, ids: number[], sender: string): void {
    const next = [...new Set(ids)];
    const same = next.length === issue.labelIds.length && next.every((id) => issue.labelIds.includes(id));
    if (same) return;
    const stamp = now();
    // The timeline records each label added ("1") or removed (""), with who did it.
    for (const id of next.filter((x) => !issue.labelIds.includes(x)))
      this.addTimeline(issue, { type: 'label', body: '1', user: sender, labelId: id, createdAt: stamp });
    for (const id of issue.labelIds.filter((x) => !next.includes(x)))
      this.addTimeline(issue, { type: 'label', body: '', user: sender, labelId: id, createdAt: stamp });
    issue.labelIds = next;
    issue.updatedAt = stamp;
    this.emitIssueEvent(repo, issue, 'label_updated', sender);
  }

  private addTimeline(issue: SimIssue, e: Omit<SimIssue['timeline'][number], 'id'>): void {
    issue.timeline.push({ ...e, id: this.state.nextId('timeline') });
  }

  /** @internal */
  addComment(repo: SimRepo, issue: SimIssue, body: string, sender: string): SimComment {
    const stamp = now();
    const comment: SimComment = { id: this.state.nextId('comment'), issueNumber: issue.number, user: sender, body, createdAt: stamp, updatedAt: stamp };
    repo.comments.push(comment);
    this.addTimeline(issue, { type: 'comment', body, user: sender, labelId: null, createdAt: stamp });
    issue.updatedAt = stamp;
    this.emit(repo, issue.pull ? 'pull_request_comment' : 'issue_comment', commentPayload(this.render, repo, issue, comment, 'created', sender));
    return comment;
  }

  /** @internal Gitea only saves (and notifies) when the body changed. */
  editComment(repo: SimRepo, comment: SimComment, body: string, sender: string): void {
    if (comment.body === body) return;
    const from = comment.body;
    comment.body = body;
    comment.updatedAt = now();
    const issue = this.mustIssue(repo, comment.issueNumber);
    this.emit(
      repo,
      issue.pull ? 'pull_request_comment' : 'issue_comment',
      commentPayload(this.render, repo, issue, comment, 'edited', sender, { body: { from } }),
    );
  }

  /** @internal Title/body edits send `edited` with `changes`; state changes send closed/reopened. */
  editIssueRecord(repo: SimRepo, issue: SimIssue, edit: { title?: string; body?: string; state?: string }, sender: string): void {
    const stamp = now();
    if (edit.title !== undefined && edit.title !== issue.title) {
      const from = issue.title;
      issue.title = edit.title;
      issue.updatedAt = stamp;
      issue.contentVersion += 1;
      this.emitIssueEvent(repo, issue, 'edited', sender, { title: { from } });
    }
    if (edit.body !== undefined && edit.body !== issue.body) {
      const from = issue.body;
      issue.body = edit.body;
      issue.updatedAt = stamp;
      issue.contentVersion += 1;
      this.emitIssueEvent(repo, issue, 'edited', sender, { body: { from } });
    }
    if ((edit.state === 'closed' || edit.state === 'open') && edit.state !== issue.state) {
      if (issue.pull?.merged) throw new SimHttpError(412, 'cannot reopen a merged pull request');
      issue.state = edit.state;
      issue.closedAt = edit.state === 'closed' ? stamp : null;
      issue.updatedAt = stamp;
      // Gitea records who closed or reopened it ([G] models/issues/comment.go CommentTypeClose / CommentTypeReopen).
      this.addTimeline(issue, { type: edit.state === 'closed' ? 'close' : 'reopen', body: '', user: sender, labelId: null, createdAt: stamp });
      this.emitIssueEvent(repo, issue, edit.state === 'closed' ? 'closed' : 'reopened', sender);
    }
  }

  /** @internal POST /pulls: head must exist and differ from base; one open PR per head/base pair (else 409). */
  async createPull(repo: SimRepo, opt: { head: string; base: string; title: string; body: string }, sender: string): Promise<SimIssue> {
    const head = opt.head.includes(':') ? opt.head.slice(opt.head.indexOf(':') + 1) : opt.head;
    const base = opt.base || repo.defaultBranch;
    if (!opt.title) throw new SimHttpError(422, 'Title: Required');
    const headSha = await g.revParse(repo.path, `refs/heads/${head}`);
    const baseSha = await g.revParse(repo.path, `refs/heads/${base}`);
    if (!headSha || !baseSha) throw new SimHttpError(404, `branch does not exist [name: ${!headSha ? head : base}]`);
    const existing = repo.issues.find((i) => i.pull && i.state === 'open' && i.pull.headBranch === head && i.pull.baseBranch === base);
    if (existing) {
      throw new SimHttpError(
        409,
        `pull request already exists for these targets [id: ${existing.pull!.id}, issue_id: ${existing.id}, head_repo_id: ${repo.id}, base_repo_id: ${repo.id}, head_branch: ${head}, base_branch: ${base}]`,
      );
    }
    const mergeBase = await g.mergeBase(repo.path, headSha, baseSha);
    if (head === base || mergeBase === headSha) throw new SimHttpError(422, 'There are no changes between the head and the base');
    const issue = this.newIssue(repo, {
      title: opt.title,
      body: opt.body,
      user: sender,
      pull: {
        id: this.state.nextId('pull'),
        headBranch: head,
        baseBranch: base,
        headSha,
        mergeBase: mergeBase ?? baseSha,
        merged: false,
        mergedAt: null,
        mergedBy: null,
        mergeCommitSha: null,
        headDeleted: false,
        checkedPair: null,
        conflict: false,
        checkingUntil: 0,
      },
    });
    await g.updateRef(repo.path, `refs/pull/${issue.number}/head`, headSha);
    await this.checkPull(repo, issue, baseSha);
    this.emitIssueEvent(repo, issue, 'opened', sender);
    return issue;
  }

  /**
   * @internal POST /pulls/{index}/merge: 404 closed, 405 merged / WIP / style, 409 stale head_commit_id or conflict;
   * otherwise a real git merge, the base branch moves, and one `pull_request`/closed (merged) is sent.
   */
  async mergePull(
    repo: SimRepo,
    issue: SimIssue,
    opt: { style: string; headCommitId?: string; title?: string; message?: string; deleteBranch?: boolean },
    sender: string,
  ): Promise<void> {
    const pull = issue.pull;
    if (!pull) throw new SimHttpError(404, 'pull request does not exist');
    if (pull.merged) throw new SimHttpError(405, 'The PR is already merged');
    if (issue.state === 'closed') throw new SimHttpError(404, 'pull request is closed');
    if (/^(WIP:|\[WIP\])/i.test(issue.title)) throw new SimHttpError(405, 'The pull request is work in progress and cannot be merged');
    if (!['merge', 'squash', 'rebase', 'rebase-merge', 'fast-forward-only'].includes(opt.style)) {
      throw new SimHttpError(405, `merge style ${opt.style} is not allowed`);
    }
    // Gitea refuses a merge while the PR is being checked or its checker found a conflict, with the same words.
    if (!isMergeable(issue)) throw new SimHttpError(405, 'Please try again later');
    if (opt.headCommitId && opt.headCommitId !== pull.headSha) throw new SimHttpError(409, 'head out of date');
    const bot = this.state.user(sender);
    const defaultTitle =
      opt.style === 'squash'
        ? `${issue.title} (#${issue.number})`
        : `Merge pull request '${issue.title}' (#${issue.number}) from ${pull.headBranch} into ${pull.baseBranch}`;
    const message = [opt.title || defaultTitle, opt.message].filter((x) => x).join('\n\n');
    const outcome = await g.mergeInto(repo.path, pull.baseBranch, pull.headSha, {
      style: opt.style as g.GitMergeStyle,
      message,
      author: { name: bot.fullName || bot.login, email: `${bot.id}+${bot.login.toLowerCase()}@noreply.localhost` },
    });
    if (!outcome.ok) {
      throw new SimHttpError(outcome.reason === 'not-fast-forward' ? 405 : 409, outcome.reason === 'conflict' ? 'merge conflict' : outcome.detail);
    }
    const stamp = now();
    pull.merged = true;
    pull.mergedAt = stamp;
    pull.mergedBy = sender;
    pull.mergeCommitSha = outcome.sha;
    issue.state = 'closed';
    issue.closedAt = stamp;
    issue.updatedAt = stamp;
    if (opt.deleteBranch) {
      await g.deleteRef(repo.path, `refs/heads/${pull.headBranch}`);
      pull.headDeleted = true;
    }
    this.emit(repo, 'pull_request', pullPayload(this.render, repo, issue, 'closed', sender));
  }

  /** @internal */
  addHookRecord(
    repo: SimRepo,
    h: {
      url: string;
      secret: string;
      events: string[];
      active: boolean;
      contentType: 'json' | 'form';
      branchFilter?: string;
      authorizationHeader?: string;
      name?: string;
    },
  ) {
    const stamp = now();
    const hook = {
      id: this.state.nextId('hook'),
      name: h.name ?? '',
      url: h.url,
      secret: h.secret,
      contentType: h.contentType,
      events: h.events.length > 0 ? h.events : ['push'],
      active: h.active,
      authorizationHeader: h.authorizationHeader ?? '',
      branchFilter: h.branchFilter ?? '*',
      createdAt: stamp,
      updatedAt: stamp,
    };
    repo.hooks.push(hook);
    return hook;
  }

  /** @internal Records a dispatch (and its run) and runs the handlers once the answer has gone out. */
  recordDispatch(d: SimDispatch, run: SimRun): void {
    this.dispatches.push(d);
    const repo = this.state.mustRepo(d.owner, d.repo);
    repo.dispatches.push(d);
    repo.runs.push(run);
    for (const handler of this.dispatchHandlers) {
      const run: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => handler(d, this))
        .catch((err: unknown) => {
          this.responseViolations.push(`onDispatch handler failed: ${err instanceof Error ? err.message : String(err)}`);
        })
        .finally(() => this.pendingHandlers.delete(run));
      this.pendingHandlers.add(run);
    }
  }

  /** @internal */
  labelByName(repo: SimRepo, labelName: string): SimLabel {
    return repo.labels.find((l) => l.name === labelName) ?? this.addLabelRecord(repo, { name: labelName, color: 'ededed', description: '' });
  }

  private emitIssueEvent(repo: SimRepo, issue: SimIssue, action: string, sender: string, changes?: Changes): void {
    if (issue.pull) {
      const type = action === 'label_updated' || action === 'label_cleared' ? 'pull_request_label' : 'pull_request';
      this.emit(repo, type, pullPayload(this.render, repo, issue, action, sender, changes));
    } else {
      const type = action === 'label_updated' || action === 'label_cleared' ? 'issue_label' : 'issues';
      this.emit(repo, type, issuePayload(this.render, repo, issue, action, sender, changes));
    }
  }

  private emit(repo: SimRepo, eventType: string, payload: Record<string, unknown>): void {
    this.webhooks.emit(repo.hooks, eventType, payload);
  }
}

function fakeSha(seed: string): string {
  let h = 0;
  for (const ch of seed) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h.toString(16).padStart(8, '0').repeat(5);
}
