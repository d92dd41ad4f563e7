/** Runs the test command with bash in its own process group, so a timeout can kill the whole tree. */
import { spawn } from 'node:child_process';
import type { Launch } from './isolation.js';

export interface RunOptions {
  /** How to start it (isolation.ts): bash with the command as its `-c` argument, never spliced into a shell string. */
  launch: Launch;
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Every chunk of stdout and stderr, in arrival order. */
  onOutput: (chunk: Buffer) => void;
  /** Grace between SIGTERM and SIGKILL of the process group. */
  killGraceMs?: number;
}

export interface RunOutcome {
  /** null when bash was killed by a signal (including our timeout) or could not start. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  /** Set when bash itself could not be started. */
  spawnError: string | null;
}

/** Signal a whole process group; it may already be gone. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: every process of the group has exited.
  }
}

/** How long to wait for the output pipes to drain after bash exits before giving up on them. */
const DRAIN_MS = 2_000;

export function runCommand(opts: RunOptions): Promise<RunOutcome> {
  const started = Date.now();
  const killGraceMs = opts.killGraceMs ?? 5_000;
  return new Promise((resolve) => {
    const child = spawn(opts.launch.file, opts.launch.args, {
      cwd: opts.cwd,
      uid: opts.launch.uid,
      gid: opts.launch.gid,
      env: opts.env,
      detached: true, // own process group: -pid reaches every descendant that did not setsid
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let timedOut = false;
    let termTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (outcome: Omit<RunOutcome, 'durationMs' | 'timedOut'>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(termTimer);
      clearTimeout(killTimer);
      resolve({ ...outcome, timedOut, durationMs: Date.now() - started });
    };

    child.stdout.on('data', opts.onOutput);
    child.stderr.on('data', opts.onOutput);
    child.on('error', (err) => finish({ exitCode: null, signal: null, spawnError: err.message }));

    termTimer = setTimeout(() => {
      if (child.pid === undefined) return;
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), killGraceMs);
    }, opts.timeoutMs);

    child.on('exit', (code, signal) => {
      clearTimeout(termTimer);
      // Background processes left behind would hold the pipes open (and the job) forever.
      if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      const done = (): void => finish({ exitCode: code, signal, spawnError: null });
      // Let the pipes drain what was already written; 'close' fires once both are at EOF.
      const drainTimer = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done();
      }, DRAIN_MS);
      child.on('close', () => {
        clearTimeout(drainTimer);
        done();
      });
    });
  });
}
