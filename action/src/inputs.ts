/** The Action's inputs and runner environment, validated up front (pure: no I/O). */
import { DEFAULT_JUNIT_PATTERNS } from './junit.js';

export interface ActionConfig {
  testCommand: string;
  workItem: number;
  headSha: string;
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
  const attempt = env.GITHUB_RUN_ATTEMPT ?? '';

  if (problems.length > 0) throw new InputError(problems.join('; '));

  const serverUrl = (env.GITHUB_SERVER_URL ?? '').replace(/\/+$/, '');
  const base = orchestrator!.href.replace(/\/+$/, '');
  return {
    testCommand,
    workItem,
    headSha: headSha.toLowerCase(),
    resultsUrl: `${base}/api/v1/review-results`,
    token,
    giteaToken: get('gitea-token'),
    workingDirectory: get('working-directory') || '.',
    timeoutMs: Math.round(timeoutMinutes * 60_000),
    failOnTestFailure: failRaw === 'true',
    junitPatterns: get('junit-paths') || DEFAULT_JUNIT_PATTERNS,
    deliveryTimeoutMs: Math.round(deliverySeconds * 1000),
    repository,
    runId: attempt === '' ? runIdBase : `${runIdBase}-${attempt}`,
    runUrl: serverUrl === '' ? null : `${serverUrl}/${repository}/actions/runs/${runIdBase}`,
    apiUrl: (env.GITHUB_API_URL ?? '').replace(/\/+$/, '') || null,
  };
}
