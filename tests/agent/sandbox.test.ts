import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../../src/config/env.js';
import { writeAgentInputs } from '../../src/agent/inputs.js';
import { runAgent } from '../../src/agent/runAgent.js';
import { probeSandbox, runsAsRoot, sandboxArgv } from '../../src/agent/sandbox.js';
import { createLogger } from '../../src/shared/log.js';

/**
 * The hostile agent (tests/fixtures/agent/hostile-agent.mjs) run through runAgent in the sandbox, beside a
 * process that holds Damascus's secrets in its environment, a second project's worktree and clone cache, and
 * real PostgreSQL and Redis on loopback. Each escape must fail; the same agent without the sandbox shows
 * that each one is real.
 */
const FIXTURES = fileURLToPath(new URL('../fixtures/agent/', import.meta.url));
const HOSTILE = join(FIXTURES, 'hostile-agent.mjs');
const log = createLogger('silent');
const SECRETS = {
  GITEA_TOKEN: 'gitea-token-sandbox-test-0001',
  DAMASCUS_CALLBACK_SECRET: 'callback-secret-sandbox-0002',
  DATABASE_URL: 'postgres://u:db-password-0003@127.0.0.1/x',
};

let root: string;
let dataDir: string;
let damascus: ChildProcess;
let allowed: Server;
let allowedPort: number;
let other: { worktree: string; cacheConfig: string };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'damascus-sandbox-'));
  dataDir = join(root, 'data');
  // A stand-in for the Damascus process: its environment holds the secrets.
  damascus = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { env: { ...process.env, ...SECRETS }, stdio: 'ignore' });
  // Another project's worktree and clone cache on the same machine.
  other = { worktree: join(dataDir, 'worktrees', 'acme__secret', 'damascus_1-x'), cacheConfig: join(dataDir, 'repos', 'acme__secret.git', 'config') };
  await mkdir(other.worktree, { recursive: true });
  await writeFile(join(other.worktree, 'private.txt'), 'another project\n');
  await mkdir(join(dataDir, 'repos', 'acme__secret.git'), { recursive: true });
  await writeFile(other.cacheConfig, '[core]\n\tbare = true\n');
  allowed = createServer((_req, res) => res.end('model api says hi'));
  await new Promise<void>((r) => allowed.listen(0, '127.0.0.1', () => r()));
  allowedPort = (allowed.address() as { port: number }).port;
});
afterAll(async () => {
  damascus.kill('SIGKILL');
  await new Promise((r) => allowed.close(r));
  await rm(root, { recursive: true, force: true });
});

interface Report {
  uid: number;
  environ: Record<string, string[] | string>;
  visiblePids: string[];
  reads: Record<string, unknown>;
  writes: Record<string, string>;
  tcp: Record<string, string>;
  proxy: Record<string, number | string>;
  allowed: { status: number; body: string } | string | null;
  ownGit: string;
}

async function runHostile(sandboxOn: boolean): Promise<{ report: Report; result: Awaited<ReturnType<typeof runAgent>> }> {
  const worktree = await mkdtemp(join(dataDir, 'wt-'));
  const runDir = await mkdtemp(join(dataDir, 'agent-'));
  const inputDir = join(runDir, 'input');
  await writeAgentInputs(inputDir, { spec: '## Summary\nPrint your environment.' });
  const settings = loadSettings({ DAMASCUS_AGENT_READ: FIXTURES, DAMASCUS_SANDBOX: sandboxOn ? 'on' : 'off' });
  const plan = {
    damascusPid: damascus.pid,
    readPaths: [other.worktree, join(other.worktree, 'private.txt'), join(dataDir, 'repos'), '/root', '/etc/shadow'],
    writePaths: [other.cacheConfig, join(process.env.HOME ?? '/root', '.gitconfig-damascus-sandbox-test')],
    tcp: [
      ['127.0.0.1', 5432],
      ['127.0.0.1', 6379],
      ['127.0.0.1', allowedPort],
      ['10.255.255.1', 80],
    ],
    viaProxy: ['127.0.0.1:5432', '127.0.0.1:6379', 'example.com:443'],
    allowedUrl: `http://127.0.0.1:${allowedPort}/v1/messages`,
  };
  const result = await runAgent({
    command: [process.execPath, HOSTILE],
    cwd: worktree,
    inputDir,
    stateDir: runDir,
    env: { PATH: process.env.PATH, ...SECRETS, HOSTILE_PLAN: JSON.stringify(plan) },
    sandbox: sandboxOn ? { settings: settings.sandbox, allowHosts: [`http://127.0.0.1:${allowedPort}`], readPaths: [] } : null,
    timeoutMs: 60_000,
    killGraceMs: 300,
    log,
  });
  const text = await readFile(join(worktree, 'escape-report.json'), 'utf8').catch(() => {
    throw new Error(`no report; agent stderr: ${result.stderrTail}`);
  });
  const report = JSON.parse(text) as Report;
  return { report, result };
}

const secretValues = Object.values(SECRETS);
const holdsSecret = (v: unknown): boolean => secretValues.some((s) => JSON.stringify(v).includes(s) || JSON.stringify(v).includes('db-password-0003'));

test('bubblewrap can make the sandbox on this machine', async () => {
  const status = await probeSandbox(loadSettings({}).sandbox);
  expect(status).toMatchObject({ mode: 'bwrap', ok: true });
});

test('without the sandbox the escapes are real (the control: this test could fail)', async () => {
  const { report } = await runHostile(false);
  expect(holdsSecret(report.environ[String(damascus.pid)])).toBe(true);
  expect(report.reads[join(other.worktree, 'private.txt')]).toBe('another project\n');
  expect(report.writes[other.cacheConfig]).toBe('written');
  expect(report.tcp['127.0.0.1:5432']).toBe('connected');
  expect(report.tcp['127.0.0.1:6379']).toBe('connected');
  await writeFile(other.cacheConfig, '[core]\n\tbare = true\n');
});

test('in the sandbox every escape fails, and only the allowed model API is reachable', async () => {
  const { report, result } = await runHostile(true);
  expect(result.isError).toBe(false);
  // Another user, when Damascus is root; no Damascus process to be seen.
  if (runsAsRoot()) expect(report.uid).toBe(65534);
  expect(report.environ[String(damascus.pid)]).toBe('ENOENT');
  expect(holdsSecret(report.environ)).toBe(false);
  expect(report.visiblePids.length).toBeLessThanOrEqual(4);
  // Nothing of the other project, Damascus's home or the host's secrets.
  expect(report.reads[other.worktree]).toBe('ENOENT');
  expect(report.reads[join(dataDir, 'repos')]).toBe('ENOENT');
  expect(report.reads['/root']).toBe('ENOENT');
  expect(report.reads['/etc/shadow']).toBe('ENOENT');
  // No redirect of the next push: neither the cache's config nor Damascus's ~/.gitconfig can be written.
  for (const p of Object.keys(report.writes)) expect(report.writes[p]).not.toBe('written');
  expect(await readFile(other.cacheConfig, 'utf8')).not.toContain('insteadOf');
  // Loopback is the sandbox's own: PostgreSQL, Redis and every host service are not there; the outside has no route.
  expect(report.tcp['127.0.0.1:5432']).toBe('ECONNREFUSED');
  expect(report.tcp['127.0.0.1:6379']).toBe('ECONNREFUSED');
  expect(report.tcp[`127.0.0.1:${allowedPort}`]).toBe('ECONNREFUSED');
  expect(report.tcp['10.255.255.1:80']).toBe('ENETUNREACH');
  // Through the proxy: only the allowed host.
  expect(report.proxy).toEqual({ '127.0.0.1:5432': 403, '127.0.0.1:6379': 403, 'example.com:443': 403 });
  expect(report.allowed).toEqual({ status: 200, body: 'model api says hi' });
  expect(holdsSecret(result)).toBe(false);
});

test('the sandbox argv: namespaces, read-only system, the worktree the only project path, and no secret on it', () => {
  const settings = loadSettings({ DAMASCUS_AGENT_READ: '/opt/cli' }).sandbox;
  const argv = sandboxArgv(
    settings,
    {
      worktree: '/d/worktrees/p/w',
      inputDir: '/d/agent-1/input',
      writable: ['/d/agent-1/home', '/d/agent-1/out'],
      home: '/d/agent-1/home',
      proxySocket: '/tmp/e/egress.sock',
      passwdFile: '/d/agent-1/passwd',
      groupFile: '/d/agent-1/group',
    },
    ['claude', '-p', 'Read /d/agent-1/input/prompt.md'],
    true,
  );
  const joined = argv.join(' ');
  for (const ns of ['--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent']) expect(argv).toContain(ns);
  expect(joined).toContain('--ro-bind /usr /usr');
  expect(joined).toContain('--bind /d/worktrees/p/w /d/worktrees/p/w');
  expect(joined).toContain('--ro-bind /d/agent-1/input /d/agent-1/input');
  expect(joined).toContain('--ro-bind /opt/cli /opt/cli');
  expect(joined).not.toMatch(/--(ro-)?bind \/d \/d|--bind \/ \//);
  expect(joined).toContain('setpriv --reuid=65534 --regid=65534 --clear-groups --bounding-set=-all --no-new-privs');
  expect(argv.slice(-3)).toEqual(['claude', '-p', 'Read /d/agent-1/input/prompt.md']);
});
