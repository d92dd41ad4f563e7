/** The Action's inputs and runner environment, validated up front (no I/O). */
import { randomBytes } from 'node:crypto';
import type { IsolationMode } from './isolation.js';
import { DEFAULT_JUNIT_PATTERNS } from './junit.js';

export interface ActionConfig {
  testCommand: string;
  workItem: number;
  headSha: string;
  /** The PR whose head is reviewed (its refs/pull/<n>/head is the fallback fetch); null when not given. */
  pullRequest: number | null;
  /** Damascus's nonce for the dispatch that started this run ('' when not given). */
  dispatch: string;
  /** GITHUB_SERVER_URL without a trailing slash: where the head is fetched from. */
  serverUrl: string;
  /** GITHUB_WORKSPACE: where the head is checked out. */
  workspace: string;
  /** Full URL of the review-results endpoint. */
  resultsUrl: string;
  /** The per-project callback secret: signs the result. */
  token: string;
  /** The job token for the commit status; '' when none was given. */
  giteaToken: string;
  workingDirectory: string;
  timeoutMs: number;
  failOnTestFailure: boolean;
  junitPatterns: string;
  deliveryTimeoutMs: number;
  repository: string;
  runId: string;
  runUrl: string | null;
  /** GITHUB_API_URL, for the commit status; null when absent. */
  apiUrl: string | null;
  /** `auto`: isolate the test command or refuse to run it; `none`: the workflow accepts running it unisolated. */
  isolation: IsolationMode;
  /** The unprivileged uid and gid the test command runs as when the Action is root. */
  testUser: { uid: number; gid: number };
}

export type InputReader = (name: string) => string;
type Env = Record<string, string | undefined>;

/** Bad inputs, all of them at once, so one run tells the whole story. */
export class InputError extends Error {
  override name = 'InputError';
}

const SHA = /^[0-9a-fA-F]{40}$/;
const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

function positiveNumber(raw: string, what: string, problems: string[]): number {
  const n = Number(raw);
  if (raw === '' || !Number.isFinite(n) || n <= 0) {
    problems.push(`${what} must be a positive number (got ${JSON.stringify(raw)})`);
    return 0;
  }
  return n;
}

function httpUrl(raw: string, what: string, problems: string[]): URL | null {
  try {
    const url = new URL(raw);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // reported below
  }
  problems.push(`${what} must be an http(s) URL (got ${JSON.stringify(raw)})`);
  return null;
}

export function parseInputs(input: InputReader, env: Env): ActionConfig {
  const problems: string[] = [];
  const get = (name: string): string => input(name).trim();
  const required = (name: string): string => {
    const v = get(name);
    if (v === '') problems.push(`input ${name} is required`);
    return v;
  };

  // The command is used verbatim (only surrounding whitespace is irrelevant to bash).
  const testCommand = required('test-command');
  const workItemRaw = required('work-item');
  const workItem = Number(workItemRaw);
  if (workItemRaw !== '' && (!Number.isSafeInteger(workItem) || workItem <= 0)) {
    problems.push(`input work-item must be a positive whole number (got ${JSON.stringify(workItemRaw)})`);
  }
  const headSha = required('head-sha');
  if (headSha !== '' && !SHA.test(headSha)) problems.push(`input head-sha must be a full 40-hex commit SHA (got ${JSON.stringify(headSha)})`);
  const orchestratorRaw = required('orchestrator-url');
  const orchestrator = orchestratorRaw === '' ? null : httpUrl(orchestratorRaw, 'input orchestrator-url', problems);
  const token = required('token');
  const prRaw = get('pull-request');
  const pullRequest = prRaw === '' ? null : Number(prRaw);
  if (pullRequest !== null && (!Number.isSafeInteger(pullRequest) || pullRequest <= 0)) {
    problems.push(`input pull-request must be a positive whole number (got ${JSON.stringify(prRaw)})`);
  }
  const dispatch = get('dispatch');
  if (dispatch !== '' && !/^[A-Za-z0-9_-]{1,64}$/.test(dispatch)) problems.push(`input dispatch must be a plain nonce (got ${JSON.stringify(dispatch)})`);

  const isolation = get('isolation').toLowerCase() || 'auto';
  if (isolation !== 'auto' && isolation !== 'none') problems.push(`input isolation must be auto or none (got ${JSON.stringify(isolation)})`);
  const testUserRaw = get('test-user') || '65534';
  const userMatch = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(testUserRaw);
  const testUser = userMatch ? { uid: Number(userMatch[1]), gid: Number(userMatch[2] ?? userMatch[1]) } : { uid: 0, gid: 0 };
  if (!userMatch || testUser.uid === 0 || testUser.gid === 0 || testUser.uid > 0xfffffffe || testUser.gid > 0xfffffffe) {
    problems.push(`input test-user must be a numeric uid or uid:gid other than root (got ${JSON.stringify(testUserRaw)})`);
  }

  const timeoutMinutes = positiveNumber(get('timeout-minutes') || '30', 'input timeout-minutes', problems);
  const deliverySeconds = positiveNumber(get('delivery-timeout-seconds') || '120', 'input delivery-timeout-seconds', problems);
  const failRaw = get('fail-on-test-failure').toLowerCase() || 'true';
  if (failRaw !== 'true' && failRaw !== 'false') {
    problems.push(`input fail-on-test-failure must be true or false (got ${JSON.stringify(failRaw)})`);
  }

  const repository = env.GITHUB_REPOSITORY ?? '';
  if (!REPO.test(repository)) problems.push(`GITHUB_REPOSITORY must be "owner/repo" (got ${JSON.stringify(repository)})`);
  const runIdBase = env.GITHUB_RUN_ID ?? '';
  if (runIdBase === '') problems.push('GITHUB_RUN_ID is not set (is this running in Gitea Actions?)');
  const serverUrl = (env.GITHUB_SERVER_URL ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(serverUrl)) problems.push(`GITHUB_SERVER_URL must be the Gitea's http(s) URL (got ${JSON.stringify(env.GITHUB_SERVER_URL ?? '')})`);

  if (problems.length > 0) throw new InputError(problems.join('; '));

  const base = orchestrator!.href.replace(/\/+$/, '');
  return {
    testCommand,
    workItem,
    headSha: headSha.toLowerCase(),
    pullRequest,
    dispatch,
    serverUrl,
    workspace: env.GITHUB_WORKSPACE || process.cwd(),
    resultsUrl: `${base}/api/v1/review-results`,
    token,
    giteaToken: get('gitea-token'),
    workingDirectory: get('working-directory') || '.',
    timeoutMs: Math.round(timeoutMinutes * 60_000),
    failOnTestFailure: failRaw === 'true',
    junitPatterns: get('junit-paths') || DEFAULT_JUNIT_PATTERNS,
    deliveryTimeoutMs: Math.round(deliverySeconds * 1000),
    repository,
    runId: `${runIdBase}-${executionId(env)}`,
    runUrl: runLink(serverUrl, repository, env),
    apiUrl: (env.GITHUB_API_URL ?? '').replace(/\/+$/, '') || null,
    isolation: isolation as IsolationMode,
    testUser,
  };
}

/**
 * What tells this execution of the job from a re-run of the same run: Gitea keeps GITHUB_RUN_ID across re-runs and
 * act never sets GITHUB_RUN_ATTEMPT, but each execution is a new task, whose id is a claim (`TaskID`) of the
 * runtime token Gitea issues it. The token's signature is not checked (nothing is trusted because of this id);
 * without a readable token, a random id makes every execution distinct.
 */
export function executionId(env: Env): string {
  if (env.GITHUB_RUN_ATTEMPT) return `attempt-${env.GITHUB_RUN_ATTEMPT}`;
  const parts = (env.ACTIONS_RUNTIME_TOKEN ?? '').split('.');
  if (parts.length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { TaskID?: unknown };
      if (Number.isSafeInteger(claims.TaskID) && (claims.TaskID as number) > 0) return `task-${claims.TaskID as number}`;
    } catch {
      // not a JWT: fall through
    }
  }
  return `exec-${randomBytes(6).toString('hex')}`;
}

/**
 * The run's page. Gitea ≤ 1.25 takes the run number in /actions/runs/{n}; 1.26 takes the id first and the number
 * only as a fallback (so a number can name another run whose id it is), unless `by_index=1` says it is a number.
 * The number with that parameter is right on both.
 */
export function runLink(serverUrl: string, repository: string, env: Env): string {
  const base = `${serverUrl}/${repository}/actions/runs`;
  return env.GITHUB_RUN_NUMBER ? `${base}/${env.GITHUB_RUN_NUMBER}?by_index=1` : `${base}/${env.GITHUB_RUN_ID}`;
}
