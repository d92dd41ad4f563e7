import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { VERDICT_FILE } from './inputs.js';
import { killGroup } from './processGroup.js';
import { redactSecrets, sanitizeAgentEnv, secretValues } from './sanitizeEnv.js';

export interface RunAgentOptions {
  /** argv; spawned without a shell. */
  command: readonly string[];
  /** The worktree. */
  cwd: string;
  /** Input files (spec.md, prompt.md, …) and the verdict file; outside the worktree. */
  inputDir: string;
  /** Base environment, sanitized before the agent sees it. */
  env: Record<string, string | undefined>;
  /** Secret-looking variables the agent itself needs (e.g. ANTHROPIC_API_KEY). */
  allowEnv?: readonly string[];
  timeoutMs: number;
  /** Time between SIGTERM and SIGKILL for the process group. */
  killGraceMs?: number;
  log: Logger;
  signal?: AbortSignal;
}

export interface AgentVerdictFile {
  verdict: 'spec_wrong' | 'needs_human';
  reason?: string;
  questions?: string[];
}

export interface AgentRun {
  /** The agent's pid, which is also its process group id. */
  pid: number | null;
  exitCode: number | null;
  /** The agent was killed at its wall-clock limit. */
  timedOut: boolean;
  /** The run was cancelled through `signal`. */
  aborted: boolean;
  /** The agent could not be started at all (e.g. the command does not exist): an infrastructure fault. */
  spawnError: string | null;
  /** Judged by `is_error` and the exit code, never by `subtype`. */
  isError: boolean;
  costUsd: number;
  numTurns: number | null;
  /** The agent's final message (secrets redacted). */
  result: string;
  /** The agent's final JSON object, or null when it printed none. */
  raw: Record<string, unknown> | null;
  verdictFile: AgentVerdictFile | null;
  /** Why a verdict file that exists could not be used. */
  verdictFileError: string | null;
  stdoutTail: string;
  stderrTail: string;
}

const STDOUT_KEEP = 8 * 1024 * 1024;
const TAIL = 4 * 1024;

/** Appends chunks, keeping only the last `keep` characters. */
class Tail {
  private text = '';
  constructor(private readonly keep: number) {}
  push(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    if (this.text.length > this.keep * 2) this.text = this.text.slice(-this.keep);
  }
  value(): string {
    return this.text.slice(-this.keep);
  }
}

/** The last JSON object printed: the whole output for `--output-format json`, else the last line that is one. */
export function lastJsonObject(stdout: string): Record<string, unknown> | null {
  const tryParse = (s: string): Record<string, unknown> | null => {
    try {
      const v: unknown = JSON.parse(s);
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const whole = tryParse(stdout.trim());
  if (whole) return whole;
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] ?? '').trim();
    if (line.startsWith('{')) {
      const v = tryParse(line);
      if (v) return v;
    }
  }
  return null;
}

/** Read and check `${inputDir}/verdict.json`. Absent → null; present but unusable → an error saying why. */
export async function readVerdictFile(inputDir: string): Promise<{ verdict: AgentVerdictFile | null; error: string | null }> {
  let text: string;
  try {
    text = await readFile(join(inputDir, VERDICT_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { verdict: null, error: null };
    return { verdict: null, error: `verdict file unreadable: ${(e as Error).message}` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { verdict: null, error: `verdict file is not JSON: ${(e as Error).message}` };
  }
  const o = v as Record<string, unknown>;
  if (typeof v !== 'object' || v === null || (o.verdict !== 'spec_wrong' && o.verdict !== 'needs_human')) {
    return { verdict: null, error: 'verdict file must hold {"verdict": "spec_wrong" | "needs_human", "reason"?, "questions"?}' };
  }
  if (o.reason !== undefined && typeof o.reason !== 'string') return { verdict: null, error: 'verdict file: "reason" must be a string' };
  if (o.questions !== undefined && (!Array.isArray(o.questions) || o.questions.some((q) => typeof q !== 'string'))) {
    return { verdict: null, error: 'verdict file: "questions" must be a list of strings' };
  }
  const questions = (o.questions as string[] | undefined)?.map((q) => q.trim()).filter((q) => q !== '');
  if (o.verdict === 'needs_human' && (!questions || questions.length === 0)) {
    return { verdict: null, error: 'verdict file: "needs_human" needs at least one question' };
  }
  return {
    verdict: { verdict: o.verdict, ...(o.reason !== undefined ? { reason: o.reason as string } : {}), ...(questions ? { questions } : {}) },
    error: null,
  };
}

function redactDeep<T>(value: T, secrets: readonly string[]): T {
  if (value === null || secrets.length === 0) return value;
  return JSON.parse(redactSecrets(JSON.stringify(value), secrets)) as T;
}

/**
 * Run the coding agent once: no shell, its own process group, a sanitized environment with a private HOME,
 * and a wall-clock limit after which the whole group is killed. Never throws for agent failures.
 */
export async function runAgent(o: RunAgentOptions): Promise<AgentRun> {
  const [file, ...args] = o.command;
  if (!file) throw new Error('runAgent: empty command');
  const home = join(o.inputDir, 'home');
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = sanitizeAgentEnv(o.env, { allow: o.allowEnv ?? [], home });
  env.DAMASCUS_AGENT_INPUT_DIR = o.inputDir;
  env.DAMASCUS_AGENT_VERDICT_FILE = join(o.inputDir, VERDICT_FILE);
  // Everything that looked secret in the base env, including allowed keys: none may reach a comment or a log.
  const secrets = secretValues(o.env);

  const stdout = new Tail(STDOUT_KEEP);
  const stderr = new Tail(TAIL);
  let timedOut = false;
  let aborted = false;
  let spawnError: string | null = null;
  const graceMs = o.killGraceMs ?? 5_000;

  const child = spawn(file, args, { cwd: o.cwd, env, shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => stdout.push(c));
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  o.log.info({ agent: file, pid: child.pid, timeoutMs: o.timeoutMs }, 'agent started');

  const exited = new Promise<{ code: number | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e.message;
      resolve({ code: null });
    });
    child.once('exit', (code) => resolve({ code }));
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  let killing: Promise<void> | null = null;
  const killAll = (): Promise<void> => (killing ??= child.pid ? killGroup(child.pid, graceMs) : Promise.resolve());
  const timer = setTimeout(() => {
    timedOut = true;
    void killAll();
  }, o.timeoutMs);
  const onAbort = (): void => {
    aborted = true;
    void killAll();
  };
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });

  const { code } = await exited;
  clearTimeout(timer);
  o.signal?.removeEventListener('abort', onAbort);
  // Whatever the agent left running in its group (servers, watchers) goes with it.
  if (child.pid && !spawnError) await (killing ?? killGroup(child.pid, Math.min(graceMs, 1_000)));
  // A process that left the group may still hold the pipes open: do not wait on it forever.
  let closeTimer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise((r) => (closeTimer = setTimeout(r, 2_000)))]);
  clearTimeout(closeTimer);
  child.stdout.destroy();
  child.stderr.destroy();

  const out = stdout.value();
  const raw = redactDeep(lastJsonObject(out), secrets);
  const { verdict, error: verdictFileError } = await readVerdictFile(o.inputDir);
  const costUsd = typeof raw?.total_cost_usd === 'number' ? raw.total_cost_usd : 0;
  const isError = spawnError !== null || timedOut || aborted || code !== 0 || raw?.is_error === true;
  const result = redactSecrets(typeof raw?.result === 'string' ? raw.result : out.slice(-TAIL), secrets);
  const run: AgentRun = {
    pid: child.pid ?? null,
    exitCode: code,
    timedOut,
    aborted,
    spawnError,
    isError,
    costUsd,
    numTurns: typeof raw?.num_turns === 'number' ? raw.num_turns : null,
    result,
    raw,
    verdictFile: redactDeep(verdict, secrets),
    verdictFileError,
    stdoutTail: redactSecrets(out.slice(-TAIL), secrets),
    stderrTail: redactSecrets(stderr.value(), secrets),
  };
  o.log.info({ agent: file, exitCode: code, timedOut, aborted, isError, costUsd, spawnError }, 'agent finished');
  return run;
}
