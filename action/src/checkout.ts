/**
 * The Action checks out the head under review itself, so the review workflow needs nothing from the internet
 * (no actions/checkout) and leaves no credential behind: the job token reaches git through the environment of
 * the one fetch (GIT_CONFIG_COUNT, not argv, which every user on the runner can read) and is never written
 * into .git/config. Global and system git configuration are ignored, so a runner's `url.*.insteadOf` cannot
 * send the token elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';

export interface CheckoutOptions {
  /** GITHUB_SERVER_URL: the Gitea the runner registered with. */
  serverUrl: string;
  /** owner/repo */
  repository: string;
  /** The full SHA to test (lowercase). */
  headSha: string;
  /** The PR number: when Gitea will not serve the SHA by itself, refs/pull/<n>/head is fetched and checked. */
  pullRequest: number | null;
  /** The job token (read access to the repository); '' for a public repository. */
  token: string;
  /** Where the head is checked out (GITHUB_WORKSPACE): empty or absent. */
  dir: string;
}

export type CheckoutOutcome = { ok: true } | { ok: false; reason: string };

type GitEnv = Record<string, string>;

function git(args: string[], cwd: string, env: GitEnv): { ok: boolean; out: string; err: string } {
  const res = spawnSync('git', args, { cwd, env, encoding: 'utf8', timeout: 10 * 60_000 });
  if (res.error) return { ok: false, out: '', err: res.error.message };
  return { ok: res.status === 0, out: res.stdout ?? '', err: (res.stderr ?? '').trim() };
}

/** The environment of every git command: the job's PATH and HOME, no user or system config, never a prompt. */
function baseEnv(): GitEnv {
  const env: GitEnv = { GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k]) env[k] = process.env[k]!;
  return env;
}

/** The job token as git sends it to Gitea: HTTP basic with the token as the password (what act itself does). */
function authEnv(token: string): GitEnv {
  if (token === '') return {};
  const basic = Buffer.from(`x-access-token:${token}`, 'utf8').toString('base64');
  return { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: basic ${basic}` };
}

export function checkoutHead(o: CheckoutOptions): CheckoutOutcome {
  if (existsSync(o.dir) && readdirSync(o.dir).length > 0) {
    return { ok: false, reason: `the workspace ${o.dir} is not empty (the review workflow must not check anything out before this step)` };
  }
  mkdirSync(o.dir, { recursive: true });
  const env = baseEnv();
  const remote = `${o.serverUrl.replace(/\/+$/, '')}/${o.repository}.git`;
  const init = git(['init', '-q'], o.dir, env);
  if (!init.ok) return { ok: false, reason: `git init failed: ${init.err}` };
  const fetch = (ref: string) =>
    git(['-c', 'protocol.version=2', 'fetch', '-q', '--no-tags', '--depth=1', remote, ref], o.dir, { ...env, ...authEnv(o.token) });
  let fetched = fetch(o.headSha);
  if (!fetched.ok && o.pullRequest !== null) fetched = fetch(`refs/pull/${o.pullRequest}/head`);
  if (!fetched.ok) return { ok: false, reason: `could not fetch ${o.headSha} from ${remote}: ${fetched.err}` };
  const got = git(['rev-parse', 'FETCH_HEAD'], o.dir, env).out.trim().toLowerCase();
  if (got !== o.headSha) return { ok: false, reason: `the pull request's head is ${got}, not head-sha ${o.headSha} (it moved): nothing was run` };
  const co = git(['-c', 'advice.detachedHead=false', 'checkout', '-q', '--detach', 'FETCH_HEAD'], o.dir, env);
  if (!co.ok) return { ok: false, reason: `git checkout failed: ${co.err}` };
  const head = git(['rev-parse', 'HEAD'], o.dir, env).out.trim().toLowerCase();
  return head === o.headSha ? { ok: true } : { ok: false, reason: `checked out ${head}, not ${o.headSha}` };
}
