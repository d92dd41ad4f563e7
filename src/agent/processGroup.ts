import { readdirSync, readFileSync } from 'node:fs';

/** Signal a whole process group; false when it no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

/** State letter and process group of a pid from /proc (Linux); null when it is gone. */
export function procState(pid: number): { state: string; pgid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ppid pgrp …" — comm may hold spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', pgid: Number(fields[2]) };
  } catch {
    return null;
  }
}

/** Whether a pid is a running process (a zombie no longer runs anything, it only waits to be reaped). */
export function isRunning(pid: number): boolean {
  const s = procState(pid);
  if (s !== null) return s.state !== 'Z' && s.state !== 'X';
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids still running in a process group (Linux /proc scan; elsewhere, a signal-0 probe of the group). */
export function runningGroupMembers(pgid: number): number[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return signalGroup(pgid, 0) ? [pgid] : [];
  }
  return pids.map(Number).filter((pid) => {
    const s = procState(pid);
    return s !== null && s.pgid === pgid && s.state !== 'Z' && s.state !== 'X';
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Kill a process group: SIGTERM, then SIGKILL to whatever still runs after `graceMs`. Resolves when no member
 * runs any more (or after a bounded wait past SIGKILL, which the kernel does not let a process ignore).
 */
export async function killGroup(pgid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return;
  for (let waited = 0; waited < graceMs; waited += 50) {
    if (runningGroupMembers(pgid).length === 0) return;
    await sleep(50);
  }
  signalGroup(pgid, 'SIGKILL');
  for (let i = 0; i < 100 && runningGroupMembers(pgid).length > 0; i++) await sleep(20);
}
