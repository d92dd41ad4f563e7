import type { Logger } from '../shared/log.js';
import { currentItem, ITEM_HEADER } from './attribution.js';
import { GiteaError, giteaMessage, isRetryableStatus, orNullIfNotFound } from './errors.js';
import type {
  ActionRunner,
  ActionWorkflow,
  ActionWorkflowRun,
  Branch,
  ChangeFileOperation,
  CreateRepoOption,
  FilesResponse,
  OrganizationPermissions,
  RunDetails,
  TimelineComment,
  Comment,
  CommitStatus,
  CreateLabelOption,
  CreatePullRequestOption,
  ContentsResponse,
  EditIssueOption,
  EditPullRequestOption,
  Hook,
  Issue,
  IssueState,
  Label,
  MergePullRequestOption,
  MergeStyle,
  PullRequest,
  RepoCollaboratorPermission,
  RepoContents,
  RepoPermission,
  Repository,
  ServerVersion,
  User,
  WikiPage,
  WikiPageMetaData,
  CreateStatusOption,
  EditHookOption,
  FileResponse,
} from './types.js';

/**
 * The Gitea REST client: one method per endpoint Damascus calls (Gitea 1.26.3 swagger), token auth,
 * retries with exponential backoff for 5xx / 429 / network errors / timeouts — for requests that are safe to
 * repeat only: a POST whose answer was lost may have taken effect, so its caller looks before sending it
 * again (sendOnce.ts). Lists are paged by number until `X-Total-Count` is reached or a page comes back short
 * (labels, hooks, wiki pages and timelines send no `Link` header). Every failure is a GiteaError carrying
 * status, method and API path (never the token).
 */

export interface GiteaClientOptions {
  /** Server root, e.g. `https://git.example.com` (without `/api/v1`). */
  baseUrl: string;
  token: string;
  /** Per-attempt timeout (default 30 000 ms). */
  timeoutMs?: number;
  /** Retries after the first attempt for retryable failures (default 3). */
  retries?: number;
  /** First backoff delay; doubles each retry (default 500 ms). */
  minBackoffMs?: number;
  log?: Logger;
}

type Query = Record<string, string | number | boolean | undefined>;

interface CallOptions {
  query?: Query;
  body?: unknown;
  /** A POST that does the same when sent twice (adding a label): retried like a GET. */
  idempotent?: boolean;
}

/** Methods that change nothing more when repeated; a POST is retried only when its caller says so. */
const REPEATABLE = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH']);

interface CallResult<T> {
  status: number;
  data: T;
  headers: Headers;
}

/** Gitea's page size ceiling (`MAX_RESPONSE_ITEMS`); larger limits are silently clamped. */
export const PAGE_LIMIT = 50;

/** Endpoints Damascus needs that older servers lack: [minimum version, what breaks]. */
export const VERSION_REQUIREMENTS: ReadonlyArray<{ min: string; feature: string }> = [
  { min: '1.23.0', feature: 'label names in POST/PUT /repos/{owner}/{repo}/issues/{index}/labels need Gitea ≥ 1.23' },
  { min: '1.24.0', feature: 'POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches (review dispatch) needs Gitea ≥ 1.24' },
];

export type GiteaClient = ReturnType<typeof createGiteaClient>;

export function createGiteaClient(opts: GiteaClientOptions) {
  const apiRoot = `${opts.baseUrl.replace(/\/+$/, '')}/api/v1`;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const retries = opts.retries ?? 3;
  const minBackoffMs = opts.minBackoffMs ?? 500;
  const log = opts.log;

  async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<CallResult<T>> {
    const url = new URL(apiRoot + path);
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { Authorization: `token ${opts.token}`, Accept: 'application/json' };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    const item = currentItem();
    if (item !== undefined) headers[ITEM_HEADER] = String(item);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const maxRetries = REPEATABLE.has(method) || options.idempotent ? retries : 0;

    for (let attempt = 0; ; attempt++) {
      let failure: GiteaError;
      try {
        const res = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs) });
        const data = await readBody(res);
        log?.debug({ method, path, status: res.status, attempt }, 'gitea call');
        if (res.ok) return { status: res.status, data: data as T, headers: res.headers };
        failure = new GiteaError({ status: res.status, method, path, body: data, detail: giteaMessage(data) });
      } catch (err) {
        const detail = err instanceof Error && err.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : `network error: ${errorText(err)}`;
        log?.debug({ method, path, status: null, attempt }, 'gitea call failed');
        failure = new GiteaError({ status: null, method, path, detail, cause: err });
      }
      if (!isRetryableStatus(failure.status) || attempt >= maxRetries) throw failure;
      await sleep(minBackoffMs * 2 ** attempt);
    }
  }

  /**
   * Every page of a list endpoint, `limit=50` each. Gitea sends `X-Total-Count` on every list but `Link` only on
   * some (not on labels, hooks, wiki pages or timelines), so pages are counted, not followed: the walk ends at
   * the total or an empty page, or, when no total is sent, at a short page that `Link` names no successor of.
   */
  async function listAll<T>(path: string, query: Query = {}): Promise<T[]> {
    const all: T[] = [];
    for (let page = 1; ; page++) {
      const { data, headers } = await call<T[] | null>('GET', path, { query: { ...query, limit: PAGE_LIMIT, page } });
      const rows = data ?? [];
      all.push(...rows);
      if (rows.length === 0) return all;
      // The total, when sent, decides (a server with a smaller MAX_RESPONSE_ITEMS sends shorter pages).
      const total = Number(headers.get('x-total-count') ?? Number.NaN);
      if (Number.isFinite(total) ? all.length >= total : rows.length < PAGE_LIMIT && nextLink(headers.get('link')) === null) return all;
    }
  }

  const repoPath = (o: string, r: string) => `/repos/${enc(o)}/${enc(r)}`;

  /** A runners endpoint's `{runners, total_count}` (the spec declares no paging for these; Gitea's first page is 30 or more). */
  async function runnerList(path: string): Promise<ActionRunner[]> {
    return (await call<{ runners: ActionRunner[] | null }>('GET', path)).data.runners ?? [];
  }

  const client = {
    /** GET /version */
    async getVersion(): Promise<ServerVersion> {
      return (await call<ServerVersion>('GET', '/version')).data;
    },

    /** GET /version, compared with VERSION_REQUIREMENTS: `missing` lists what this server lacks, in words. */
    async checkServer(): Promise<{ version: string; missing: string[] }> {
      const { version } = await client.getVersion();
      return { version, missing: missingFeatures(version) };
    },

    /** GET /user — the bot account the token belongs to. */
    async getCurrentUser(): Promise<User> {
      return (await call<User>('GET', '/user')).data;
    },

    /** GET /repos/{owner}/{repo} */
    async getRepo(o: string, r: string): Promise<Repository> {
      return (await call<Repository>('GET', repoPath(o, r))).data;
    },

    /** GET /repos/{owner}/{repo}/issues, all pages. `labels` are names (comma-joined for Gitea). */
    async listIssues(
      o: string,
      r: string,
      q: { state?: IssueState | 'all'; labels?: string[]; type?: 'issues' | 'pulls'; since?: string } = {},
    ): Promise<Issue[]> {
      return listAll<Issue>(`${repoPath(o, r)}/issues`, {
        state: q.state,
        labels: q.labels && q.labels.length > 0 ? q.labels.join(',') : undefined,
        type: q.type,
        since: q.since,
      });
    },

    /** GET /repos/{owner}/{repo}/issues/{index} */
    async getIssue(o: string, r: string, n: number): Promise<Issue> {
      return (await call<Issue>('GET', `${repoPath(o, r)}/issues/${n}`)).data;
    },

    /** PATCH /repos/{owner}/{repo}/issues/{index} (Gitea answers 201). */
    async editIssue(o: string, r: string, n: number, edit: EditIssueOption): Promise<Issue> {
      return (await call<Issue>('PATCH', `${repoPath(o, r)}/issues/${n}`, { body: edit })).data;
    },

    /** GET /repos/{owner}/{repo}/issues/{index}/comments — not paginated by Gitea: one call returns all (since: updated since). */
    async listIssueComments(o: string, r: string, n: number, q: { since?: string } = {}): Promise<Comment[]> {
      return (await call<Comment[] | null>('GET', `${repoPath(o, r)}/issues/${n}/comments`, { query: { since: q.since } })).data ?? [];
    },

    /** POST /repos/{owner}/{repo}/issues/{index}/comments */
    async createIssueComment(o: string, r: string, n: number, body: string): Promise<Comment> {
      return (await call<Comment>('POST', `${repoPath(o, r)}/issues/${n}/comments`, { body: { body } })).data;
    },

    /** GET /repos/{owner}/{repo}/issues/comments/{id}: 404 once deleted, and for a comment of another repository. */
    async getIssueComment(o: string, r: string, commentId: number): Promise<Comment> {
      return (await call<Comment>('GET', `${repoPath(o, r)}/issues/comments/${commentId}`)).data;
    },

    /** PATCH /repos/{owner}/{repo}/issues/comments/{id} */
    async editIssueComment(o: string, r: string, commentId: number, body: string): Promise<Comment> {
      return (await call<Comment>('PATCH', `${repoPath(o, r)}/issues/comments/${commentId}`, { body: { body } })).data;
    },

    /** GET /repos/{owner}/{repo}/labels, all pages. */
    async listRepoLabels(o: string, r: string): Promise<Label[]> {
      return listAll<Label>(`${repoPath(o, r)}/labels`);
    },

    /** POST /repos/{owner}/{repo}/labels */
    async createRepoLabel(o: string, r: string, label: CreateLabelOption): Promise<Label> {
      return (await call<Label>('POST', `${repoPath(o, r)}/labels`, { body: label })).data;
    },

    /** The repo label with this name, created only if no label of that name exists yet. */
    async ensureRepoLabel(o: string, r: string, label: CreateLabelOption): Promise<Label> {
      const existing = (await client.listRepoLabels(o, r)).find((l) => l.name === label.name);
      return existing ?? client.createRepoLabel(o, r, label);
    },

    /** GET /repos/{owner}/{repo}/issues/{index}/labels */
    async getIssueLabels(o: string, r: string, n: number): Promise<Label[]> {
      return (await call<Label[] | null>('GET', `${repoPath(o, r)}/issues/${n}/labels`)).data ?? [];
    },

    /** POST /repos/{owner}/{repo}/issues/{index}/labels — returns the issue's full label list afterwards. */
    async addIssueLabels(o: string, r: string, n: number, labelIds: number[]): Promise<Label[]> {
      return (await call<Label[] | null>('POST', `${repoPath(o, r)}/issues/${n}/labels`, { body: { labels: labelIds }, idempotent: true })).data ?? [];
    },

    /** GET /repos/{owner}/{repo}/issues/{index}/timeline, all pages (label entries name who added or removed a label). */
    async getIssueTimeline(o: string, r: string, n: number): Promise<TimelineComment[]> {
      return listAll<TimelineComment>(`${repoPath(o, r)}/issues/${n}/timeline`);
    },

    /** DELETE /repos/{owner}/{repo}/issues/{index}/labels/{id} (numeric id only). */
    async removeIssueLabel(o: string, r: string, n: number, labelId: number): Promise<void> {
      await call('DELETE', `${repoPath(o, r)}/issues/${n}/labels/${labelId}`);
    },

    /** PUT /repos/{owner}/{repo}/issues/{index}/labels — the issue ends with exactly these labels. */
    async replaceIssueLabels(o: string, r: string, n: number, labelIds: number[]): Promise<Label[]> {
      return (await call<Label[] | null>('PUT', `${repoPath(o, r)}/issues/${n}/labels`, { body: { labels: labelIds } })).data ?? [];
    },

    /** GET /repos/{owner}/{repo}/pulls/{index} */
    async getPullRequest(o: string, r: string, n: number): Promise<PullRequest> {
      return (await call<PullRequest>('GET', `${repoPath(o, r)}/pulls/${n}`)).data;
    },

    /**
     * The open PR from `head` into `base`, or null. Not `GET …/pulls/{base}/{head}`: Gitea answers that with the
     * first row it finds, which can be an old closed or merged PR of the same branches (FACTS §0).
     */
    async findOpenPullRequest(o: string, r: string, q: { base: string; head: string }): Promise<PullRequest | null> {
      const open = await client.listPullRequests(o, r, { state: 'open', baseBranch: q.base });
      return open.find((pr) => pr.head.ref === q.head && pr.base.ref === q.base) ?? null;
    },

    /** GET /repos/{owner}/{repo}/pulls, all pages. */
    async listPullRequests(o: string, r: string, q: { state?: IssueState | 'all'; baseBranch?: string } = {}): Promise<PullRequest[]> {
      return listAll<PullRequest>(`${repoPath(o, r)}/pulls`, { state: q.state, base_branch: q.baseBranch });
    },

    /**
     * GET /repos/{owner}/{repo}/compare/{base}...{head}: how many commits `head` has that `base` lacks. With the PR's
     * head as `base` and its base branch as `head`, that is how far the PR is behind: authoritative at once, where
     * the PR's own `merge_base` catches up only after Gitea re-checks it.
     */
    async countCommitsAhead(o: string, r: string, q: { base: string; head: string }): Promise<number> {
      return (await call<{ total_commits: number }>('GET', `${repoPath(o, r)}/compare/${enc(q.base)}...${enc(q.head)}`)).data.total_commits;
    },

    /**
     * POST /repos/{owner}/{repo}/pulls/{index}/update: merges (or rebases onto) the base into the PR's branch.
     * 409 when that conflicts; Gitea answers 500 when the branch is not behind, so check that first.
     */
    async updatePullRequest(o: string, r: string, n: number, style: 'merge' | 'rebase' = 'merge'): Promise<void> {
      await call('POST', `${repoPath(o, r)}/pulls/${n}/update`, { query: { style } });
    },

    /** POST /repos/{owner}/{repo}/pulls — 409 (GiteaError) when an open PR for head/base exists. */
    async createPullRequest(o: string, r: string, pr: CreatePullRequestOption): Promise<PullRequest> {
      return (await call<PullRequest>('POST', `${repoPath(o, r)}/pulls`, { body: pr })).data;
    },

    /** PATCH /repos/{owner}/{repo}/pulls/{index} (Gitea answers 201). */
    async editPullRequest(o: string, r: string, n: number, edit: EditPullRequestOption): Promise<PullRequest> {
      return (await call<PullRequest>('PATCH', `${repoPath(o, r)}/pulls/${n}`, { body: edit })).data;
    },

    /**
     * POST /repos/{owner}/{repo}/pulls/{index}/merge pinned to `headCommitId`. Throws GiteaError with
     * status 405 (not mergeable yet / already merged / WIP — the caller decides whether to retry) or 409 (head moved, conflict).
     */
    async mergePullRequest(
      o: string,
      r: string,
      n: number,
      m: { style: MergeStyle; headCommitId: string; title?: string; message?: string; deleteBranchAfterMerge?: boolean },
    ): Promise<void> {
      const body: MergePullRequestOption = { do: m.style, head_commit_id: m.headCommitId };
      if (m.title !== undefined) body.merge_title_field = m.title;
      if (m.message !== undefined) body.merge_message_field = m.message;
      if (m.deleteBranchAfterMerge !== undefined) body.delete_branch_after_merge = m.deleteBranchAfterMerge;
      await call('POST', `${repoPath(o, r)}/pulls/${n}/merge`, { body });
    },

    /** GET /repos/{owner}/{repo}/pulls/{index}/merge — 204 merged, 404 not. */
    async isPullRequestMerged(o: string, r: string, n: number): Promise<boolean> {
      return (await orNullIfNotFound(call('GET', `${repoPath(o, r)}/pulls/${n}/merge`))) !== null;
    },

    /** POST /repos/{owner}/{repo}/statuses/{sha} */
    async createCommitStatus(o: string, r: string, sha: string, status: CreateStatusOption): Promise<CommitStatus> {
      return (await call<CommitStatus>('POST', `${repoPath(o, r)}/statuses/${enc(sha)}`, { body: status })).data;
    },

    /** GET /repos/{owner}/{repo}/contents/{filepath}: a file decoded to text, a directory's entries, or null on 404. */
    async getContents(o: string, r: string, path: string, ref?: string): Promise<RepoContents | null> {
      const res = await orNullIfNotFound(
        call<ContentsResponse | ContentsResponse[]>('GET', path === '' ? `${repoPath(o, r)}/contents` : `${repoPath(o, r)}/contents/${encPath(path)}`, {
          query: { ref },
        }),
      );
      if (res === null) return null;
      const data = res.data;
      if (Array.isArray(data)) return { type: 'dir', path, entries: data };
      if (data.type === 'file') return { type: 'file', path: data.path, sha: data.sha, content: Buffer.from(data.content ?? '', 'base64').toString('utf8') };
      if (data.type === 'dir') return { type: 'dir', path: data.path, entries: [] };
      return { type: data.type, path: data.path, sha: data.sha };
    },

    /** GET /repos/{owner}/{repo}/raw/{filepath} as text; null on 404. */
    async getRawFile(o: string, r: string, path: string, ref?: string): Promise<string | null> {
      const res = await orNullIfNotFound(call<unknown>('GET', `${repoPath(o, r)}/raw/${encPath(path)}`, { query: { ref } }));
      if (res === null) return null;
      return typeof res.data === 'string' ? res.data : JSON.stringify(res.data);
    },

    /** GET /repos/{owner}/{repo}/wiki/pages, all pages; [] when the repo has no wiki (Gitea answers 404). */
    async listWikiPages(o: string, r: string): Promise<WikiPageMetaData[]> {
      return (await orNullIfNotFound(listAll<WikiPageMetaData>(`${repoPath(o, r)}/wiki/pages`))) ?? [];
    },

    /** GET /repos/{owner}/{repo}/wiki/page/{pageName} with its text decoded; null on 404. */
    async getWikiPage(o: string, r: string, name: string): Promise<(WikiPage & { content: string }) | null> {
      const res = await orNullIfNotFound(call<WikiPage>('GET', `${repoPath(o, r)}/wiki/page/${enc(name)}`));
      if (res === null) return null;
      return { ...res.data, content: Buffer.from(res.data.content_base64 ?? '', 'base64').toString('utf8') };
    },

    /**
     * POST /repos/{owner}/{repo}/actions/workflows/{file}/dispatches (Gitea ≥ 1.24). Inputs are strings. With
     * Gitea ≥ 1.26 the answer names the run (return_run_details); older servers answer 204 and this returns null.
     */
    async dispatchWorkflow(o: string, r: string, file: string, d: { ref: string; inputs?: Record<string, string> }): Promise<RunDetails | null> {
      const res = await call<RunDetails | undefined>('POST', `${repoPath(o, r)}/actions/workflows/${enc(file)}/dispatches`, {
        query: { return_run_details: true },
        body: { ref: d.ref, inputs: d.inputs ?? {} },
      });
      return res.status === 200 && res.data ? res.data : null;
    },

    /** GET /repos/{owner}/{repo}/actions/runs: the newest runs (one page of 50), filtered as Gitea allows. */
    async listWorkflowRuns(o: string, r: string, q: { event?: string; branch?: string; status?: string; headSha?: string } = {}): Promise<ActionWorkflowRun[]> {
      const res = await call<{ workflow_runs: ActionWorkflowRun[] | null }>('GET', `${repoPath(o, r)}/actions/runs`, {
        query: { event: q.event, branch: q.branch, status: q.status, head_sha: q.headSha, limit: PAGE_LIMIT, page: 1 },
      });
      return res.data.workflow_runs ?? [];
    },

    /** GET /repos/{owner}/{repo}/actions/workflows: the workflows Gitea found in the default branch. */
    async listWorkflows(o: string, r: string): Promise<ActionWorkflow[]> {
      return (await call<{ workflows: ActionWorkflow[] | null }>('GET', `${repoPath(o, r)}/actions/workflows`)).data.workflows ?? [];
    },

    /** GET /repos/{owner}/{repo}/actions/runners: the runners registered to this repo only (not its owner's, not global ones). */
    async listRepoRunners(o: string, r: string): Promise<ActionRunner[]> {
      return runnerList(`${repoPath(o, r)}/actions/runners`);
    },

    /** GET /orgs/{org}/actions/runners (the token needs read:organization and org admin rights). */
    async listOrgRunners(org: string): Promise<ActionRunner[]> {
      return runnerList(`/orgs/${enc(org)}/actions/runners`);
    },

    /** GET /user/actions/runners: the runners of the token's own user. */
    async listUserRunners(): Promise<ActionRunner[]> {
      return runnerList('/user/actions/runners');
    },

    /** GET /admin/actions/runners: every runner, the global ones included (site admins only). */
    async listAdminRunners(): Promise<ActionRunner[]> {
      return runnerList('/admin/actions/runners');
    },

    /** GET /repos/{owner}/{repo}/collaborators/{user}/permission → none | read | write | admin | owner. */
    async getCollaboratorPermission(o: string, r: string, user: string): Promise<RepoPermission> {
      return (await call<RepoCollaboratorPermission>('GET', `${repoPath(o, r)}/collaborators/${enc(user)}/permission`)).data.permission;
    },

    /** GET /repos/{owner}/{repo}/hooks, all pages. */
    async listHooks(o: string, r: string): Promise<Hook[]> {
      return listAll<Hook>(`${repoPath(o, r)}/hooks`);
    },

    /** POST /repos/{owner}/{repo}/hooks — a JSON `gitea` hook, explicitly active (Gitea defaults to inactive). */
    async createHook(
      o: string,
      r: string,
      h: { url: string; secret: string; events: string[]; active: true; name?: string; branchFilter?: string },
    ): Promise<Hook> {
      const body = {
        type: 'gitea',
        name: h.name,
        config: { url: h.url, content_type: 'json', secret: h.secret },
        events: h.events,
        active: h.active,
        branch_filter: h.branchFilter,
      };
      return (await call<Hook>('POST', `${repoPath(o, r)}/hooks`, { body })).data;
    },

    /** DELETE /repos/{owner}/{repo}/hooks/{id} */
    async deleteHook(o: string, r: string, id: number): Promise<void> {
      await call('DELETE', `${repoPath(o, r)}/hooks/${id}`);
    },

    /**
     * POST /repos/{owner}/{repo}/hooks/{id}/tests: Gitea sends the hook a test `push` of `ref` (default: the default
     * branch), signed with its secret, if the hook is active, subscribes to push and its branch filter lets `ref` in.
     */
    async testHook(o: string, r: string, id: number, q: { ref?: string } = {}): Promise<void> {
      await call('POST', `${repoPath(o, r)}/hooks/${id}/tests`, { query: { ref: q.ref }, idempotent: true });
    },

    /** PATCH /repos/{owner}/{repo}/hooks/{id}. Gitea replaces the event list (empty means `push`) and sets only the config keys sent. */
    async editHook(o: string, r: string, id: number, edit: EditHookOption): Promise<Hook> {
      return (await call<Hook>('PATCH', `${repoPath(o, r)}/hooks/${id}`, { body: edit })).data;
    },

    /** POST /repos/{owner}/{repo}/contents/{filepath}: commits a new file (422 if it exists). `content` is text; sent base64. */
    async createFile(o: string, r: string, path: string, f: { content: string; message: string; branch?: string }): Promise<FileResponse> {
      const body = { content: Buffer.from(f.content, 'utf8').toString('base64'), message: f.message, branch: f.branch };
      return (await call<FileResponse>('POST', `${repoPath(o, r)}/contents/${encPath(path)}`, { body })).data;
    },

    /** PUT /repos/{owner}/{repo}/contents/{filepath}: replaces the file whose blob is `sha` (422 when it moved on). */
    async updateFile(o: string, r: string, path: string, f: { content: string; sha: string; message: string; branch?: string }): Promise<FileResponse> {
      const body = { content: Buffer.from(f.content, 'utf8').toString('base64'), sha: f.sha, message: f.message, branch: f.branch };
      return (await call<FileResponse>('PUT', `${repoPath(o, r)}/contents/${encPath(path)}`, { body })).data;
    },

    /** DELETE /repos/{owner}/{repo}/contents/{filepath}: removes the file whose blob is `sha` (a commit on `branch`). */
    async deleteFile(o: string, r: string, path: string, f: { sha: string; message: string; branch?: string }): Promise<void> {
      await call('DELETE', `${repoPath(o, r)}/contents/${encPath(path)}`, { body: { sha: f.sha, message: f.message, branch: f.branch } });
    },

    /** POST /repos/{owner}/{repo}/contents: one commit with several file operations (contents are text; sent base64). */
    async changeFiles(
      o: string,
      r: string,
      c: { branch?: string; message: string; files: (Omit<ChangeFileOperation, 'content'> & { content?: string })[] },
    ): Promise<FilesResponse> {
      const files = c.files.map((f) => ({ ...f, content: f.content === undefined ? undefined : Buffer.from(f.content, 'utf8').toString('base64') }));
      return (await call<FilesResponse>('POST', `${repoPath(o, r)}/contents`, { body: { branch: c.branch, message: c.message, files } })).data;
    },

    /** POST /user/repos: a repository owned by the token's user (the token needs write:user as well as write:repository). */
    async createCurrentUserRepo(opt: CreateRepoOption): Promise<Repository> {
      return (await call<Repository>('POST', '/user/repos', { body: opt })).data;
    },

    /** GET /users/{username}/orgs/{org}/permissions: what `user` may do in `org` (is_owner: a member of its Owners team). */
    async getOrgPermissions(user: string, org: string): Promise<OrganizationPermissions> {
      return (await call<OrganizationPermissions>('GET', `/users/${enc(user)}/orgs/${enc(org)}/permissions`)).data;
    },

    /** PUT /repos/{owner}/{repo}/actions/secrets/{secretname} `{data}` (201 created / 204 updated). */
    async setActionsSecret(o: string, r: string, name: string, value: string): Promise<void> {
      await call('PUT', `${repoPath(o, r)}/actions/secrets/${enc(name)}`, { body: { data: value } });
    },

    /** GET /repos/{owner}/{repo}/branches/{branch}; null on 404. */
    async getBranch(o: string, r: string, branch: string): Promise<Branch | null> {
      return orNullIfNotFound(call<Branch>('GET', `${repoPath(o, r)}/branches/${enc(branch)}`).then((x) => x.data));
    },
  };
  return client;
}

/**
 * Where git reaches a repository: always under GITEA_URL, never a payload's or an API answer's `clone_url`, which
 * Gitea builds from its ROOT_URL (often not reachable from Damascus, e.g. inside a compose network) and which a
 * forged payload could point anywhere (FACTS §0).
 */
export function gitRemoteUrl(giteaUrl: string, owner: string, repo: string): string {
  return `${giteaUrl.replace(/\/+$/, '')}/${enc(owner)}/${enc(repo)}.git`;
}

/** Requirement messages this server version fails; [] when the version cannot be read (e.g. a dev build). */
export function missingFeatures(version: string): string[] {
  const have = parseVersion(version);
  if (!have) return [];
  return VERSION_REQUIREMENTS.filter((req) => compareVersions(have, parseVersion(req.min)!) < 0).map((req) => `${req.feature} (server is ${version})`);
}

/** `1.26.3`, `1.22.0+dev-12-gabc`, or a Forgejo `7.0.0+gitea-1.22.0` (the Gitea part counts). */
export function parseVersion(version: string): [number, number, number] | null {
  const m = /gitea-(\d+)\.(\d+)\.(\d+)/.exec(version) ?? /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(version);
  if (!m) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

function compareVersions(a: [number, number, number], b: [number, number, number]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** The URL of `rel="next"` in Gitea's `Link` header (`<url>; rel="next",<url>; rel="last"`). */
export function nextLink(link: string | null): string | null {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="next"/.exec(part.trim());
    if (m) return m[1]!;
  }
  return null;
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text.length === 0) return undefined;
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** A repo file path with its slashes kept (Gitea routes `{filepath}` as a wildcard). */
function encPath(path: string): string {
  return path.replace(/^\/+/, '').split('/').map(enc).join('/');
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
