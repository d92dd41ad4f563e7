import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  branchName,
  cacheName,
  changedFiles,
  commitAll,
  diffFingerprint,
  diffSince,
  ensureClone,
  gitTampering,
  openWorktree,
  pushBranch,
  removeWorktree,
} from '../../src/agent/worktree.js';
import { reviewChanges } from '../../src/agent/guard.js';

const BOT = { name: 'damascus-bot', email: 'bot@damascus.invalid' };
let root: string;
let remote: string;
let dataDir: string;

function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_AUTHOR_NAME: 'human', GIT_AUTHOR_EMAIL: 'h@x', GIT_COMMITTER_NAME: 'human', GIT_COMMITTER_EMAIL: 'h@x' },
  }).trim();
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'damascus-wt-'));
  remote = join(root, 'remote.git');
  dataDir = join(root, 'data');
  sh(root, 'init', '--bare', '--quiet', '--initial-branch=main', remote);
  // Seed the remote through an ordinary clone.
  const seed = join(root, 'seed');
  sh(root, 'clone', '--quiet', remote, seed);
  await mkdir(join(seed, 'tests'));
  await writeFile(join(seed, 'README.md'), '# demo\n');
  await writeFile(join(seed, 'tests/a.test.ts'), "test('a', () => {\n  expect(1).toBe(1);\n});\n");
  sh(seed, 'checkout', '--quiet', '-b', 'main');
  sh(seed, 'add', '.');
  sh(seed, 'commit', '--quiet', '-m', 'initial');
  sh(seed, 'push', '--quiet', 'origin', 'main');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

test('branchName: damascus/<n>-<slug>, lowercase ascii, at most 40 slug characters', () => {
  expect(branchName(12, 'Add a /hello endpoint!')).toBe('damascus/12-add-a-hello-endpoint');
  expect(branchName(3, 'Café à la crème: ÜBER')).toBe('damascus/3-cafe-a-la-creme-uber');
  expect(branchName(4, '$(rm -rf /); `x`')).toBe('damascus/4-rm-rf-x');
  expect(branchName(5, '日本語')).toBe('damascus/5-issue');
  const long = branchName(6, 'word '.repeat(30)).slice('damascus/6-'.length);
  expect(long.length).toBeLessThanOrEqual(40);
  expect(long).not.toMatch(/-$/);
  expect(cacheName('owner/repo')).toBe('owner__repo');
});

test('a build attempt: clone cache, branch from main, bot commit, push lands in the remote', async () => {
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  expect(cache).toBe(join(dataDir, 'repos', 'o__r.git'));
  const branch = branchName(7, 'Say hello');
  const wt = await openWorktree({ cache, branch, base: 'main', dataDir });
  expect(wt.continued).toBe(false);
  expect(wt.headBefore).toBe(sh(remote, 'rev-parse', 'main'));
  expect(sh(wt.path, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(branch);

  expect(await commitAll({ tree: wt, message: 'nothing', author: BOT })).toBeNull();

  await writeFile(join(wt.path, 'hello.txt'), 'hi\n');
  const sha = await commitAll({ tree: wt, message: 'Implement #7', author: BOT });
  expect(sha).toMatch(/^[0-9a-f]{40}$/);
  expect(sh(wt.path, 'log', '-1', '--format=%an <%ae>|%cn <%ce>|%s')).toBe(
    'damascus-bot <bot@damascus.invalid>|damascus-bot <bot@damascus.invalid>|Implement #7',
  );
  expect(await changedFiles(wt, wt.headBefore)).toEqual(['hello.txt']);

  await pushBranch({ tree: wt, branch, remoteUrl: remote });
  expect(sh(remote, 'rev-parse', `refs/heads/${branch}`)).toBe(sha);
  expect(sh(remote, 'show', `${branch}:hello.txt`)).toBe('hi');
  // The cache's remote URL is the one given, with no credentials.
  expect(sh(cache, 'remote', 'get-url', 'origin')).toBe(remote);

  await removeWorktree({ cache, path: wt.path });
  expect(existsSync(wt.path)).toBe(false);
  expect(sh(cache, 'worktree', 'list')).not.toContain(wt.path);
});

test('the next attempt reuses the pushed branch and continues from its commit', async () => {
  const branch = branchName(8, 'Two attempts');
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  const first = await openWorktree({ cache, branch, dataDir });
  await writeFile(join(first.path, 'one.txt'), '1\n');
  const sha1 = await commitAll({ tree: first, message: 'attempt 1', author: BOT });
  await pushBranch({ tree: first, branch, remoteUrl: remote });
  await removeWorktree({ cache, path: first.path });

  await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote }); // fetch
  const second = await openWorktree({ cache, branch, dataDir });
  expect(second.continued).toBe(true);
  expect(second.headBefore).toBe(sha1);
  expect(second.path).not.toBe(first.path);
  expect(await readFile(join(second.path, 'one.txt'), 'utf8')).toBe('1\n');
  await writeFile(join(second.path, 'two.txt'), '2\n');
  const sha2 = await commitAll({ tree: second, message: 'attempt 2', author: BOT });
  expect(sh(second.path, 'rev-parse', 'HEAD~1')).toBe(sha1);
  expect(await changedFiles(second, second.headBefore)).toEqual(['two.txt']);
  await pushBranch({ tree: second, branch, remoteUrl: remote });
  expect(sh(remote, 'rev-parse', `refs/heads/${branch}`)).toBe(sha2);
  await removeWorktree({ cache, path: second.path });
});

test('diffFingerprint is equal for the same change and differs for another', async () => {
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  const prints: string[] = [];
  for (const [i, content] of ['same\n', 'same\n', 'different\n'].entries()) {
    const wt = await openWorktree({ cache, branch: `damascus/9-try-${i}`, dataDir });
    await writeFile(join(wt.path, 'f.txt'), content);
    await commitAll({ tree: wt, message: `try ${i}`, author: BOT });
    prints.push(await diffFingerprint(wt, 'refs/remotes/origin/main'));
    await removeWorktree({ cache, path: wt.path });
  }
  expect(prints[0]).toMatch(/^[0-9a-f]{64}$/);
  expect(prints[1]).toBe(prints[0]);
  expect(prints[2]).not.toBe(prints[0]);
});

test('the real diff feeds the change guard: a weakened assertion is caught', async () => {
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  const wt = await openWorktree({ cache, branch: 'damascus/10-guard', dataDir });
  await writeFile(join(wt.path, 'tests/a.test.ts'), "test('a', () => {\n  expect(1).toBeDefined();\n});\n");
  await writeFile(join(wt.path, 'src.ts'), 'export {};\n');
  await commitAll({ tree: wt, message: 'weaken', author: BOT });
  const files = await changedFiles(wt, wt.headBefore);
  const r = reviewChanges({ changedFiles: files, diffText: await diffSince(wt, wt.headBefore), scope: ['tests/'] });
  expect(r).toEqual({ outOfScope: ['src.ts'], touchesCi: [], weakenedAssertions: ['tests/a.test.ts'], testConfig: [], skippedTests: [] });
  await removeWorktree({ cache, path: wt.path });
});

test('hooks planted in the worktree do not run on commit', async () => {
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  const wt = await openWorktree({ cache, branch: 'damascus/11-hooks', dataDir });
  const marker = join(root, 'hook-ran');
  // An agent could set core.hooksPath in the shared config or drop a hook into the cache.
  await mkdir(join(cache, 'hooks'), { recursive: true });
  await writeFile(join(cache, 'hooks', 'pre-commit'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
  await writeFile(join(wt.path, 'x.txt'), 'x\n');
  expect(await commitAll({ tree: wt, message: 'x', author: BOT })).not.toBeNull();
  expect(existsSync(marker)).toBe(false);
  await removeWorktree({ cache, path: wt.path });
});

test('credentials in a URL are refused, and a base branch that does not exist is a clear error', async () => {
  await expect(ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: 'https://bot:tok@gitea.example/o/r.git' })).rejects.toThrow(/must not carry credentials/);
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  await expect(openWorktree({ cache, branch: 'damascus/1-x', base: 'develop', dataDir })).rejects.toThrow(/base branch develop not found/);
});

test('a failed push never shows the auth header', async () => {
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  const wt = await openWorktree({ cache, branch: 'damascus/12-push', dataDir });
  await writeFile(join(wt.path, 'x.txt'), 'x\n');
  await commitAll({ tree: wt, message: 'x', author: BOT });
  const err = await pushBranch({ tree: wt, branch: 'damascus/12-push', remoteUrl: join(root, 'missing.git'), authHeader: 'token s3cr3t-value' }).catch(
    (e: Error) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect(String((err as Error).message)).not.toContain('s3cr3t-value');
  await removeWorktree({ cache, path: wt.path });
});

test('builds of one project at once share the clone cache safely: every fetch and worktree succeeds (seen failing live)', async () => {
  // Branches that move while the builds run, so each fetch has remote-tracking refs to update.
  const seed = join(root, 'seed');
  const builds = Array.from({ length: 6 }, async (_, i) => {
    await writeFile(join(seed, `f${i}.txt`), `${i}\n`);
    const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
    const wt = await openWorktree({ cache, branch: branchName(100 + i, `story ${i}`), base: 'main', dataDir });
    await writeFile(join(wt.path, `story-${i}.txt`), `${i}\n`);
    const sha = await commitAll({ tree: wt, message: `story ${i}`, author: BOT });
    await pushBranch({ tree: wt, branch: branchName(100 + i, `story ${i}`), remoteUrl: remote });
    await removeWorktree({ cache, path: wt.path });
    return sha;
  });
  const shas = await Promise.all(builds);
  expect(new Set(shas).size).toBe(6);
  for (let i = 0; i < 6; i++) expect(sh(remote, 'rev-parse', branchName(100 + i, `story ${i}`))).toBe(shas[i]);
  expect(existsSync(join(dataDir, 'repos', 'o__r.git.lock'))).toBe(false);
});

test('a rebuild starts again from the base although the branch exists, and its forced push replaces the branch', async () => {
  const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  const branch = branchName(9, 'rebuild me');
  const first = await openWorktree({ cache, branch, base: 'main', dataDir });
  await writeFile(join(first.path, 'old.txt'), 'old\n');
  await commitAll({ tree: first, message: 'first try', author: BOT });
  await pushBranch({ tree: first, branch, remoteUrl: remote });
  await removeWorktree({ cache, path: first.path });
  await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
  const again = await openWorktree({ cache, branch, base: 'main', dataDir, fresh: true });
  expect(again).toMatchObject({ continued: false, headBefore: sh(remote, 'rev-parse', 'main') });
  await writeFile(join(again.path, 'new.txt'), 'new\n');
  await commitAll({ tree: again, message: 'second try', author: BOT });
  await expect(pushBranch({ tree: again, branch, remoteUrl: remote })).rejects.toThrow();
  await pushBranch({ tree: again, branch, remoteUrl: remote, force: true });
  expect(sh(remote, 'ls-tree', '--name-only', branch).split('\n').sort()).toEqual(['README.md', 'new.txt', 'tests']);
});

describe('git that a hostile agent cannot steer', () => {
  test('the auth header reaches git through its environment, never its argv (/proc/<pid>/cmdline)', async () => {
    // A `git` earlier on PATH that records what it was started with, then runs the real one.
    const bin = join(root, 'bin');
    await mkdir(bin);
    const record = join(root, 'git-calls.jsonl');
    const realGit = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
    await writeFile(
      join(bin, 'git'),
      `#!/bin/sh\nnode -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify({argv: process.argv.slice(2), header: process.env.GIT_CONFIG_VALUE_0 || null}) + "\\n")' ${record} "$@"\nexec ${realGit} "$@"\n`,
      { mode: 0o755 },
    );
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote, authHeader: 'token argv-must-not-show-this' });
      const wt = await openWorktree({ cache, branch: 'damascus/13-env', dataDir });
      await writeFile(join(wt.path, 'x.txt'), 'x\n');
      await commitAll({ tree: wt, message: 'x', author: BOT });
      await pushBranch({ tree: wt, branch: 'damascus/13-env', remoteUrl: remote, authHeader: 'token argv-must-not-show-this' });
    } finally {
      process.env.PATH = path;
    }
    const calls = (await readFile(record, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { argv: string[]; header: string | null });
    const withAuth = calls.filter((c) => c.argv.includes('push') || c.argv.includes('fetch'));
    expect(withAuth.length).toBeGreaterThanOrEqual(2);
    for (const c of withAuth) expect(c.header).toBe('Authorization: token argv-must-not-show-this');
    for (const c of calls) expect(c.argv.join(' ')).not.toContain('argv-must-not-show-this');
    expect(sh(remote, 'rev-parse', '--verify', 'damascus/13-env')).toMatch(/^[0-9a-f]{40}$/);
  });

  test('a url.insteadOf in ~/.gitconfig or the system config cannot redirect a push (or its token) elsewhere', async () => {
    const attacker = join(root, 'attacker.git');
    sh(root, 'init', '--bare', '--quiet', attacker);
    const home = join(root, 'home');
    await mkdir(home);
    await writeFile(join(home, '.gitconfig'), `[url "${attacker}"]\n\tinsteadOf = ${remote}\n[core]\n\tfsmonitor = touch ${join(root, 'pwned-global')}\n`);
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    try {
      // The redirect is real: git with the user's configuration would follow it.
      expect(execFileSync('git', ['ls-remote', '--get-url', remote], { cwd: root, encoding: 'utf8', env: { ...process.env, HOME: home } }).trim()).toBe(
        attacker,
      );
      const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
      const wt = await openWorktree({ cache, branch: 'damascus/14-redirect', dataDir });
      await writeFile(join(wt.path, 'x.txt'), 'x\n');
      await commitAll({ tree: wt, message: 'x', author: BOT });
      await pushBranch({ tree: wt, branch: 'damascus/14-redirect', remoteUrl: remote, authHeader: 'token t' });
    } finally {
      process.env.HOME = savedHome;
    }
    expect(sh(remote, 'rev-parse', '--verify', 'damascus/14-redirect')).toMatch(/^[0-9a-f]{40}$/);
    expect(sh(attacker, 'for-each-ref')).toBe('');
    expect(existsSync(join(root, 'pwned-global'))).toBe(false);
  });

  test("a .git the agent rewrote to point at its own config (core.fsmonitor) never runs: git uses Damascus's git dir", async () => {
    const cache = await ensureClone({ dataDir, projectKey: 'o/r', remoteUrl: remote });
    const wt = await openWorktree({ cache, branch: 'damascus/15-fsmonitor', dataDir });
    expect(await gitTampering(wt)).toEqual([]);
    // What the agent does: a git dir of its own, inside the worktree, whose config runs a program on `git add`.
    const marker = join(root, 'pwned-fsmonitor');
    const evil = join(wt.path, '.evil');
    sh(root, 'init', '--bare', '--quiet', evil);
    await writeFile(join(evil, 'config'), `[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tfsmonitor = touch ${marker}\n\tworktree = ${wt.path}\n`);
    await writeFile(join(wt.path, '.git'), `gitdir: ${evil}\n`);
    await mkdir(join(wt.path, 'sub', '.git'), { recursive: true });
    await writeFile(join(wt.path, 'x.txt'), 'x\n');
    // The trick works on plain git in that directory: that is what Damascus must not do.
    execFileSync('git', ['status', '--porcelain'], { cwd: wt.path, stdio: 'ignore', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1' } });
    expect(existsSync(marker)).toBe(true);
    await rm(marker);

    expect(await gitTampering(wt)).toEqual(expect.arrayContaining(['.git was replaced', 'sub/.git was created']));
    // Even when asked to commit, git works through the git dir Damascus made, never the agent's.
    await commitAll({ tree: wt, message: 'x', author: BOT });
    expect(await changedFiles(wt, wt.headBefore)).toContain('x.txt');
    expect(existsSync(marker)).toBe(false);
  });
});
