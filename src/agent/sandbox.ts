import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SandboxSettings } from '../config/sandboxSettings.js';

/**
 * The coding agent's sandbox: bubblewrap (Debian's `bwrap`). The agent sees the system's programs read-only,
 * its worktree read-write, its input directory read-only and a private HOME; it gets its own pid, network, IPC
 * and UTS namespaces (so no Damascus process, no loopback service and no outside address is reachable), and,
 * when Damascus runs as root, a user that owns nothing of Damascus's. Its only way out is the egress proxy.
 */

export interface SandboxRunPaths {
  worktree: string;
  inputDir: string;
  /** Read-write and private to the run: HOME and the verdict file's directory. */
  writable: string[];
  home: string;
  /** The egress proxy's Unix socket, or null for no network at all. */
  proxySocket: string | null;
  /** /etc/passwd and /etc/group for the sandbox, written by the caller. */
  passwdFile: string;
  groupFile: string;
}

/** Where the sandbox's init script and proxy socket appear inside. */
export const SANDBOX_RUN_DIR = '/run/damascus';
/** The port the in-sandbox forwarder listens on (the sandbox's own loopback). */
export const SANDBOX_PROXY_PORT = 3128;

/**
 * The compiled init script (dist/src/agent/sandboxInit.js), bound into the sandbox as a .mjs file. Code run from
 * src/ (the tests) finds it in dist/, which `npm run build` writes.
 */
export function sandboxInitScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const sibling = join(here, 'sandboxInit.js');
  return existsSync(sibling) ? sibling : join(here, '..', '..', 'dist', 'src', 'agent', 'sandboxInit.js');
}

/** /etc entries a program may need that hold nothing secret (certificates, name service, time zone, alternatives). */
const ETC_READ = [
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/pki',
  '/etc/alternatives',
  '/etc/hosts',
  '/etc/nsswitch.conf',
  '/etc/localtime',
  '/etc/ld.so.cache',
  '/etc/mime.types',
];
const TOP_LEVEL = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** The namespaces every sandbox (and the probe) gets; a user namespace is added when Damascus is not root. */
const NAMESPACES = ['--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts'];

/** Whether Damascus itself runs as root, in which case the agent gets another user. */
export function runsAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The agent's identity in the sandbox: the configured user when Damascus is root, else Damascus's own uid in a user namespace. */
export function agentIdentity(s: SandboxSettings): { uid: number; gid: number; ownUser: boolean } {
  if (runsAsRoot()) return { ...s.agentUser, ownUser: true };
  return { uid: process.getuid?.() ?? 1000, gid: process.getgid?.() ?? 1000, ownUser: false };
}

/** Every ancestor directory of `p` below `/`, outermost first. */
function ancestors(p: string): string[] {
  const out: string[] = [];
  for (let d = dirname(p); d !== '/' && d !== '.'; d = dirname(d)) out.unshift(d);
  return out;
}

/** The node binary's installation when it is not under /usr (nvm, a tarball): the agent's CLI may need it. */
function nodeInstallDir(): string | null {
  const real = realpathSync(process.execPath);
  return real.startsWith('/usr/') ? null : dirname(dirname(real));
}

/** bwrap arguments for the system part of the sandbox: /usr and the top-level links read-only, /proc, /dev, /tmp. */
function systemMounts(s: SandboxSettings): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const d of TOP_LEVEL) {
    try {
      const st = lstatSync(d);
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(d), d);
      else if (st.isDirectory()) args.push('--ro-bind', d, d);
    } catch {
      // not on this system
    }
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--size', String(s.tmpSizeMb * 1024 * 1024), '--tmpfs', '/tmp');
  args.push('--perms', '0755', '--dir', '/etc');
  for (const e of ETC_READ) args.push('--ro-bind-try', e, e);
  return args;
}

/**
 * The full argv: bwrap, then (as root) prlimit and setpriv dropping to the agent's user, then the init script
 * that forwards the proxy port and runs the agent. Pure: everything it needs is in its arguments.
 */
export function sandboxArgv(s: SandboxSettings, paths: SandboxRunPaths, argv: readonly string[], asRoot = runsAsRoot()): string[] {
  const args = ['bwrap', '--die-with-parent', '--new-session', ...NAMESPACES, '--unshare-cgroup-try', '--hostname', 'damascus-agent'];
  // Unprivileged bwrap needs a user namespace; as root the agent's user is dropped to with setpriv instead.
  if (!asRoot) args.push('--unshare-user', '--disable-userns');
  args.push(...systemMounts(s));
  args.push('--ro-bind', paths.passwdFile, '/etc/passwd', '--ro-bind', paths.groupFile, '/etc/group');
  args.push('--perms', '0755', '--dir', '/run', '--perms', '0755', '--dir', SANDBOX_RUN_DIR);
  args.push('--ro-bind', sandboxInitScript(), `${SANDBOX_RUN_DIR}/init.mjs`);
  if (paths.proxySocket) args.push('--bind', paths.proxySocket, `${SANDBOX_RUN_DIR}/egress.sock`);
  const node = nodeInstallDir();
  const reads = [...new Set([...(node ? [node] : []), ...s.readPaths.map((p) => resolve(p))])];
  const binds: [string, string][] = [
    ...reads.map((p): [string, string] => ['--ro-bind', p]),
    ['--ro-bind', paths.inputDir],
    ...[...s.writePaths.map((p) => resolve(p)), ...paths.writable].map((p): [string, string] => ['--bind', p]),
    ['--bind', paths.worktree],
  ];
  // Directories bwrap creates on its own are 0700 (root's): the agent's user could not reach its own worktree.
  const made = new Set<string>(['/tmp', '/etc', '/run', SANDBOX_RUN_DIR, '/usr']);
  for (const [, p] of binds) {
    for (const a of ancestors(p)) {
      if (made.has(a) || a.startsWith('/usr/') || a.startsWith('/proc') || a.startsWith('/dev')) continue;
      made.add(a);
      args.push('--perms', '0755', '--dir', a);
    }
  }
  for (const [flag, p] of binds) args.push(flag, p, p);
  args.push('--chdir', paths.worktree, '--');
  const l = s.limits;
  args.push('prlimit', `--nproc=${l.processes}`, `--fsize=${l.fileSizeMb * 1024 * 1024}`, `--nofile=${l.openFiles}`);
  if (l.memoryMb !== null) args.push(`--as=${l.memoryMb * 1024 * 1024}`);
  args.push('--');
  if (asRoot) args.push('setpriv', `--reuid=${s.agentUser.uid}`, `--regid=${s.agentUser.gid}`, '--clear-groups', '--bounding-set=-all', '--no-new-privs', '--');
  args.push(realpathSync(process.execPath), `${SANDBOX_RUN_DIR}/init.mjs`);
  if (paths.proxySocket) args.push(String(SANDBOX_PROXY_PORT), `${SANDBOX_RUN_DIR}/egress.sock`);
  else args.push('-', '-');
  args.push('--', ...argv);
  return args;
}

/** The proxy variables the agent gets when it has an egress proxy (every common spelling). */
export function proxyEnv(): Record<string, string> {
  const url = `http://127.0.0.1:${SANDBOX_PROXY_PORT}`;
  return { HTTPS_PROXY: url, HTTP_PROXY: url, https_proxy: url, http_proxy: url, ALL_PROXY: url, NO_PROXY: '', no_proxy: '' };
}

export type SandboxStatus =
  | { mode: 'bwrap'; ok: true; ownUser: boolean; detail: string }
  | { mode: 'bwrap'; ok: false; detail: string }
  | { mode: 'off'; ok: true; detail: string };

let probed: Promise<SandboxStatus> | null = null;

/**
 * Can a sandbox be made here? Runs `true` in one with the same namespaces (once per process). A machine without
 * bwrap, or a container without user namespaces, answers `ok: false`, and the built-in agent then refuses to run.
 */
export function probeSandbox(s: SandboxSettings): Promise<SandboxStatus> {
  if (!s.enabled)
    return Promise.resolve({ mode: 'off', ok: true, detail: "DAMASCUS_SANDBOX=off: the coding agent runs without a sandbox, as Damascus's user" });
  probed ??= new Promise((resolveStatus) => {
    const asRoot = runsAsRoot();
    const args = [
      '--die-with-parent',
      ...NAMESPACES,
      ...(asRoot ? [] : ['--unshare-user']),
      '--ro-bind',
      '/',
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--',
      asRoot ? 'setpriv' : 'true',
    ];
    if (asRoot) args.push(`--reuid=${s.agentUser.uid}`, `--regid=${s.agentUser.gid}`, '--clear-groups', '--', 'true');
    let stderr = '';
    const child = spawn('bwrap', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', (e) =>
      resolveStatus({
        mode: 'bwrap',
        ok: false,
        detail: `bubblewrap (bwrap) cannot be started: ${e.message}; install it (Debian: apt-get install bubblewrap) or set DAMASCUS_SANDBOX=off to accept an unsandboxed agent`,
      }),
    );
    child.once('exit', (code) => {
      if (code === 0) {
        resolveStatus({
          mode: 'bwrap',
          ok: true,
          ownUser: asRoot,
          detail: asRoot
            ? `bubblewrap; the agent runs as uid ${s.agentUser.uid}`
            : `bubblewrap in a user namespace; the agent keeps Damascus's uid ${process.getuid?.()} (run Damascus as root for a separate user)`,
        });
      } else {
        resolveStatus({
          mode: 'bwrap',
          ok: false,
          detail: `bubblewrap cannot make a sandbox here (exit ${code}: ${stderr.trim().slice(0, 200) || 'no message'}); allow user namespaces, or set DAMASCUS_SANDBOX=off to accept an unsandboxed agent`,
        });
      }
    });
  });
  return probed;
}
