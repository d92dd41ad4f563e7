import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { withCacheLock } from '../../../src/agent/cacheLock.js';

const execFileAsync = promisify(execFile);

/** A fixed identity and no user/system config, so the simulator's commits do not depend on the machine. */
const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Gitea Sim',
  GIT_AUTHOR_EMAIL: 'sim@gitea.invalid',
  GIT_COMMITTER_NAME: 'Gitea Sim',
  GIT_COMMITTER_EMAIL: 'sim@gitea.invalid',
  GIT_TERMINAL_PROMPT: '0',
};

export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
  ) {
    super(`git ${args.join(' ')} failed: ${stderr.trim()}`);
  }
}

/** Runs git with an argument vector (never a shell). */
export async function git(args: string[], opts: { cwd?: string; author?: { name: string; email: string } } = {}): Promise<string> {
  const env = opts.author
    ? {
        ...GIT_ENV,
        GIT_AUTHOR_NAME: opts.author.name,
        GIT_AUTHOR_EMAIL: opts.author.email,
        GIT_COMMITTER_NAME: opts.author.name,
        GIT_COMMITTER_EMAIL: opts.author.email,
      }
    : GIT_ENV;
  try {
    const { stdout } = await execFileAsync('git', args, { cwd: opts.cwd, env, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new GitCommandError(args, e.stderr || e.message);
  }
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/** A bare repo at `path` whose `branch` holds one commit with `files`. */
export async function initBareRepo(path: string, files: Record<string, string>, branch: string, empty = false): Promise<string | null> {
  await git(['init', '-q', '--bare', `--initial-branch=${branch}`, path]);
  if (empty) return null;
  const work = await mkdtemp(join(tmpdir(), 'giteasim-init-'));
  try {
    await git(['init', '-q', `--initial-branch=${branch}`, work]);
    await writeFiles(work, Object.keys(files).length > 0 ? files : { 'README.md': '# repo\n' });
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '-q', '-m', 'Initial commit'], { cwd: work });
    await git(['push', '-q', path, `HEAD:refs/heads/${branch}`], { cwd: work });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return (await revParse(path, `refs/heads/${branch}`))!;
}

/** The commit a ref points at, or null when it does not exist. */
export async function revParse(bare: string, ref: string): Promise<string | null> {
  try {
    return (await git(['--git-dir', bare, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`])).trim() || null;
  } catch {
    return null;
  }
}

/** branch name → tip sha, for every branch. */
export async function listBranches(bare: string): Promise<Map<string, string>> {
  const out = await git(['--git-dir', bare, 'for-each-ref', '--format=%(refname:lstrip=2) %(objectname)', 'refs/heads/']);
  const map = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [name, sha] = line.split(' ');
    if (name && sha) map.set(name, sha);
  }
  return map;
}

export async function mergeBase(bare: string, a: string, b: string): Promise<string | null> {
  try {
    return (await git(['--git-dir', bare, 'merge-base', a, b])).trim() || null;
  } catch {
    return null;
  }
}

export async function updateRef(bare: string, ref: string, sha: string, oldSha?: string): Promise<void> {
  await git(['--git-dir', bare, 'update-ref', ref, sha, ...(oldSha ? [oldSha] : [])]);
}

export async function deleteRef(bare: string, ref: string): Promise<void> {
  await git(['--git-dir', bare, 'update-ref', '-d', ref]);
}

export interface TreeEntry {
  mode: string;
  type: 'blob' | 'tree' | 'commit';
  sha: string;
  size: number;
  path: string;
}

/** The entry at `path` in `ref` (not its children), or null. */
export async function statPath(bare: string, ref: string, path: string): Promise<TreeEntry | null> {
  const out = await git(['--git-dir', bare, 'ls-tree', '-l', ref, '--', path]).catch(() => '');
  return parseTree(out).find((e) => e.path === path) ?? null;
}

/** The entries directly inside directory `path` of `ref`. */
export async function listDir(bare: string, ref: string, path: string): Promise<TreeEntry[]> {
  const dir = path.replace(/\/+$/, '');
  const out = await git(['--git-dir', bare, 'ls-tree', '-l', ref, ...(dir === '' ? [] : ['--', `${dir}/`])]);
  return parseTree(out);
}

function parseTree(out: string): TreeEntry[] {
  const entries: TreeEntry[] = [];
  for (const line of out.split('\n')) {
    const m = /^(\d+) (blob|tree|commit) ([0-9a-f]+)\s+(\S+)\t(.*)$/.exec(line);
    if (m) entries.push({ mode: m[1]!, type: m[2] as TreeEntry['type'], sha: m[3]!, size: m[4] === '-' ? 0 : Number(m[4]), path: m[5]! });
  }
  return entries;
}

export async function readBlob(bare: string, sha: string): Promise<Buffer> {
  const { stdout } = await execFileAsync('git', ['--git-dir', bare, 'cat-file', 'blob', sha], {
    env: GIT_ENV,
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

export interface CommitInfo {
  sha: string;
  message: string;
  authorName: string;
  authorEmail: string;
  date: string;
}

export async function commitInfo(bare: string, rev: string, path?: string): Promise<CommitInfo | null> {
  const out = await git(['--git-dir', bare, 'log', '-1', '--format=%H%x00%an%x00%ae%x00%aI%x00%B', rev, ...(path ? ['--', path] : [])]).catch(() => '');
  const [sha, authorName, authorEmail, date, message] = out.split('\0');
  if (!sha) return null;
  return { sha, authorName: authorName ?? '', authorEmail: authorEmail ?? '', date: date ?? '', message: (message ?? '').replace(/\n+$/, '\n') };
}

/**
 * Runs `fn` in a throwaway worktree of the bare repo, detached at `start`. `git worktree add` reads every other
 * worktree's files and fails while another is half made ("failed to read …/worktrees/x/commondir", seen in the
 * full-loop chaos run and by 20 concurrent adds on one repo), so a repo's worktrees are added and removed one at a
 * time, under the lock Damascus's own clone cache uses.
 */
async function inWorktree<T>(bare: string, start: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'giteasim-wt-'));
  await withCacheLock(bare, () => git(['--git-dir', bare, 'worktree', 'add', '-q', '--detach', dir, start]));
  try {
    return await fn(dir);
  } finally {
    await withCacheLock(bare, () => git(['--git-dir', bare, 'worktree', 'remove', '--force', dir])).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Commits `files` on top of `branch` (or of `from` when the branch does not exist yet) and moves the branch. */
export async function commitToBranch(
  bare: string,
  branch: string,
  opts: { files: Record<string, string>; message: string; from: string; author?: { name: string; email: string } },
): Promise<string> {
  const current = await revParse(bare, `refs/heads/${branch}`);
  const start = current ?? (await revParse(bare, opts.from));
  if (!start) throw new Error(`no such branch or commit: ${opts.from}`);
  return inWorktree(bare, start, async (dir) => {
    await writeFiles(dir, opts.files);
    await git(['add', '-A'], { cwd: dir });
    await git(['commit', '-q', '--allow-empty', '-m', opts.message], { cwd: dir, author: opts.author });
    const sha = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
    await updateRef(bare, `refs/heads/${branch}`, sha, current ?? undefined);
    return sha;
  });
}

export type GitMergeStyle = 'merge' | 'squash' | 'rebase' | 'rebase-merge' | 'fast-forward-only';

export type MergeOutcome = { ok: true; sha: string } | { ok: false; reason: 'conflict' | 'not-fast-forward' | 'base-moved'; detail: string };

/**
 * A real merge of `headSha` into `baseBranch`, done in a temporary worktree and published with a compare-and-swap
 * update of the base ref (a concurrent push to base makes it fail instead of being overwritten).
 */
export async function mergeInto(
  bare: string,
  baseBranch: string,
  headSha: string,
  opts: { style: GitMergeStyle; message: string; author: { name: string; email: string } },
): Promise<MergeOutcome> {
  const baseSha = await revParse(bare, `refs/heads/${baseBranch}`);
  if (!baseSha) return { ok: false, reason: 'base-moved', detail: `base branch ${baseBranch} does not exist` };
  const author = opts.author;
  const result = await inWorktree(bare, baseSha, async (dir): Promise<MergeOutcome> => {
    try {
      switch (opts.style) {
        case 'merge':
          await git(['merge', '-q', '--no-ff', '-m', opts.message, headSha], { cwd: dir, author });
          break;
        case 'squash':
          await git(['merge', '-q', '--squash', headSha], { cwd: dir, author });
          await git(['commit', '-q', '--allow-empty', '-m', opts.message], { cwd: dir, author });
          break;
        case 'fast-forward-only':
          await git(['merge', '-q', '--ff-only', headSha], { cwd: dir, author }).catch((e: unknown) => {
            throw Object.assign(new Error(String(e)), { notFastForward: true });
          });
          break;
        case 'rebase':
        case 'rebase-merge': {
          await git(['checkout', '-q', '--detach', headSha], { cwd: dir });
          await git(['rebase', '-q', baseSha], { cwd: dir, author });
          if (opts.style === 'rebase-merge') {
            const rebased = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
            await git(['checkout', '-q', '--detach', baseSha], { cwd: dir });
            await git(['merge', '-q', '--no-ff', '-m', opts.message, rebased], { cwd: dir, author });
          }
          break;
        }
      }
    } catch (err) {
      await git(['merge', '--abort'], { cwd: dir }).catch(() => undefined);
      await git(['rebase', '--abort'], { cwd: dir }).catch(() => undefined);
      if ((err as { notFastForward?: boolean }).notFastForward) return { ok: false, reason: 'not-fast-forward', detail: 'not a fast-forward' };
      return { ok: false, reason: 'conflict', detail: err instanceof Error ? err.message : String(err) };
    }
    return { ok: true, sha: (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim() };
  });
  if (!result.ok) return result;
  try {
    await updateRef(bare, `refs/heads/${baseBranch}`, result.sha, baseSha);
  } catch (err) {
    return { ok: false, reason: 'base-moved', detail: err instanceof Error ? err.message : String(err) };
  }
  return result;
}

/** True when merging `head` into `base` conflicts (`git merge-tree --write-tree`, git ≥ 2.38: exit 1 on conflict). */
export async function conflicts(bare: string, base: string, head: string): Promise<boolean> {
  try {
    await git(['--git-dir', bare, 'merge-tree', '--write-tree', '--no-messages', base, head]);
    return false;
  } catch (err) {
    if (err instanceof GitCommandError && !/fatal|usage/i.test(err.stderr)) return true;
    throw err;
  }
}

export type UpdateOutcome = { ok: true; sha: string } | { ok: false; reason: 'conflict' | 'head-moved'; detail: string };

/**
 * Gitea's "update branch": the base merged into the PR's head branch (or the head rebased onto it), published
 * with a compare-and-swap of the head ref ([G] services/pull/update.go).
 */
export async function updateBranchFromBase(
  bare: string,
  o: { headBranch: string; headSha: string; baseSha: string; rebase: boolean; message: string; author: { name: string; email: string } },
): Promise<UpdateOutcome> {
  const result = await inWorktree(bare, o.headSha, async (dir): Promise<UpdateOutcome> => {
    try {
      if (o.rebase) await git(['rebase', '-q', o.baseSha], { cwd: dir, author: o.author });
      else await git(['merge', '-q', '--no-ff', '-m', o.message, o.baseSha], { cwd: dir, author: o.author });
    } catch (err) {
      await git(['merge', '--abort'], { cwd: dir }).catch(() => undefined);
      await git(['rebase', '--abort'], { cwd: dir }).catch(() => undefined);
      return { ok: false, reason: 'conflict', detail: err instanceof Error ? err.message : String(err) };
    }
    return { ok: true, sha: (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim() };
  });
  if (!result.ok) return result;
  try {
    await updateRef(bare, `refs/heads/${o.headBranch}`, result.sha, o.headSha);
  } catch (err) {
    return { ok: false, reason: 'head-moved', detail: err instanceof Error ? err.message : String(err) };
  }
  return result;
}

/** The blob id git gives `content` (what Gitea's contents API reports as a file's `sha`). */
export async function blobSha(content: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const bytes = Buffer.from(content, 'utf8');
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** Applies create/update/delete operations in one commit on `branch` (from `from` when the branch is new). */
export async function changeFilesOnBranch(
  bare: string,
  o: {
    branch: string;
    from: string;
    message: string;
    author: { name: string; email: string };
    files: { operation: 'create' | 'update' | 'delete'; path: string; content?: string }[];
  },
): Promise<string> {
  const current = await revParse(bare, `refs/heads/${o.branch}`);
  const start = current ?? (await revParse(bare, o.from));
  if (!start) {
    // An empty repository: the first commit has no parent.
    await initBareRepoCommit(
      bare,
      o.branch,
      o.files.filter((f) => f.operation !== 'delete'),
      o.message,
      o.author,
    );
    return (await revParse(bare, `refs/heads/${o.branch}`))!;
  }
  return inWorktree(bare, start, async (dir) => {
    for (const f of o.files) {
      if (f.operation === 'delete') await rm(join(dir, f.path), { force: true });
      else await writeFiles(dir, { [f.path]: f.content ?? '' });
    }
    await git(['add', '-A'], { cwd: dir });
    await git(['commit', '-q', '--allow-empty', '-m', o.message], { cwd: dir, author: o.author });
    const sha = (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim();
    await updateRef(bare, `refs/heads/${o.branch}`, sha, current ?? undefined);
    return sha;
  });
}

async function initBareRepoCommit(
  bare: string,
  branch: string,
  files: { path: string; content?: string }[],
  message: string,
  author: { name: string; email: string },
): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'giteasim-first-'));
  try {
    await git(['init', '-q', `--initial-branch=${branch}`, work]);
    await writeFiles(work, Object.fromEntries(files.map((f) => [f.path, f.content ?? ''])));
    await git(['add', '-A'], { cwd: work });
    await git(['commit', '-q', '--allow-empty', '-m', message], { cwd: work, author });
    await git(['push', '-q', bare, `HEAD:refs/heads/${branch}`], { cwd: work });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Commits reachable from `head` and not from `base`, newest first (what Gitea's compare base...head lists). */
export async function commitsAhead(bare: string, base: string, head: string): Promise<string[]> {
  const out = await git(['--git-dir', bare, 'rev-list', `${base}..${head}`]);
  return out.split('\n').filter(Boolean);
}
