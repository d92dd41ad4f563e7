import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { withCacheLock } from './cacheLock.js';

/**
 * Git for the build phase, through simple-git. Every git process runs without system or user configuration
 * (a `url.insteadOf` in ~/.gitconfig cannot redirect a push), with hooks and fsmonitor off, and without
 * Damascus's secrets in its environment. A token only travels as an `http.extraHeader` passed through the
 * environment (GIT_CONFIG_*), never in argv where /proc/<pid>/cmdline shows it. After the agent ran, git is
 * pointed at the worktree's git directory explicitly: the worktree's own `.git` file is the agent's to rewrite.
 */

const SECRET_NAME = /TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|APIKEY|PRIVATE_KEY|CREDENTIAL|^DATABASE_URL$|^REDIS_URL$/i;

/**
 * Programs git might start on its own (simple-git 4 refuses to run with these set, e.g. `npm test`
 * exports EDITOR): Damascus never needs an editor or a pager, so they are left out.
 */
const PROGRAM_VARS = /^(EDITOR|VISUAL|PAGER|SSH_ASKPASS|PREFIX)$/;

/** GIT_* variables git may see (simple-git 4 refuses any other ambient GIT_* variable). */
const GIT_ENV_AMBIENT = ['GIT_SSL_CAINFO', 'GIT_SSL_CAPATH'];
/** The GIT_* variables Damascus sets itself. */
const GIT_ENV_OWN = [
  'GIT_TERMINAL_PROMPT',
  'GIT_CONFIG_NOSYSTEM',
  'GIT_CONFIG_GLOBAL',
  'GIT_CONFIG_COUNT',
  'GIT_CONFIG_KEY_0',
  'GIT_CONFIG_VALUE_0',
  'GIT_DIR',
  'GIT_WORK_TREE',
];
const GIT_ENV_ALLOWED = [...GIT_ENV_AMBIENT, ...GIT_ENV_OWN];

interface GitOptions {
  authHeader?: string | undefined;
  identity?: { name: string; email: string };
  /** Run against this git directory and work tree, ignoring whatever `.git` the work tree holds. */
  tree?: TreeRef;
}

function gitEnv(o: GitOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || SECRET_NAME.test(k) || PROGRAM_VARS.test(k) || (k.startsWith('GIT_') && !GIT_ENV_AMBIENT.includes(k))) continue;
    env[k] = v;
  }
  env.GIT_TERMINAL_PROMPT = '0'; // never wait for a password on a TTY
  env.GIT_CONFIG_NOSYSTEM = '1';
  env.GIT_CONFIG_GLOBAL = '/dev/null';
  if (o.authHeader) {
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
    env.GIT_CONFIG_VALUE_0 = `Authorization: ${o.authHeader}`;
  }
  if (o.tree) {
    env.GIT_DIR = o.tree.gitDir;
    env.GIT_WORK_TREE = o.tree.path;
  }
  return env;
}

/** Values to scrub from git error messages (an auth header must never reach a log or a comment). */
function scrub(e: unknown, secret: string | undefined): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  if (secret && err.message.includes(secret)) err.message = err.message.split(secret).join('[redacted]');
  return err;
}

function git(baseDir: string, opts: GitOptions = {}): SimpleGit {
  const config = ['core.hooksPath=/dev/null', 'core.fsmonitor=false', 'commit.gpgsign=false', 'tag.gpgsign=false'];
  if (opts.identity) config.push(`user.name=${opts.identity.name}`, `user.email=${opts.identity.email}`);
  // simple-git blocks core.hooksPath, core.fsmonitor, GIT_CONFIG_GLOBAL and GIT_CONFIG_COUNT as unsafe: they can name programs or
  // configuration. We set them only to turn those off (/dev/null, false) and to pass the auth header outside argv.
  return simpleGit({
    baseDir,
    config,
    allowEnvironment: GIT_ENV_ALLOWED,
    unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true, allowUnsafeConfigPaths: true, allowUnsafeConfigEnvCount: true },
  }).env(gitEnv(opts));
}

/** A worktree as Damascus addresses it after the agent ran: its files and the git directory Damascus made for it. */
export interface TreeRef {
  path: string;
  gitDir: string;
}

/** A filesystem-safe name for a project's clone cache ("owner/repo" → "owner__repo"). */
export function cacheName(projectKey: string): string {
  return projectKey.replace(/\//g, '__').replace(/[^A-Za-z0-9._-]/g, '_');
}

export interface EnsureCloneOptions {
  dataDir: string;
  projectKey: string;
  /** Clone URL without credentials. */
  remoteUrl: string;
  /** Header value for `Authorization:` (e.g. "token abc…"), passed to git through its environment. */
  authHeader?: string | undefined;
}

/**
 * The project's bare clone cache under `${dataDir}/repos/`, created on first use and fetched every time
 * (remote branches land in refs/remotes/origin/*, pruned).
 */
export async function ensureClone(o: EnsureCloneOptions): Promise<string> {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(o.remoteUrl)) throw new Error('remoteUrl must not carry credentials; pass authHeader instead');
  const cache = join(o.dataDir, 'repos', `${cacheName(o.projectKey)}.git`);
  await withCacheLock(cache, () => refreshClone(cache, o));
  return cache;
}

async function refreshClone(cache: string, o: EnsureCloneOptions): Promise<void> {
  if (!existsSync(join(cache, 'HEAD'))) {
    await mkdir(cache, { recursive: true });
    await git(cache).raw(['init', '--bare', '--quiet']);
    await git(cache).raw(['remote', 'add', 'origin', o.remoteUrl]);
    await git(cache).raw(['config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*']);
  } else {
    await git(cache).raw(['remote', 'set-url', 'origin', o.remoteUrl]);
  }
  try {
    await git(cache, { authHeader: o.authHeader }).raw(['fetch', '--prune', '--quiet', 'origin']);
  } catch (e) {
    throw scrub(e, o.authHeader);
  }
}

/** `damascus/<issue>-<slug>`: lowercase ASCII, dashes, slug at most 40 characters. */
export function branchName(issueNumber: number, title: string): string {
  const slug = title
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `damascus/${issueNumber}-${slug || 'issue'}`;
}

async function refExists(g: SimpleGit, ref: string): Promise<boolean> {
  // simple-git resolves a silent non-zero exit: judge by the printed sha, not by an exception.
  try {
    return /^[0-9a-f]{40,64}$/.test((await g.raw(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim());
  } catch {
    return false;
  }
}

export interface OpenWorktreeOptions {
  cache: string;
  branch: string;
  base?: string;
  dataDir: string;
  /** Start from origin/<base> even when the branch exists on the remote (a rebuild after a conflict). */
  fresh?: boolean;
}

export interface Worktree extends TreeRef {
  /** The `.git` file git wrote into the worktree, to check after the agent ran. */
  gitFile: string;
  /** The commit the worktree started from (the branch's remote head, or origin/<base>). */
  headBefore: string;
  /** True when the branch already existed on the remote (an earlier attempt's commits are there). */
  continued: boolean;
}

/**
 * A fresh worktree on `branch`: from the remote branch when an earlier attempt pushed it (so the agent
 * continues from those commits), else from origin/<base>.
 */
export async function openWorktree(o: OpenWorktreeOptions): Promise<Worktree> {
  return withCacheLock(o.cache, () => addWorktree(o));
}

async function addWorktree(o: OpenWorktreeOptions): Promise<Worktree> {
  const g = git(o.cache);
  await g.raw(['worktree', 'prune']);
  const remoteBranch = `refs/remotes/origin/${o.branch}`;
  const continued = !o.fresh && (await refExists(g, remoteBranch));
  const start = continued ? remoteBranch : `refs/remotes/origin/${o.base ?? 'main'}`;
  if (!continued && !(await refExists(g, start))) throw new Error(`base branch ${o.base ?? 'main'} not found on the remote`);
  const path = join(o.dataDir, 'worktrees', basename(o.cache, '.git'), `${o.branch.replace(/[^A-Za-z0-9._-]/g, '_')}-${randomBytes(4).toString('hex')}`);
  await mkdir(join(path, '..'), { recursive: true });
  // -B: the local branch is reset to the start point; the remote is the truth between attempts.
  await g.raw(['worktree', 'add', '--quiet', '--force', '--no-track', '-B', o.branch, path, start]);
  const gitFile = await readFile(join(path, '.git'), 'utf8');
  const m = /^gitdir: (.+)$/m.exec(gitFile);
  if (!m?.[1]) throw new Error(`git worktree add left no gitdir link in ${path}`);
  const gitDir = isAbsolute(m[1]) ? m[1] : resolve(path, m[1]);
  const tree = { path, gitDir };
  const headBefore = (await git(path, { tree }).revparse(['HEAD'])).trim();
  return { path, gitDir, gitFile, headBefore, continued };
}

/**
 * What the agent did to git's own files in its worktree: the `.git` link replaced or removed, or a `.git`
 * planted deeper (a nested repository whose config git could read). Empty when nothing; Damascus then
 * still runs git only through the git directory it made (TreeRef), never through the worktree's `.git`.
 */
export async function gitTampering(wt: Worktree): Promise<string[]> {
  const problems: string[] = [];
  const top = join(wt.path, '.git');
  try {
    const st = await lstat(top);
    if (!st.isFile() || (await readFile(top, 'utf8')) !== wt.gitFile) problems.push('.git was replaced');
  } catch {
    problems.push('.git was removed');
  }
  for (const entry of await readdir(wt.path, { recursive: true })) {
    const rel = String(entry);
    if (rel !== '.git' && (rel.endsWith('/.git') || basename(rel) === '.git')) problems.push(`${rel} was created`);
  }
  return problems;
}

/** The commit a ref names now: the build pins its diff base with it before the agent can move any ref. */
export async function resolveCommit(tree: TreeRef, ref: string): Promise<string> {
  return (await git(tree.path, { tree }).revparse(['--verify', `${ref}^{commit}`])).trim();
}

/** Commit everything in the worktree as the bot; null when nothing changed. */
export async function commitAll(o: { tree: TreeRef; message: string; author: { name: string; email: string } }): Promise<string | null> {
  const g = git(o.tree.path, { identity: o.author, tree: o.tree });
  await g.raw(['add', '--all']);
  const staged = (await g.raw(['diff', '--cached', '--name-only'])).trim();
  if (staged === '') return null;
  await g.raw(['commit', '--quiet', '--no-verify', '-m', o.message, `--author=${o.author.name} <${o.author.email}>`]);
  return (await g.revparse(['HEAD'])).trim();
}

/** Files changed between `fromSha` and HEAD (renames count as a delete and an add). */
export async function changedFiles(tree: TreeRef, fromSha: string): Promise<string[]> {
  // from...HEAD: changes since the branch left `fromSha`, not what landed on the base meanwhile
  const out = await git(tree.path, { tree }).raw(['diff', '--name-only', '--no-renames', '-z', `${fromSha}...HEAD`]);
  return out.split('\0').filter((f) => f !== '');
}

/** The unified diff between `fromSha` and HEAD (input for the change guard). */
export async function diffSince(tree: TreeRef, fromSha: string): Promise<string> {
  return git(tree.path, { tree }).raw(['diff', '--no-color', '--no-ext-diff', '--no-renames', `${fromSha}...HEAD`]);
}

/**
 * sha256 of the branch's diff against its merge base with `baseRef`, without commit ids or line numbers:
 * two attempts that produce the same change get the same fingerprint (no-progress detection).
 */
export async function diffFingerprint(tree: TreeRef, baseRef: string): Promise<string> {
  const diff = await git(tree.path, { tree }).raw(['diff', '--no-color', '--no-ext-diff', '--no-renames', '--full-index', `${baseRef}...HEAD`]);
  const normalized = diff
    .split('\n')
    .filter((l) => !l.startsWith('index '))
    .map((l) => (l.startsWith('@@') ? '@@' : l))
    .join('\n');
  return createHash('sha256').update(normalized).digest('hex');
}

/**
 * Push HEAD to `branch` on the remote. The auth header reaches git through its environment, never argv or the URL.
 * `force` replaces the branch (a rebuild from the base); without it a push that is not a fast-forward fails.
 */
export async function pushBranch(o: { tree: TreeRef; branch: string; remoteUrl: string; authHeader?: string | undefined; force?: boolean }): Promise<void> {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(o.remoteUrl)) throw new Error('remoteUrl must not carry credentials; pass authHeader instead');
  try {
    await git(o.tree.path, { authHeader: o.authHeader, tree: o.tree }).raw([
      'push',
      '--quiet',
      '--no-verify',
      o.remoteUrl,
      `${o.force ? '+' : ''}HEAD:refs/heads/${o.branch}`,
    ]);
  } catch (e) {
    throw scrub(e, o.authHeader);
  }
}

/** Remove a worktree (and its files) from the cache; safe to call twice. */
export async function removeWorktree(o: { cache: string; path: string }): Promise<void> {
  await withCacheLock(o.cache, async () => {
    try {
      await git(o.cache).raw(['worktree', 'remove', '--force', o.path]);
    } catch {
      await rm(o.path, { recursive: true, force: true });
    }
    await git(o.cache).raw(['worktree', 'prune']);
  });
}
