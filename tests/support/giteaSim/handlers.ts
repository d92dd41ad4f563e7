import type { RepoPermission } from '../../../src/gitea/types.js';
import * as g from './git.js';
import { SimHttpError, type GiteaSim } from './sim.js';
import { PERMISSION_RANK, issueOf, labelsOf, now, type SimRepo, type SimRunner } from './state.js';

export interface HandlerContext {
  sim: GiteaSim;
  /** Login of the authenticated user. */
  viewer: string;
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  /** The request URL as the server saw it (for `Link` headers). */
  url: URL;
}

export interface HandlerResult {
  status: number;
  /** JSON body (validated against the response schema). */
  body?: unknown;
  /** Non-JSON body (raw files). */
  raw?: Buffer;
  headers?: Record<string, string>;
}

type Handler = (ctx: HandlerContext) => HandlerResult | Promise<HandlerResult>;

const DEFAULT_PAGE = 30;
const MAX_PAGE = 50;

function repoOf(ctx: HandlerContext): SimRepo {
  const repo = ctx.sim.state.repo(ctx.params.owner ?? '', ctx.params.repo ?? '');
  // A repo the viewer cannot see is a 404, not a 403.
  if (!repo || ctx.sim.state.permission(repo, ctx.viewer) === 'none') throw new SimHttpError(404, "The target couldn't be found.");
  return repo;
}

function need(ctx: HandlerContext, repo: SimRepo, level: RepoPermission): void {
  if (PERMISSION_RANK[ctx.sim.state.permission(repo, ctx.viewer)] < PERMISSION_RANK[level]) {
    throw new SimHttpError(403, 'user should have specific permission or be a site admin');
  }
}

function index(ctx: HandlerContext): number {
  return Number(ctx.params.index);
}

/** An issue for the endpoints that break on a deleted one: Gitea answers 500 for its comments and timeline. */
function existingOrDeleted(ctx: HandlerContext, repo: SimRepo) {
  const issue = issueOf(repo, index(ctx));
  if (issue?.deleted) throw new SimHttpError(500, '');
  return ctx.sim.mustIssue(repo, index(ctx));
}

/**
 * The workflow folder Gitea reads: `.gitea/workflows` when it exists at that commit, otherwise `.github/workflows`,
 * never both ([G] modules/actions/workflows.go ListWorkflows).
 */
async function workflowDir(repo: SimRepo, sha: string): Promise<string> {
  return (await g.statPath(repo.path, sha, '.gitea/workflows'))?.type === 'tree' ? '.gitea/workflows' : '.github/workflows';
}

/** The runners a list endpoint shows: those registered at exactly that level ([G] models/actions/runner.go FindRunnerOptions). */
function runnersAt(ctx: HandlerContext, at: (r: SimRunner) => boolean): HandlerResult {
  const list = ctx.sim.state.runners.filter(at).map((x) => ctx.sim.render.runner(x));
  return { status: 200, body: { runners: list, total_count: list.length } };
}

/**
 * Gitea pagination: `page` (1-based), `limit` (default 30, clamped to 50), X-Total-Count, and `Link` (comma, no space)
 * except where Gitea sets none: labels, hooks, wiki pages and timelines send the total only (FACTS §0).
 */
function paginate(ctx: HandlerContext, items: unknown[], opts: { link?: boolean } = {}): HandlerResult {
  const limit = Math.min(Math.max(Number(ctx.query.limit ?? DEFAULT_PAGE) || DEFAULT_PAGE, 1), MAX_PAGE);
  const page = Math.max(Number(ctx.query.page ?? 1) || 1, 1);
  const last = Math.max(Math.ceil(items.length / limit), 1);
  const at = (p: number) => {
    const u = new URL(ctx.url.toString());
    u.searchParams.set('page', String(p));
    u.searchParams.set('limit', String(limit));
    return `<${u.toString()}>`;
  };
  const links: string[] = [];
  if (page < last) links.push(`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`);
  if (page > 1) links.push(`${at(1)}; rel="first"`, `${at(page - 1)}; rel="prev"`);
  const headers: Record<string, string> = { 'X-Total-Count': String(items.length), 'Access-Control-Expose-Headers': 'X-Total-Count, Link' };
  if (links.length > 0 && opts.link !== false) headers.Link = links.join(',');
  return { status: 200, body: items.slice((page - 1) * limit, page * limit), headers };
}

function body<T>(ctx: HandlerContext): T {
  return (ctx.body ?? {}) as T;
}

/** Below 1.23 the label list is `[]int64`: names fail JSON binding (422). Unknown names/ids are ignored, like Gitea. */
function resolveLabelIds(ctx: HandlerContext, repo: SimRepo, labels: unknown[]): number[] {
  const hasNames = labels.some((l) => typeof l === 'string' && !/^\d+$/.test(l));
  const hasIds = labels.some((l) => typeof l === 'number' || (typeof l === 'string' && /^\d+$/.test(l)));
  if (hasNames && versionBelow(ctx.sim.version, 1, 23)) throw new SimHttpError(422, 'Labels: label names need Gitea >= 1.23');
  if (hasNames && hasIds) throw new SimHttpError(400, 'mixing label ids and names is not supported');
  return labels.flatMap((l) => {
    const found = typeof l === 'string' && !/^\d+$/.test(l) ? repo.labels.find((x) => x.name === l) : repo.labels.find((x) => x.id === Number(l));
    return found ? [found.id] : [];
  });
}

function versionBelow(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  return Number(m[1]) < major || (Number(m[1]) === major && Number(m[2]) < minor);
}

async function refFor(repo: SimRepo, ref: string | undefined): Promise<string> {
  const name = ref && ref.length > 0 ? ref : repo.defaultBranch;
  const sha =
    (await g.revParse(repo.path, `refs/heads/${name}`)) ??
    (await g.revParse(repo.path, `refs/tags/${name}`)) ??
    (/^[0-9a-f]{7,40}$/.test(name) ? await g.revParse(repo.path, name) : null);
  if (!sha) throw new SimHttpError(404, `object does not exist [id: ${name}, rel_path: ]`);
  return sha;
}

function contentsEntry(ctx: HandlerContext, repo: SimRepo, ref: string, e: g.TreeEntry, lastCommit: g.CommitInfo | null, content?: Buffer) {
  const base = ctx.sim.url;
  const type = e.type === 'tree' ? 'dir' : e.type === 'commit' ? 'submodule' : e.mode === '120000' ? 'symlink' : 'file';
  const self = `${base}/api/v1/repos/${repo.owner}/${repo.name}/contents/${e.path}?ref=${ref}`;
  const gitUrl = `${base}/api/v1/repos/${repo.owner}/${repo.name}/git/${e.type === 'tree' ? 'trees' : 'blobs'}/${e.sha}`;
  const html = `${base}/${repo.owner}/${repo.name}/src/branch/${ref}/${e.path}`;
  return {
    name: e.path.split('/').pop() ?? e.path,
    path: e.path,
    sha: e.sha,
    last_commit_sha: lastCommit?.sha ?? '',
    last_committer_date: lastCommit?.date ?? '0001-01-01T00:00:00Z',
    last_author_date: lastCommit?.date ?? '0001-01-01T00:00:00Z',
    type,
    size: e.size,
    encoding: content ? 'base64' : null,
    content: content ? content.toString('base64') : null,
    target: null,
    url: self,
    html_url: html,
    git_url: gitUrl,
    download_url: type === 'file' ? `${base}/${repo.owner}/${repo.name}/raw/branch/${ref}/${e.path}` : null,
    submodule_git_url: null,
    _links: { self, git: gitUrl, html },
  };
}

export const handlers: Record<string, Handler> = {
  getVersion: (ctx) => ({ status: 200, body: { version: ctx.sim.version } }),

  userGetCurrent: (ctx) => ({ status: 200, body: ctx.sim.render.userByLogin(ctx.viewer) }),

  repoGet: (ctx) => ({ status: 200, body: ctx.sim.render.repository(repoOf(ctx), ctx.viewer) }),

  issueListIssues: (ctx) => {
    const repo = repoOf(ctx);
    const state = ctx.query.state ?? 'open';
    const wanted = (ctx.query.labels ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const since = ctx.query.since ? Date.parse(ctx.query.since) : null;
    const items = repo.issues
      .filter((i) => !i.deleted)
      .filter((i) => state === 'all' || i.state === state)
      .filter((i) => (ctx.query.type === 'issues' ? !i.pull : ctx.query.type === 'pulls' ? Boolean(i.pull) : true))
      .filter((i) => wanted.every((w) => labelsOf(repo, i).some((l) => l.name === w || String(l.id) === w)))
      .filter((i) => since === null || Date.parse(i.updatedAt) >= since)
      .sort((a, b) => b.number - a.number)
      .map((i) => ctx.sim.render.issue(repo, i));
    return paginate(ctx, items);
  },

  issueCreateIssue: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'read');
    const b = body<{ title: string; body?: string; labels?: number[]; closed?: boolean }>(ctx);
    // As a person's: `issues`/opened, then `label_updated` when it has labels (seen on 1.26.3).
    const issue = ctx.sim.openIssue(
      repo,
      { title: b.title, body: b.body ?? '', user: ctx.viewer },
      b.labels?.length ? resolveLabelIds(ctx, repo, b.labels) : [],
    );
    return { status: 201, body: ctx.sim.render.issue(repo, issue) };
  },

  issueGetIssue: (ctx) => {
    const repo = repoOf(ctx);
    return { status: 200, body: ctx.sim.render.issue(repo, ctx.sim.mustIssue(repo, index(ctx))) };
  },

  issueEditIssue: (ctx) => {
    const repo = repoOf(ctx);
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    if (issue.user !== ctx.viewer) need(ctx, repo, 'write');
    const b = body<{ title?: string; body?: string; state?: string; content_version?: number }>(ctx);
    if (b.content_version !== undefined && b.content_version !== issue.contentVersion) throw new SimHttpError(409, 'issue was changed by someone else');
    ctx.sim.editIssueRecord(repo, issue, b, ctx.viewer);
    return { status: 201, body: ctx.sim.render.issue(repo, issue) };
  },

  issueGetComments: (ctx) => {
    const repo = repoOf(ctx);
    const issue = existingOrDeleted(ctx, repo);
    const since = ctx.query.since ? Date.parse(ctx.query.since) : null;
    const list = repo.comments
      .filter((c) => c.issueNumber === issue.number)
      .filter((c) => since === null || Date.parse(c.updatedAt) >= since)
      .map((c) => ctx.sim.render.comment(repo, c));
    return { status: 200, body: list, headers: { 'X-Total-Count': String(list.length) } };
  },

  issueGetCommentsAndTimeline: (ctx) => {
    const repo = repoOf(ctx);
    const issue = existingOrDeleted(ctx, repo);
    return paginate(
      ctx,
      issue.timeline.map((e) => ctx.sim.render.timeline(repo, issue, e)),
      { link: false },
    );
  },

  issueDelete: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'admin');
    ctx.sim.deleteIssueRecord(repo, ctx.sim.mustIssue(repo, index(ctx)), ctx.viewer);
    return { status: 204 };
  },

  issueCreateComment: (ctx) => {
    const repo = repoOf(ctx);
    // Gitea binds the body first: `binding:"Required"` refuses an empty one before the issue is looked up.
    if (!body<{ body?: string }>(ctx).body) throw new SimHttpError(422, '[Body]: Required');
    const issue = existingOrDeleted(ctx, repo);
    const comment = ctx.sim.addComment(repo, issue, body<{ body: string }>(ctx).body, ctx.viewer);
    return { status: 201, body: ctx.sim.render.comment(repo, comment) };
  },

  issueGetComment: (ctx) => {
    const repo = repoOf(ctx);
    const comment = repo.comments.find((c) => c.id === Number(ctx.params.id));
    if (!comment) throw new SimHttpError(404, 'comment does not exist');
    return { status: 200, body: ctx.sim.render.comment(repo, comment) };
  },

  issueEditComment: (ctx) => {
    const repo = repoOf(ctx);
    const comment = repo.comments.find((c) => c.id === Number(ctx.params.id));
    if (!comment) throw new SimHttpError(404, 'comment does not exist');
    if (comment.user !== ctx.viewer) need(ctx, repo, 'write');
    ctx.sim.editComment(repo, comment, body<{ body: string }>(ctx).body, ctx.viewer);
    return { status: 200, body: ctx.sim.render.comment(repo, comment) };
  },

  issueListLabels: (ctx) => {
    const repo = repoOf(ctx);
    // Sorted by name, as Gitea lists them (two labels may share a name).
    const sorted = [...repo.labels].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id));
    return paginate(
      ctx,
      sorted.map((l) => ctx.sim.render.label(repo, l)),
      { link: false },
    );
  },

  issueCreateLabel: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const b = body<{ name: string; color: string; description?: string; exclusive?: boolean; is_archived?: boolean }>(ctx);
    const color = normalizeColor(b.color);
    if (!color) throw new SimHttpError(422, `Color: invalid color "${b.color}"`);
    if (!b.name.trim()) throw new SimHttpError(422, 'Name: Required');
    const label = ctx.sim.addLabelRecord(repo, { name: b.name, color, description: b.description ?? '', exclusive: b.exclusive, isArchived: b.is_archived });
    return { status: 201, body: ctx.sim.render.label(repo, label) };
  },

  issueGetLabels: (ctx) => {
    const repo = repoOf(ctx);
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    return { status: 200, body: labelsOf(repo, issue).map((l) => ctx.sim.render.label(repo, l)) };
  },

  issueAddLabel: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    const ids = resolveLabelIds(ctx, repo, body<{ labels?: unknown[] }>(ctx).labels ?? []);
    ctx.sim.setIssueLabels(repo, issue, [...issue.labelIds, ...ids], ctx.viewer);
    return { status: 200, body: labelsOf(repo, issue).map((l) => ctx.sim.render.label(repo, l)) };
  },

  issueReplaceLabels: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    ctx.sim.setIssueLabels(repo, issue, resolveLabelIds(ctx, repo, body<{ labels?: unknown[] }>(ctx).labels ?? []), ctx.viewer);
    return { status: 200, body: labelsOf(repo, issue).map((l) => ctx.sim.render.label(repo, l)) };
  },

  issueRemoveLabel: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    const id = Number(ctx.params.id);
    if (!repo.labels.some((l) => l.id === id)) throw new SimHttpError(422, `label does not exist [id: ${id}]`);
    ctx.sim.setIssueLabels(
      repo,
      issue,
      issue.labelIds.filter((x) => x !== id),
      ctx.viewer,
    );
    return { status: 204 };
  },

  repoListPullRequests: (ctx) => {
    const repo = repoOf(ctx);
    const state = ctx.query.state ?? 'open';
    const items = repo.issues
      .filter((i) => i.pull && !i.deleted && (state === 'all' || i.state === state))
      .filter((i) => !ctx.query.base_branch || i.pull!.baseBranch === ctx.query.base_branch)
      .sort((a, b) => b.number - a.number)
      .map((i) => ctx.sim.render.pullRequest(repo, i, ctx.viewer, { list: true }));
    return paginate(ctx, items);
  },

  repoCreatePullRequest: async (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'read');
    const b = body<{ head?: string; base?: string; title?: string; body?: string }>(ctx);
    const issue = await ctx.sim.createPull(repo, { head: b.head ?? '', base: b.base ?? '', title: b.title ?? '', body: b.body ?? '' }, ctx.viewer);
    return { status: 201, body: ctx.sim.render.pullRequest(repo, issue, ctx.viewer) };
  },

  repoGetPullRequest: (ctx) => {
    const repo = repoOf(ctx);
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    if (!issue.pull) throw new SimHttpError(404, 'pull request does not exist');
    return { status: 200, body: ctx.sim.render.pullRequest(repo, issue, ctx.viewer) };
  },

  repoGetPullRequestByBaseHead: (ctx) => {
    const repo = repoOf(ctx);
    if (versionBelow(ctx.sim.version, 1, 22)) throw new SimHttpError(404, "The target couldn't be found.");
    const head = (ctx.params.head ?? '').includes(':') ? ctx.params.head!.split(':').pop()! : ctx.params.head;
    // Gitea returns the first row that matches, in no particular order and whatever its state: an old closed or
    // merged PR of the same branches hides the open one ([G] models/issues/pull.go GetPullRequestByBaseHeadInfo).
    const issue = repo.issues.find((i) => i.pull && i.pull.baseBranch === ctx.params.base && i.pull.headBranch === head);
    if (!issue) throw new SimHttpError(404, 'pull request does not exist');
    return { status: 200, body: ctx.sim.render.pullRequest(repo, issue, ctx.viewer) };
  },

  repoEditPullRequest: (ctx) => {
    const repo = repoOf(ctx);
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    if (!issue.pull) throw new SimHttpError(404, 'pull request does not exist');
    if (issue.user !== ctx.viewer) need(ctx, repo, 'write');
    ctx.sim.editIssueRecord(repo, issue, body<{ title?: string; body?: string; state?: string }>(ctx), ctx.viewer);
    return { status: 201, body: ctx.sim.render.pullRequest(repo, issue, ctx.viewer) };
  },

  repoUpdatePullRequest: async (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    await ctx.sim.updatePull(repo, issue, ctx.query.style === 'rebase' ? 'rebase' : 'merge', ctx.viewer);
    return { status: 200 };
  },

  repoPullRequestIsMerged: (ctx) => {
    const repo = repoOf(ctx);
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    return { status: issue.pull?.merged ? 204 : 404 };
  },

  repoMergePullRequest: async (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const issue = ctx.sim.mustIssue(repo, index(ctx));
    const b = body<Record<string, unknown>>(ctx);
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    await ctx.sim.mergePull(
      repo,
      issue,
      {
        style: str(b.do) ?? str(b.Do) ?? '',
        headCommitId: str(b.head_commit_id),
        title: str(b.merge_title_field) ?? str(b.MergeTitleField),
        message: str(b.merge_message_field) ?? str(b.MergeMessageField),
        deleteBranch: b.delete_branch_after_merge === true,
      },
      ctx.viewer,
    );
    return { status: 200 };
  },

  repoCompareDiff: async (ctx) => {
    const repo = repoOf(ctx);
    const m = /^(.+?)\.\.\.(.+)$/.exec(ctx.params.basehead ?? '');
    if (!m) throw new SimHttpError(404, 'not found');
    const base = await refFor(repo, m[1]).catch(() => null);
    const head = await refFor(repo, m[2]).catch(() => null);
    if (!base || !head) throw new SimHttpError(404, 'not found');
    const shas = await g.commitsAhead(repo.path, base, head);
    const commits = [];
    for (const sha of shas) {
      const info = await g.commitInfo(repo.path, sha);
      const person = { name: info?.authorName ?? '', email: info?.authorEmail ?? '', date: info?.date ?? now() };
      commits.push({
        url: `${ctx.sim.rootUrl}/api/v1/repos/${repo.owner}/${repo.name}/git/commits/${sha}`,
        sha,
        created: info?.date ?? now(),
        html_url: `${ctx.sim.rootUrl}/${repo.owner}/${repo.name}/commit/${sha}`,
        commit: {
          url: `${ctx.sim.rootUrl}/api/v1/repos/${repo.owner}/${repo.name}/git/commits/${sha}`,
          author: person,
          committer: person,
          message: info?.message ?? '',
          tree: { url: '', sha: '', created: info?.date ?? now() },
          verification: null,
        },
        author: null,
        committer: null,
        parents: [],
        files: null,
        stats: null,
      });
    }
    return { status: 200, body: { commits, total_commits: commits.length } };
  },

  repoCreateStatus: async (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const sha = await g.revParse(repo.path, ctx.params.sha ?? '');
    if (!sha) throw new SimHttpError(404, `object does not exist [id: ${ctx.params.sha}]`);
    const b = body<{ state?: string; context?: string; description?: string; target_url?: string }>(ctx);
    const status = {
      id: ctx.sim.state.nextId('status'),
      sha,
      state: b.state ?? 'pending',
      context: b.context || 'default',
      description: b.description ?? '',
      targetUrl: b.target_url ?? '',
      creator: ctx.viewer,
      createdAt: now(),
    };
    repo.statuses.push(status);
    return { status: 201, body: ctx.sim.render.status(repo, status) };
  },

  repoListStatuses: async (ctx) => {
    const repo = repoOf(ctx);
    const sha = await g.revParse(repo.path, ctx.params.sha ?? '');
    const list = repo.statuses
      .filter((s) => s.sha === sha)
      .reverse()
      .map((s) => ctx.sim.render.status(repo, s));
    return paginate(ctx, list);
  },

  repoGetContents: async (ctx) => {
    const repo = repoOf(ctx);
    const path = (ctx.params.filepath ?? '').replace(/^\/+|\/+$/g, '');
    const ref = ctx.query.ref || repo.defaultBranch;
    const commit = await refFor(repo, ctx.query.ref);
    const entry = await g.statPath(repo.path, commit, path);
    if (!entry) throw new SimHttpError(404, `object does not exist [id: , rel_path: ${path}]`);
    if (entry.type === 'tree') {
      const children = await g.listDir(repo.path, commit, path);
      const list = [];
      for (const child of children) list.push(contentsEntry(ctx, repo, ref, child, await g.commitInfo(repo.path, commit, child.path)));
      return { status: 200, body: list };
    }
    const content = entry.type === 'blob' ? await g.readBlob(repo.path, entry.sha) : undefined;
    return { status: 200, body: contentsEntry(ctx, repo, ref, entry, await g.commitInfo(repo.path, commit, path), content) };
  },

  // GET /repos/{owner}/{repo}/contents: the root directory (the same listing as an empty filepath)
  repoGetContentsList: async (ctx) => {
    const repo = repoOf(ctx);
    const ref = ctx.query.ref || repo.defaultBranch;
    const commit = await refFor(repo, ctx.query.ref);
    const children = await g.listDir(repo.path, commit, '');
    const list = [];
    for (const child of children) list.push(contentsEntry(ctx, repo, ref, child, await g.commitInfo(repo.path, commit, child.path)));
    return { status: 200, body: list };
  },

  repoGetRawFile: async (ctx) => {
    const repo = repoOf(ctx);
    const path = (ctx.params.filepath ?? '').replace(/^\/+/, '');
    const commit = await refFor(repo, ctx.query.ref);
    const entry = await g.statPath(repo.path, commit, path);
    if (entry?.type !== 'blob') throw new SimHttpError(404, `object does not exist [id: , rel_path: ${path}]`);
    return { status: 200, raw: await g.readBlob(repo.path, entry.sha) };
  },

  repoGetWikiPages: (ctx) => {
    const repo = repoOf(ctx);
    if (!repo.wiki) throw new SimHttpError(404, 'wiki does not exist');
    const base = ctx.sim.url;
    const pages = [...repo.wiki].map(([title, p]) => ({
      title,
      html_url: `${base}/${repo.owner}/${repo.name}/wiki/${encodeURIComponent(title)}`,
      sub_url: encodeURIComponent(title),
      last_commit: { sha: p.sha, message: `Update ${title}` },
    }));
    return paginate(ctx, pages);
  },

  repoGetWikiPage: (ctx) => {
    const repo = repoOf(ctx);
    const title = ctx.params.pageName ?? '';
    const page = repo.wiki?.get(title);
    if (!page) throw new SimHttpError(404, 'wiki page does not exist');
    const base = ctx.sim.url;
    return {
      status: 200,
      body: {
        title,
        html_url: `${base}/${repo.owner}/${repo.name}/wiki/${encodeURIComponent(title)}`,
        sub_url: encodeURIComponent(title),
        last_commit: { sha: page.sha, message: `Update ${title}` },
        content_base64: Buffer.from(page.content).toString('base64'),
        commit_count: 1,
        sidebar: '',
        footer: '',
      },
    };
  },

  ActionsDispatchWorkflow: async (ctx) => {
    const repo = repoOf(ctx);
    if (versionBelow(ctx.sim.version, 1, 24)) throw new SimHttpError(404, "The target couldn't be found.");
    need(ctx, repo, 'write');
    const b = body<{ ref: string; inputs?: Record<string, unknown> }>(ctx);
    const refName = b.ref.replace(/^refs\/(heads|tags)\//, '');
    const sha = await refFor(repo, refName).catch(() => {
      throw new SimHttpError(404, `ref ${b.ref} not found`);
    });
    const file = ctx.params.workflow_id ?? '';
    const dir = await workflowDir(repo, sha);
    const entry = await g.statPath(repo.path, sha, `${dir}/${file}`);
    if (!entry) throw new SimHttpError(404, `workflow "${file}" doesn't exist`);
    const text = (await g.readBlob(repo.path, entry.sha)).toString('utf8');
    const inputs = Object.fromEntries(Object.entries(b.inputs ?? {}).map(([k, v]) => [k, String(v)]));
    const runId = ctx.sim.state.nextId('run');
    const runNumber = repo.runs.length + 1;
    const run = {
      id: runId,
      runNumber,
      workflow: file,
      displayTitle: runName(text, inputs) ?? (await g.commitInfo(repo.path, sha))?.message.split('\n')[0] ?? file,
      event: 'workflow_dispatch' as const,
      ref: b.ref,
      sha,
      status: 'queued' as const,
      conclusion: '' as const,
      createdAt: now(),
      actor: ctx.viewer,
    };
    ctx.sim.recordDispatch({ owner: repo.owner, repo: repo.name, workflow: file, ref: b.ref, sha, inputs, runId, runNumber, sender: ctx.viewer }, run);
    if (ctx.query.return_run_details === 'true') {
      // Links name the run by its id on 1.26 (models/actions/run.go Link).
      const runUrl = `${ctx.sim.rootUrl}/api/v1/repos/${repo.owner}/${repo.name}/actions/runs/${runId}`;
      return {
        status: 200,
        body: { workflow_run_id: runId, run_url: runUrl, html_url: `${ctx.sim.rootUrl}/${repo.owner}/${repo.name}/actions/runs/${runId}` },
      };
    }
    return { status: 204 };
  },

  getWorkflowRuns: (ctx) => {
    const repo = repoOf(ctx);
    const q = ctx.query;
    const list = [...repo.runs]
      .reverse()
      .filter((r) => (!q.event || r.event === q.event) && (!q.status || r.status === q.status) && (!q.head_sha || r.sha === q.head_sha))
      .filter((r) => !q.branch || r.ref.replace(/^refs\/heads\//, '') === q.branch)
      .map((r) => ctx.sim.render.run(repo, r, ctx.viewer));
    const limit = Math.min(Math.max(Number(q.limit ?? 30) || 30, 1), 50);
    const page = Math.max(Number(q.page ?? 1) || 1, 1);
    // X-Total-Count but no Link ([G] routers/api/v1/shared/action.go ListRuns: SetTotalCountHeader only)
    return {
      status: 200,
      body: { workflow_runs: list.slice((page - 1) * limit, page * limit), total_count: list.length },
      headers: { 'X-Total-Count': String(list.length), 'Access-Control-Expose-Headers': 'X-Total-Count' },
    };
  },

  ActionsListRepositoryWorkflows: async (ctx) => {
    const repo = repoOf(ctx);
    const sha = await refFor(repo, repo.defaultBranch);
    const dir = await workflowDir(repo, sha);
    const files = (await g.statPath(repo.path, sha, dir)) ? await g.listDir(repo.path, sha, dir) : [];
    const workflows = [];
    for (const f of files.filter((x) => /\.ya?ml$/.test(x.path))) {
      const file = f.path.split('/').pop()!;
      // The workflow's `name:`, else its file name ([G] services/convert ToActionWorkflow).
      const text = (await g.readBlob(repo.path, f.sha)).toString('utf8');
      const name = /^name:[ \t]*["']?([^"'\n]+?)["']?[ \t]*$/m.exec(text)?.[1] ?? file;
      workflows.push({
        id: file,
        name,
        path: f.path,
        state: 'active',
        created_at: repo.createdAt,
        updated_at: repo.createdAt,
        url: `${ctx.sim.rootUrl}/api/v1/repos/${repo.owner}/${repo.name}/actions/workflows/${file}`,
        html_url: `${ctx.sim.rootUrl}/${repo.owner}/${repo.name}/actions?workflow=${file}`,
        badge_url: `${ctx.sim.rootUrl}/${repo.owner}/${repo.name}/actions/workflows/${file}/badge.svg`,
        deleted_at: null,
      });
    }
    return { status: 200, body: { workflows, total_count: workflows.length } };
  },

  getRepoRunners: (ctx) => {
    const repo = repoOf(ctx);
    // reqOwner(), as for secrets (seen on 1.26.3: "user should be the owner of the repo").
    if (ctx.sim.state.permission(repo, ctx.viewer) !== 'owner') throw new SimHttpError(403, 'user should be the owner of the repo');
    const key = `${repo.owner}/${repo.name}`.toLowerCase();
    return runnersAt(ctx, (r) => r.scope.kind === 'repo' && r.scope.repo.toLowerCase() === key);
  },

  getUserRunners: (ctx) => runnersAt(ctx, (r) => r.scope.kind === 'user' && r.scope.owner.toLowerCase() === ctx.viewer.toLowerCase()),

  getOrgRunners: (ctx) => {
    const org = ctx.params.org ?? '';
    const anyRepo = [...ctx.sim.state.repos.values()].find((r) => r.owner.toLowerCase() === org.toLowerCase());
    if (!anyRepo || ctx.sim.state.permission(anyRepo, ctx.viewer) !== 'owner') throw new SimHttpError(403, 'user should be an owner of the organization');
    return runnersAt(ctx, (r) => r.scope.kind === 'org' && r.scope.owner.toLowerCase() === org.toLowerCase());
  },

  getAdminRunners: (ctx) => {
    if (!ctx.sim.state.user(ctx.viewer).isAdmin) throw new SimHttpError(403, 'reqSiteAdmin');
    return runnersAt(ctx, () => true);
  },

  createCurrentUserRepo: async (ctx) => {
    const b = body<{ name: string; private?: boolean; auto_init?: boolean; default_branch?: string; description?: string }>(ctx);
    if (!b.name || !/^[A-Za-z0-9_.-]+$/.test(b.name)) throw new SimHttpError(422, 'Name: Required');
    if (ctx.sim.state.repo(ctx.viewer, b.name)) throw new SimHttpError(409, 'The repository with the same name already exists.');
    await ctx.sim.createRepo(ctx.viewer, b.name, { private: b.private, defaultBranch: b.default_branch || 'main', ownerIsOrg: false, empty: !b.auto_init });
    return { status: 201, body: ctx.sim.render.repository(ctx.sim.state.mustRepo(ctx.viewer, b.name), ctx.viewer) };
  },

  repoChangeFiles: async (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const b = body<{
      branch?: string;
      new_branch?: string;
      message?: string;
      files: { operation: 'create' | 'update' | 'delete'; path: string; content?: string; sha?: string }[];
    }>(ctx);
    const base = b.branch || repo.defaultBranch;
    const baseSha = await g.revParse(repo.path, `refs/heads/${base}`);
    const files = [];
    for (const f of b.files) {
      const existing = baseSha ? await g.statPath(repo.path, baseSha, f.path) : null;
      if (f.operation === 'create' && existing) throw new SimHttpError(422, `repository file already exists [path: ${f.path}]`);
      if (f.operation !== 'create' && !existing) throw new SimHttpError(404, `repository file does not exist [path: ${f.path}]`);
      if (f.operation === 'update' && f.sha && existing && existing.sha !== f.sha)
        throw new SimHttpError(422, `sha does not match [given: ${f.sha}, expected: ${existing.sha}]`);
      files.push({ operation: f.operation, path: f.path, content: f.content === undefined ? undefined : Buffer.from(f.content, 'base64').toString('utf8') });
    }
    const user = ctx.sim.state.user(ctx.viewer);
    const author = { name: user.fullName || user.login, email: `${user.id}+${user.login.toLowerCase()}@noreply.localhost` };
    const target = b.new_branch || base;
    const sha = await g.changeFilesOnBranch(repo.path, { branch: target, from: `refs/heads/${base}`, message: b.message || 'Update files', author, files });
    await ctx.sim.syncRepo(repo, ctx.viewer);
    const info = await g.commitInfo(repo.path, sha);
    const api = `${ctx.sim.rootUrl}/api/v1/repos/${repo.owner}/${repo.name}`;
    const person = { name: author.name, email: author.email, date: info?.date ?? now() };
    const out = [];
    for (const f of files) {
      const entry = f.operation === 'delete' ? null : await g.statPath(repo.path, sha, f.path);
      out.push(entry ? contentsEntry(ctx, repo, target, entry, info, await g.readBlob(repo.path, entry.sha)) : null);
    }
    return {
      status: 201,
      body: {
        files: out,
        commit: {
          url: `${api}/git/commits/${sha}`,
          sha,
          created: info?.date ?? now(),
          html_url: `${ctx.sim.rootUrl}/${repo.owner}/${repo.name}/commit/${sha}`,
          author: person,
          committer: person,
          parents: baseSha ? [{ url: `${api}/git/commits/${baseSha}`, sha: baseSha, created: info?.date ?? now() }] : [],
          message: info?.message ?? '',
          tree: null,
        },
        verification: { verified: false, reason: 'gpg.error.not_signed_commit', signature: '', signer: null, payload: '' },
      },
    };
  },

  repoGetRepoPermissions: (ctx) => {
    const repo = repoOf(ctx);
    const login = ctx.params.collaborator ?? '';
    if (login !== ctx.viewer) need(ctx, repo, 'admin');
    const user = ctx.sim.state.users.get(login);
    if (!user) throw new SimHttpError(404, `user does not exist [uid: 0, name: ${login}]`);
    const permission = ctx.sim.state.permission(repo, login);
    // role_name equals permission (services/convert/user.go), as seen on 1.26.3: "owner"/"owner".
    return { status: 200, body: { permission, role_name: permission, user: ctx.sim.render.user(user) } };
  },

  repoListHooks: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'admin');
    return paginate(
      ctx,
      repo.hooks.map((h) => ctx.sim.render.hook(h)),
      { link: false },
    );
  },

  repoCreateHook: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'admin');
    const b = body<{
      type: string;
      name?: string;
      config: Record<string, string>;
      events?: string[];
      active?: boolean;
      branch_filter?: string;
      authorization_header?: string;
    }>(ctx);
    if (!b.config.url) throw new SimHttpError(422, 'Missing config option: url');
    if (b.config.content_type !== 'json' && b.config.content_type !== 'form') throw new SimHttpError(422, 'Invalid content type');
    if (b.type !== 'gitea') throw new SimHttpError(422, `hook type ${b.type} is not simulated`);
    const hook = ctx.sim.addHookRecord(repo, {
      url: b.config.url,
      secret: b.config.secret ?? '',
      contentType: b.config.content_type,
      events: b.events ?? [],
      active: b.active ?? false,
      branchFilter: b.branch_filter,
      authorizationHeader: b.authorization_header,
      name: b.name,
    });
    return { status: 201, body: ctx.sim.render.hook(hook) };
  },

  repoEditHook: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'admin');
    const hook = repo.hooks.find((h) => h.id === Number(ctx.params.id));
    if (!hook) throw new SimHttpError(404, 'not found');
    // Gitea's editHook reads only config.url and config.content_type: a secret sent here is ignored (FACTS §0).
    // The event list is replaced (empty means push); active and name only when sent.
    const b = body<{
      name?: string;
      config?: Record<string, string>;
      events?: string[];
      active?: boolean;
      branch_filter?: string;
      authorization_header?: string;
    }>(ctx);
    if (b.config) {
      const ct = b.config.content_type;
      if (ct !== undefined && ct !== 'json' && ct !== 'form') throw new SimHttpError(422, 'Invalid content type');
      if (b.config.url !== undefined) hook.url = b.config.url;
      if (ct !== undefined) hook.contentType = ct;
    }
    if (b.name !== undefined) hook.name = b.name;
    hook.events = b.events && b.events.length > 0 ? b.events : ['push'];
    hook.branchFilter = b.branch_filter ?? '';
    hook.authorizationHeader = b.authorization_header ?? '';
    if (b.active !== undefined) hook.active = b.active;
    hook.updatedAt = now();
    return { status: 200, body: ctx.sim.render.hook(hook) };
  },

  repoDeleteHook: (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'admin');
    const at = repo.hooks.findIndex((h) => h.id === Number(ctx.params.id));
    if (at < 0) throw new SimHttpError(404, 'not found');
    repo.hooks.splice(at, 1);
    return { status: 204 };
  },

  // Gitea sends the hook a `push` of `ref` (default: the default branch) built from the default branch's head commit,
  // through PrepareWebhook: only to an active hook subscribed to push whose branch filter lets the ref in (1.26.3).
  repoTestHook: async (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'admin');
    const hook = repo.hooks.find((h) => h.id === Number(ctx.params.id));
    if (!hook) throw new SimHttpError(404, 'not found');
    const sha = await refFor(repo, repo.defaultBranch);
    const info = await g.commitInfo(repo.path, sha);
    const ref = ctx.query.ref || `refs/heads/${repo.defaultBranch}`;
    if (hook.active && hook.events.includes('push') && branchFilterAllows(hook.branchFilter, ref)) {
      ctx.sim.webhooks.emitTo(hook, 'push', ctx.sim.testPushPayload(repo, sha, info, ctx.viewer, ref));
    }
    return { status: 204 };
  },

  repoCreateFile: (ctx) => changeFile(ctx, 'create'),

  repoUpdateFile: (ctx) => changeFile(ctx, 'update'),

  repoDeleteFile: async (ctx) => {
    const repo = repoOf(ctx);
    need(ctx, repo, 'write');
    const path = (ctx.params.filepath ?? '').replace(/^\/+|\/+$/g, '');
    const b = body<{ sha: string; message?: string; branch?: string }>(ctx);
    const branch = b.branch || repo.defaultBranch;
    const baseSha = await g.revParse(repo.path, `refs/heads/${branch}`);
    const existing = baseSha ? await g.statPath(repo.path, baseSha, path) : null;
    if (!existing) throw new SimHttpError(404, `repository file does not exist [path: ${path}]`);
    if (existing.sha !== b.sha) throw new SimHttpError(422, `sha does not match [given: ${b.sha}, expected: ${existing.sha}]`);
    const user = ctx.sim.state.user(ctx.viewer);
    const author = { name: user.fullName || user.login, email: `${user.id}+${user.login.toLowerCase()}@noreply.localhost` };
    const sha = await g.changeFilesOnBranch(repo.path, {
      branch,
      from: `refs/heads/${branch}`,
      message: b.message || `Delete ${path}`,
      author,
      files: [{ operation: 'delete', path }],
    });
    await ctx.sim.syncRepo(repo, ctx.viewer);
    const info = await g.commitInfo(repo.path, sha);
    return {
      status: 200,
      body: {
        content: null,
        commit: { sha, message: info?.message ?? '', url: `${ctx.sim.rootUrl}/api/v1/repos/${repo.owner}/${repo.name}/git/commits/${sha}` },
        verification: null,
      },
    };
  },

  updateRepoSecret: (ctx) => {
    const repo = repoOf(ctx);
    // reqOwner(): the owning user, a site admin or an org Owners-team member; an admin collaborator gets 403 (FACTS §0).
    if (ctx.sim.state.permission(repo, ctx.viewer) !== 'owner') throw new SimHttpError(403, 'user should be the owner of the repo');
    const name = ctx.params.secretname ?? '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || /^(GITEA_|GITHUB_)/i.test(name)) throw new SimHttpError(400, `invalid secret name ${name}`);
    const b = body<{ data: string; description?: string }>(ctx);
    const key = name.toUpperCase();
    const existed = repo.secrets.has(key);
    repo.secrets.set(key, { data: b.data, description: b.description ?? '' });
    return { status: existed ? 204 : 201 };
  },

  repoGetBranch: async (ctx) => {
    const repo = repoOf(ctx);
    const name = ctx.params.branch ?? '';
    const sha = await g.revParse(repo.path, `refs/heads/${name}`);
    if (!sha) throw new SimHttpError(404, `branch does not exist [name: ${name}]`);
    const info = await g.commitInfo(repo.path, sha);
    const perm = PERMISSION_RANK[ctx.sim.state.permission(repo, ctx.viewer)];
    const person = { name: info?.authorName ?? '', email: info?.authorEmail ?? '', username: '' };
    return {
      status: 200,
      body: {
        name,
        commit: {
          id: sha,
          message: info?.message ?? '',
          url: `${ctx.sim.url}/${repo.owner}/${repo.name}/commit/${sha}`,
          author: person,
          committer: person,
          verification: null,
          timestamp: info?.date ?? now(),
          added: null,
          removed: null,
          modified: null,
        },
        protected: false,
        required_approvals: 0,
        enable_status_check: false,
        status_check_contexts: [],
        user_can_push: perm >= PERMISSION_RANK.write,
        user_can_merge: perm >= PERMISSION_RANK.write,
        effective_branch_protection_name: '',
      },
    };
  },
};

/**
 * POST (create) / PUT (update) /repos/{owner}/{repo}/contents/{filepath}, as Gitea's ChangeRepoFiles: one real commit by
 * the viewer on `branch` (default branch when absent) or on `new_branch` started from it. 422 when creating a file that
 * exists, when updating without the current blob `sha` or with a stale one; PUT without `sha` creates (UpdateFileOptions).
 */
async function changeFile(ctx: HandlerContext, op: 'create' | 'update'): Promise<HandlerResult> {
  const repo = repoOf(ctx);
  need(ctx, repo, 'write');
  const path = (ctx.params.filepath ?? '').replace(/^\/+|\/+$/g, '');
  const b = body<{ content: string; message?: string; branch?: string; new_branch?: string; sha?: string; force_push?: boolean }>(ctx);
  if (!path || path.split('/').some((part) => part === '' || part === '.' || part === '..' || part === '.git')) {
    throw new SimHttpError(422, `path contains a malformed path component [path: ${path}]`);
  }
  const base = b.branch || repo.defaultBranch;
  const baseSha = await g.revParse(repo.path, `refs/heads/${base}`);
  if (!baseSha) throw new SimHttpError(404, `branch does not exist [name: ${base}]`);
  const target = b.new_branch || base;
  if (b.new_branch && !b.force_push && (await g.revParse(repo.path, `refs/heads/${b.new_branch}`))) {
    throw new SimHttpError(422, `branch already exists [name: ${b.new_branch}]`);
  }
  const existing = await g.statPath(repo.path, baseSha, path);
  if (existing?.type === 'tree') throw new SimHttpError(422, `a directory exists where a file was expected [path: ${path}]`);
  if (op === 'create' || !b.sha) {
    if (existing)
      throw new SimHttpError(
        422,
        op === 'create' ? `repository file already exists [path: ${path}]` : 'a SHA or commit ID must be provided when updating a file',
      );
  } else {
    if (!existing) throw new SimHttpError(404, `repository file does not exist [path: ${path}]`);
    if (existing.sha !== b.sha) throw new SimHttpError(422, `sha does not match [given: ${b.sha}, expected: ${existing.sha}]`);
  }
  const user = ctx.sim.state.user(ctx.viewer);
  const author = { name: user.fullName || user.login, email: `${user.id}+${user.login.toLowerCase()}@noreply.localhost` };
  const message = b.message || `${existing ? 'Update' : 'Add'} ${path}`;
  const content = Buffer.from(b.content, 'base64').toString('utf8');
  const sha = await g.commitToBranch(repo.path, target, { files: { [path]: content }, message, from: baseSha, author });
  await ctx.sim.syncRepo(repo, ctx.viewer);
  const entry = await g.statPath(repo.path, sha, path);
  const info = await g.commitInfo(repo.path, sha);
  const api = `${ctx.sim.url}/api/v1/repos/${repo.owner}/${repo.name}`;
  const person = { name: author.name, email: author.email, date: info?.date ?? now() };
  return {
    status: op === 'create' ? 201 : 200,
    body: {
      content: entry ? contentsEntry(ctx, repo, target, entry, info, await g.readBlob(repo.path, entry.sha)) : null,
      commit: {
        url: `${api}/git/commits/${sha}`,
        sha,
        created: info?.date ?? now(),
        html_url: `${ctx.sim.url}/${repo.owner}/${repo.name}/commit/${sha}`,
        author: person,
        committer: person,
        parents: [{ url: `${api}/git/commits/${baseSha}`, sha: baseSha, created: info?.date ?? now() }],
        message: info?.message ?? message,
        tree: null,
      },
      verification: { verified: false, reason: 'gpg.error.not_signed_commit', signature: '', signer: null, payload: '' },
    },
  };
}

/** Gitea's branch filter (a glob over the branch name, [G] services/webhook checkBranchFilter): empty or `*` lets all in. */
function branchFilterAllows(filter: string, ref: string): boolean {
  if (filter === '' || filter === '*') return true;
  const branch = ref.replace(/^refs\/heads\//, '');
  const re = new RegExp(
    `^${filter
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(branch) || re.test(ref);
}

/** A workflow's `run-name:` with `${{ inputs.x }}` filled in (what Gitea shows as the run's title), or null. */
export function runName(workflowText: string, inputs: Record<string, string>): string | null {
  const m = /^run-name:[ \t]*(.+)$/m.exec(workflowText);
  if (!m) return null;
  const raw = m[1]!.trim().replace(/^(['"])(.*)\1$/, '$2');
  return raw.replace(/\$\{\{\s*(?:inputs|github\.event\.inputs)\.([\w-]+)\s*\}\}/g, (_, k: string) => inputs[k] ?? '');
}

/** `#rrggbb`, `rrggbb` or 3-digit → `rrggbb` (Gitea returns colours without '#'); null when invalid. */
export function normalizeColor(color: string): string | null {
  const c = color.replace(/^#/, '').toLowerCase();
  if (/^[0-9a-f]{6}$/.test(c)) return c;
  if (/^[0-9a-f]{3}$/.test(c))
    return c
      .split('')
      .map((x) => x + x)
      .join('');
  return null;
}
