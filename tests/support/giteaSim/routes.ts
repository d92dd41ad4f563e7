/**
 * The operations the simulator serves: method, Gitea's path template and the token scope category Gitea's
 * router puts in front of it ([G] routers/api/v1/api.go `tokenRequiresScopes`: issues, labels and timelines
 * under /repos are `issue`, the rest of /repos is `repository`, /user is `user`, /admin is `admin`).
 *
 * With Gitea's swagger beside the repo (../shared), requests are routed and validated by the spec and this
 * table only supplies the scope. Without it, this table routes them (no validation: see validate.ts).
 */

export type ScopeCategory = 'repository' | 'issue' | 'user' | 'organization' | 'admin' | 'none';

export interface SimRoute {
  operationId: string;
  method: string;
  /** Gitea's path template; `{filepath}` takes the rest of the path, other parameters one segment. */
  path: string;
  /** Categories the token needs (read for GET, write otherwise); `none` for public endpoints. */
  scopes: ScopeCategory[];
}

const r = (operationId: string, method: string, path: string, ...scopes: ScopeCategory[]): SimRoute => ({ operationId, method, path, scopes });
const REPO = '/repos/{owner}/{repo}';

export const SIM_ROUTES: readonly SimRoute[] = [
  r('getVersion', 'GET', '/version', 'none'),
  r('userGetCurrent', 'GET', '/user', 'user'),
  r('createCurrentUserRepo', 'POST', '/user/repos', 'user', 'repository'),
  r('getUserRunners', 'GET', '/user/actions/runners', 'user'),
  r('getAdminRunners', 'GET', '/admin/actions/runners', 'admin'),
  r('getOrgRunners', 'GET', '/orgs/{org}/actions/runners', 'organization'),
  r('orgGetUserPermissions', 'GET', '/users/{username}/orgs/{org}/permissions', 'user', 'organization'),
  r('repoGet', 'GET', REPO, 'repository'),
  r('issueListIssues', 'GET', `${REPO}/issues`, 'issue'),
  r('issueCreateIssue', 'POST', `${REPO}/issues`, 'issue'),
  r('issueGetIssue', 'GET', `${REPO}/issues/{index}`, 'issue'),
  r('issueEditIssue', 'PATCH', `${REPO}/issues/{index}`, 'issue'),
  r('issueDelete', 'DELETE', `${REPO}/issues/{index}`, 'issue'),
  r('issueGetComments', 'GET', `${REPO}/issues/{index}/comments`, 'issue'),
  r('issueCreateComment', 'POST', `${REPO}/issues/{index}/comments`, 'issue'),
  r('issueGetCommentsAndTimeline', 'GET', `${REPO}/issues/{index}/timeline`, 'issue'),
  r('issueGetComment', 'GET', `${REPO}/issues/comments/{id}`, 'issue'),
  r('issueEditComment', 'PATCH', `${REPO}/issues/comments/{id}`, 'issue'),
  r('issueListLabels', 'GET', `${REPO}/labels`, 'issue'),
  r('issueCreateLabel', 'POST', `${REPO}/labels`, 'issue'),
  r('issueGetLabels', 'GET', `${REPO}/issues/{index}/labels`, 'issue'),
  r('issueAddLabel', 'POST', `${REPO}/issues/{index}/labels`, 'issue'),
  r('issueReplaceLabels', 'PUT', `${REPO}/issues/{index}/labels`, 'issue'),
  r('issueRemoveLabel', 'DELETE', `${REPO}/issues/{index}/labels/{id}`, 'issue'),
  r('repoListPullRequests', 'GET', `${REPO}/pulls`, 'repository'),
  r('repoCreatePullRequest', 'POST', `${REPO}/pulls`, 'repository'),
  r('repoGetPullRequest', 'GET', `${REPO}/pulls/{index}`, 'repository'),
  r('repoEditPullRequest', 'PATCH', `${REPO}/pulls/{index}`, 'repository'),
  r('repoGetPullRequestByBaseHead', 'GET', `${REPO}/pulls/{base}/{head}`, 'repository'),
  r('repoPullRequestIsMerged', 'GET', `${REPO}/pulls/{index}/merge`, 'repository'),
  r('repoMergePullRequest', 'POST', `${REPO}/pulls/{index}/merge`, 'repository'),
  r('repoUpdatePullRequest', 'POST', `${REPO}/pulls/{index}/update`, 'repository'),
  r('repoCompareDiff', 'GET', `${REPO}/compare/{basehead}`, 'repository'),
  r('repoCreateStatus', 'POST', `${REPO}/statuses/{sha}`, 'repository'),
  r('repoListStatuses', 'GET', `${REPO}/statuses/{sha}`, 'repository'),
  r('repoGetContentsList', 'GET', `${REPO}/contents`, 'repository'),
  r('repoChangeFiles', 'POST', `${REPO}/contents`, 'repository'),
  r('repoGetContents', 'GET', `${REPO}/contents/{filepath}`, 'repository'),
  r('repoCreateFile', 'POST', `${REPO}/contents/{filepath}`, 'repository'),
  r('repoUpdateFile', 'PUT', `${REPO}/contents/{filepath}`, 'repository'),
  r('repoDeleteFile', 'DELETE', `${REPO}/contents/{filepath}`, 'repository'),
  r('repoGetRawFile', 'GET', `${REPO}/raw/{filepath}`, 'repository'),
  r('repoGetWikiPages', 'GET', `${REPO}/wiki/pages`, 'repository'),
  r('repoGetWikiPage', 'GET', `${REPO}/wiki/page/{pageName}`, 'repository'),
  r('ActionsDispatchWorkflow', 'POST', `${REPO}/actions/workflows/{workflow_id}/dispatches`, 'repository'),
  r('ActionsListRepositoryWorkflows', 'GET', `${REPO}/actions/workflows`, 'repository'),
  r('getWorkflowRuns', 'GET', `${REPO}/actions/runs`, 'repository'),
  r('getRepoRunners', 'GET', `${REPO}/actions/runners`, 'repository'),
  r('repoGetRepoPermissions', 'GET', `${REPO}/collaborators/{collaborator}/permission`, 'repository'),
  r('repoListHooks', 'GET', `${REPO}/hooks`, 'repository'),
  r('repoCreateHook', 'POST', `${REPO}/hooks`, 'repository'),
  r('repoEditHook', 'PATCH', `${REPO}/hooks/{id}`, 'repository'),
  r('repoDeleteHook', 'DELETE', `${REPO}/hooks/{id}`, 'repository'),
  r('repoTestHook', 'POST', `${REPO}/hooks/{id}/tests`, 'repository'),
  r('updateRepoSecret', 'PUT', `${REPO}/actions/secrets/{secretname}`, 'repository'),
  r('repoGetBranch', 'GET', `${REPO}/branches/{branch}`, 'repository'),
];

const BY_OPERATION = new Map(SIM_ROUTES.map((x) => [x.operationId, x]));

export function routeOf(operationId: string): SimRoute | undefined {
  return BY_OPERATION.get(operationId);
}

/** Compiled templates, most specific first (fewer parameters, then longer), as a router prefers literals. */
const COMPILED = SIM_ROUTES.map((route) => {
  const names: string[] = [];
  const pattern = route.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return name === 'filepath' ? '(.+)' : '([^/]+)';
  });
  return { route, names, re: new RegExp(`^${pattern}$`) };
}).sort((a, b) => a.names.length - b.names.length || b.route.path.length - a.route.path.length);

/** The operation a request path names, with its decoded parameters; null when the simulator serves none. */
export function matchRoute(method: string, path: string): { operationId: string; params: Record<string, string> } | null {
  for (const c of COMPILED) {
    if (c.route.method !== method.toUpperCase()) continue;
    const m = c.re.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    c.names.forEach((name, i) => {
      params[name] = decodeURIComponent(m[i + 1]!);
    });
    return { operationId: c.route.operationId, params };
  }
  return null;
}
