/**
 * Keeps the test command (PR code) away from the Action's secrets. The Action holds the callback secret (it signs
 * results) and the job token (it can write to the repository) in its environment and memory; a child of the same
 * uid reads both from /proc/<pid>/environ and /proc/<pid>/mem. So the command runs
 *  - as an unprivileged uid when the Action is root (docker job containers, root host runners): another uid can
 *    read neither file of a root process; where bubblewrap also works for that uid (root host runners), inside it
 *    too, so no process the command starts (setsid or not) outlives it to meddle with a later job;
 *  - else inside bubblewrap with new user, pid and IPC namespaces and a fresh /proc, where no process of the
 *    runner is visible, and with the runner user's HOME (where act_runner keeps its registration) hidden;
 *  - else not at all, unless the workflow accepts the risk with `isolation: none`.
 * Either way the command gets a fresh, empty HOME.
 */
import { spawnSync } from 'node:child_process';
import { lchownSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type IsolationMode = 'auto' | 'none';

export type Isolation = { kind: 'user'; uid: number; gid: number; bwrap: boolean } | { kind: 'bwrap' } | { kind: 'none' };

/** How the test command is started: the program, its arguments, and the uid/gid to spawn it as. */
export interface Launch {
  file: string;
  args: string[];
  uid?: number;
  gid?: number;
}

const BWRAP_NAMESPACES = ['--unshare-user', '--unshare-pid', '--unshare-ipc', '--die-with-parent'];
const BWRAP_ROOT = ['--bind', '/', '/', '--proc', '/proc', '--dev', '/dev'];

/** Whether bubblewrap can make a user and pid namespace here, as `user` (it cannot in most containers). */
export function bwrapWorks(user?: { uid: number; gid: number }): boolean {
  const res = spawnSync('bwrap', [...BWRAP_NAMESPACES, ...BWRAP_ROOT, 'true'], { stdio: 'ignore', timeout: 30_000, ...user });
  return res.status === 0;
}

export type IsolationChoice = { ok: true; isolation: Isolation } | { ok: false; reason: string };

export function chooseIsolation(
  mode: IsolationMode,
  testUser: { uid: number; gid: number },
  env: { isRoot: boolean; bwrapWorks: (user?: { uid: number; gid: number }) => boolean },
): IsolationChoice {
  if (mode === 'none') return { ok: true, isolation: { kind: 'none' } };
  if (env.isRoot) return { ok: true, isolation: { kind: 'user', ...testUser, bwrap: env.bwrapWorks(testUser) } };
  if (env.bwrapWorks()) return { ok: true, isolation: { kind: 'bwrap' } };
  return {
    ok: false,
    reason:
      "the test command cannot be isolated from this step's secrets here: the Action does not run as root (so it cannot " +
      'switch to an unprivileged test-user) and bubblewrap (bwrap) is missing or cannot create user namespaces. ' +
      "Run the job in a container (as root), install bubblewrap on the runner, or accept that the pull request's code " +
      'can read the callback secret and the job token by setting the input isolation: none',
  };
}

/** chown a tree without following symlinks (the checkout is the pull request's content). */
function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

export interface Sandbox {
  /** The fresh HOME of the test command. */
  home: string;
  launch(command: string, cwd: string): Launch;
  /** Remove the fresh HOME. */
  dispose(): void;
}

/**
 * Make the workspace the command's own and a fresh HOME for it. Fails (with the reason) when the test user
 * cannot reach the working directory, e.g. a workspace under a root-only directory.
 */
export function prepareSandbox(
  iso: Isolation,
  workspace: string,
  cwd: string,
  runnerHome: string | undefined,
): { ok: true; sandbox: Sandbox } | { ok: false; reason: string } {
  const home = mkdtempSync(join(tmpdir(), 'damascus-test-home-'));
  const dispose = (): void => rmSync(home, { recursive: true, force: true });
  const bash = (command: string): string[] => ['bash', '-c', command];
  // The runner user's HOME is hidden (act_runner keeps its .runner credentials there); the workspace and the
  // fresh HOME are bound back in after it.
  const hide = runnerHome && runnerHome !== '/' ? ['--tmpfs', runnerHome] : [];
  function bwrapArgs(command: string, dir: string): string[] {
    return [
      ...BWRAP_NAMESPACES,
      '--new-session',
      ...BWRAP_ROOT,
      ...hide,
      '--bind',
      workspace,
      workspace,
      '--bind',
      home,
      home,
      '--chdir',
      dir,
      '--',
      ...bash(command),
    ];
  }
  if (iso.kind === 'user') {
    chownTree(workspace, iso.uid, iso.gid);
    chownTree(home, iso.uid, iso.gid);
    const probe = spawnSync('bash', ['-c', 'cd -- "$1" && test -w .', 'probe', cwd], { uid: iso.uid, gid: iso.gid, stdio: 'ignore', timeout: 30_000 });
    if (probe.status !== 0) {
      dispose();
      return {
        ok: false,
        reason: `the test user (uid ${iso.uid}) cannot enter or write ${cwd}: every directory above the workspace must be searchable by it (o+x)`,
      };
    }
    const as = { uid: iso.uid, gid: iso.gid };
    const launch = (command: string, dir: string): Launch =>
      iso.bwrap ? { file: 'bwrap', args: bwrapArgs(command, dir), ...as } : { file: 'bash', args: ['-c', command], ...as };
    return { ok: true, sandbox: { home, dispose, launch } };
  }
  if (iso.kind === 'bwrap') return { ok: true, sandbox: { home, dispose, launch: (command, dir) => ({ file: 'bwrap', args: bwrapArgs(command, dir) }) } };
  return { ok: true, sandbox: { home, dispose, launch: (command) => ({ file: 'bash', args: ['-c', command] }) } };
}
