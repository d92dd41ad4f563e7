import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import type { Logger } from '../shared/log.js';
import { allowedTargets, startEgressProxy, type EgressProxy } from './egressProxy.js';
import { VERDICT_FILE } from './inputs.js';
import { jsonObjectLine } from './presets/jsonLine.js';
import { resultJsonReader, reportFromResult } from './presets/resultJson.js';
import type { AgentReport, OutputReader } from './presets/types.js';
import { killGroup } from './processGroup.js';
import { agentIdentity, proxyEnv, sandboxArgv } from './sandbox.js';
import type { SandboxSettings } from '../config/sandboxSettings.js';
import { redactSecrets, sanitizeAgentEnv, secretValues } from './sanitizeEnv.js';

export interface RunAgentOptions {
  /** argv; spawned without a shell. */
  command: readonly string[];
  /** The worktree. */
  cwd: string;
  /** Input files (spec.md, prompt.md, …); outside the worktree, read-only to a sandboxed agent. */
  inputDir: string;
  /** The run's private directory: HOME (`home/`) and the verdict file (`out/verdict.json`). Default: inputDir. */
  stateDir?: string;
  /** Run inside the sandbox (src/agent/sandbox.ts); null or absent runs the agent directly (DAMASCUS_SANDBOX=off). */
  sandbox?: { settings: SandboxSettings; allowHosts: readonly string[]; readPaths: readonly string[] } | null;
  /** Base environment, sanitized before the agent sees it. */
  env: Record<string, string | undefined>;
  /** Secret-looking variables the agent itself needs (e.g. ANTHROPIC_API_KEY). */
  allowEnv?: readonly string[];
  /** Variables the builder's preset sets for its CLI (config locations, no secrets), added after sanitizing. */
  extraEnv?: Readonly<Record<string, string>>;
  /** Files to write under the run's HOME before it starts (the CLI's configuration): path relative to HOME → text. */
  homeFiles?: Readonly<Record<string, string>>;
  /** Reads the CLI's stdout as it streams; default: the last JSON object line (Claude Code's result shape). */
  reader?: OutputReader;
  /** Called with the report so far (secrets redacted) after each line that changed it. */
  onProgress?: (report: AgentReport) => void;
  /** Stop the agent once it starts a turn past this many (for CLIs without a turn limit of their own). */
  turnLimit?: number | null;
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
  /** The agent was stopped at its turn limit (by Damascus, or by its CLI's own limit). */
  turnLimited: boolean;
  /** The run was cancelled through `signal`. */
  aborted: boolean;
  /** The agent could not be started at all (e.g. the command does not exist): an infrastructure fault. */
  spawnError: string | null;
  /** Judged by the exit code and what the CLI reported (is_error, its stop), never by a subtype's wording. */
  isError: boolean;
  /** What the CLI reported (secrets redacted). */
  report: AgentReport;
  /** null: unknown (neither a reported cost nor a price for its tokens). */
  costUsd: number | null;
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
  const whole = jsonObjectLine(stdout);
  if (whole) return whole;
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const v = jsonObjectLine(lines[i] ?? '');
    if (v) return v;
  }
  return null;
}

/** Where a run's verdict file is: the agent may write it, so it is read without following links. */
export function verdictFilePath(stateDir: string): string {
  return join(stateDir, 'out', VERDICT_FILE);
}

const VERDICT_MAX_BYTES = 64 * 1024;

/**
 * The verdict file's text, read as Damascus: never through a symlink (O_NOFOLLOW), never from a FIFO or device
 * (O_NONBLOCK, then a regular-file check), and at most 64 KiB. The agent wrote the directory it lives in.
 */
async function readAgentFile(path: string): Promise<string> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error('it is not a regular file');
    if (st.size > VERDICT_MAX_BYTES) throw new Error(`it is over ${VERDICT_MAX_BYTES} bytes`);
    const buf = Buffer.alloc(VERDICT_MAX_BYTES);
    const { bytesRead } = await fh.read(buf, 0, VERDICT_MAX_BYTES, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** Read and check the verdict file. Absent → null; present but unusable → an error saying why. */
export async function readVerdictFile(path: string): Promise<{ verdict: AgentVerdictFile | null; error: string | null }> {
  let text: string;
  try {
    text = await readAgentFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { verdict: null, error: null };
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') return { verdict: null, error: 'verdict file unreadable: it is a symbolic link' };
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

/** Write the preset's configuration files under HOME; a path that leaves HOME is a bug, refused. */
async function writeHomeFiles(home: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const path = resolve(home, rel);
    if (relative(home, path).startsWith('..')) throw new Error(`runAgent: home file ${rel} is outside HOME`);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, text, { mode: 0o644 });
  }
}

/** Run a system tool to completion; a non-zero exit is an error quoting what it printed. */
function runTool(file: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${file} failed: ${err.trim().slice(0, 300)}`))));
  });
}

/** Change the owner of a tree without following links (a link the agent planted must not hand over its target). */
function chownTree(paths: readonly string[], uid: number, gid: number): Promise<void> {
  return runTool('chown', ['-R', '-h', `${uid}:${gid}`, '--', ...paths]);
}

interface Prepared {
  argv: string[];
  env: Record<string, string>;
  proxy: EgressProxy | null;
  /** Undo what preparing did (ownership back to Damascus, the proxy closed). */
  finish(): Promise<void>;
}

/** The sandbox around one run: its private files, ownership for the agent's user, the egress proxy, the argv. */
async function prepareSandbox(o: RunAgentOptions, stateDir: string, home: string, env: Record<string, string>): Promise<Prepared> {
  const sb = o.sandbox!;
  const id = agentIdentity(sb.settings);
  const out = join(stateDir, 'out');
  const passwdFile = join(stateDir, 'passwd');
  const groupFile = join(stateDir, 'group');
  await writeFile(passwdFile, `agent:x:${id.uid}:${id.gid}:damascus agent:${home}:/bin/sh\n`, { mode: 0o644 });
  await writeFile(groupFile, `agent:x:${id.gid}:\n`, { mode: 0o644 });
  // The agent's own git may read the project's clone (bound read-only, owned by Damascus): inside its sandbox,
  // that ownership is no sign of an attack, so git's dubious-ownership check is turned off for it alone.
  await writeFile(join(home, '.gitconfig'), '[safe]\n\tdirectory = *\n', { mode: 0o644 });
  // Inputs are the story's own text: readable by the agent's user, never writable (bound read-only).
  await runTool('chmod', ['-R', 'a+rX', '--', o.inputDir]);
  const allow = allowedTargets(sb.allowHosts);
  let proxy: EgressProxy | null = null;
  let sockDir: string | null = null;
  if (allow.size > 0) {
    // Unix socket paths are short (108 bytes): a private directory under the system's tmp.
    sockDir = await mkdtemp(join(tmpdir(), 'damascus-egress-'));
    proxy = await startEgressProxy({ socketPath: join(sockDir, 'egress.sock'), allow, log: o.log });
    Object.assign(env, proxyEnv());
  }
  try {
    if (id.ownUser) await chownTree([o.cwd, home, out], id.uid, id.gid);
  } catch (e) {
    await proxy?.close();
    throw e;
  }
  const argv = sandboxArgv(
    { ...sb.settings, readPaths: [...sb.settings.readPaths, ...sb.readPaths] },
    { worktree: o.cwd, inputDir: o.inputDir, writable: [home, out], home, proxySocket: proxy?.socketPath ?? null, passwdFile, groupFile },
    o.command,
  );
  return {
    argv,
    env,
    proxy,
    async finish() {
      await proxy?.close();
      if (sockDir) await rm(sockDir, { recursive: true, force: true });
      if (id.ownUser) await chownTree([o.cwd, home, out], process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    },
  };
}

/**
 * Run the coding agent once: no shell, its own process group, a sanitized environment with a private HOME,
 * in the sandbox unless the operator turned it off, and a wall-clock limit after which the whole group is killed. Never throws for agent failures.
 */
export async function runAgent(o: RunAgentOptions): Promise<AgentRun> {
  if (!o.command[0]) throw new Error('runAgent: empty command');
  const stateDir = o.stateDir ?? o.inputDir;
  const home = join(stateDir, 'home');
  const verdictFile = verdictFilePath(stateDir);
  await mkdir(home, { recursive: true, mode: 0o700 });
  await mkdir(join(stateDir, 'out'), { recursive: true, mode: 0o700 });
  await rm(verdictFile, { force: true });
  await writeHomeFiles(home, o.homeFiles ?? {});
  const baseEnv = { ...sanitizeAgentEnv(o.env, { allow: o.allowEnv ?? [], home }), ...(o.extraEnv ?? {}) };
  baseEnv.DAMASCUS_AGENT_INPUT_DIR = o.inputDir;
  baseEnv.DAMASCUS_AGENT_VERDICT_FILE = verdictFile;
  // Everything that looked secret in the base env, including allowed keys: none may reach a comment or a log.
  const secrets = secretValues(o.env);
  const prepared: Prepared = o.sandbox
    ? await prepareSandbox(o, stateDir, home, baseEnv)
    : { argv: [...o.command], env: baseEnv, proxy: null, finish: async () => {} };
  const [file, ...args] = prepared.argv as [string, ...string[]];
  const env = prepared.env;

  const stdout = new Tail(STDOUT_KEEP);
  const stderr = new Tail(TAIL);
  let timedOut = false;
  let turnLimited = false;
  let aborted = false;
  let spawnError: string | null = null;
  const graceMs = o.killGraceMs ?? 5_000;

  const reader = o.reader ?? resultJsonReader();
  let partial = '';
  let lastSeen = '';
  let killing: Promise<void> | null = null;
  const killAll = (): Promise<void> => (killing ??= child.pid ? killGroup(child.pid, graceMs) : Promise.resolve());
  const readLine = (line: string): void => {
    if (line.trim() === '') return;
    try {
      reader.line(line);
    } catch (e) {
      // The agent's output is untrusted: a line the reader chokes on is skipped, never a crash of the worker.
      o.log.warn({ error: (e as Error).message }, 'agent output line not understood');
      return;
    }
    const report = reader.report();
    // Past its limit: it has had its turns and started one more.
    const past = o.turnLimit != null && ((report.turns !== null && report.turns > o.turnLimit && report.stop === null) || report.stop === 'turn_limit');
    if (past && !turnLimited) {
      turnLimited = true;
      o.log.info({ turns: report.turns, limit: o.turnLimit }, 'agent stopped at its turn limit');
      void killAll();
    }
    if (!o.onProgress) return;
    const seen = JSON.stringify(report);
    if (seen !== lastSeen) {
      lastSeen = seen;
      o.onProgress(redactDeep(report, secrets));
    }
  };
  const startedAt = Date.now();
  const child = spawn(file, args, { cwd: o.cwd, env, shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => {
    stdout.push(c);
    // A line longer than the tail keeps (a huge tool result) is dropped rather than held in memory.
    const lines = (partial + c.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > STDOUT_KEEP) partial = '';
    for (const line of lines) readLine(line);
  });
  child.stderr.on('data', (c: Buffer) => stderr.push(c));
  o.log.info({ agent: o.command[0], sandbox: Boolean(o.sandbox), pid: child.pid, timeoutMs: o.timeoutMs }, 'agent started');

  const exited = new Promise<{ code: number | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e.message;
      resolve({ code: null });
    });
    child.once('exit', (code) => resolve({ code }));
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

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
  readLine(partial);
  await prepared.finish();

  const out = stdout.value();
  // The sandbox's init could not start the agent's program: as much an infrastructure fault as a failed spawn.
  const innerSpawn = o.sandbox && code === 127 ? /damascus sandbox: cannot start (.*)/.exec(stderr.value()) : null;
  if (innerSpawn) spawnError = innerSpawn[1] ?? 'the agent could not be started in the sandbox';
  const raw = redactDeep(lastJsonObject(out), secrets);
  const { verdict, error: verdictFileError } = await readVerdictFile(verdictFile);
  let report = reader.report();
  // A command that printed its report as one (pretty-printed) JSON document, not as a line of its own.
  if (report.stop === null && !o.reader && raw) report = reportFromResult(raw, report);
  report = redactDeep(report, secrets);
  if (report.stop === 'turn_limit') turnLimited = true;
  const isError =
    spawnError !== null || timedOut || aborted || turnLimited || code !== 0 || raw?.is_error === true || report.stop === 'error' || report.stop === 'model_api';
  const result = redactSecrets(report.result ?? (typeof raw?.result === 'string' ? raw.result : out.slice(-TAIL)), secrets);
  const run: AgentRun = {
    pid: child.pid ?? null,
    exitCode: code,
    timedOut,
    turnLimited,
    aborted,
    spawnError,
    isError,
    report,
    costUsd: report.costUsd,
    numTurns: report.turns,
    result,
    raw,
    verdictFile: redactDeep(verdict, secrets),
    verdictFileError,
    stdoutTail: redactSecrets(out.slice(-TAIL), secrets),
    stderrTail: redactSecrets(stderr.value(), secrets),
  };
  o.log.info(
    {
      agent: o.command[0],
      agentMs: Date.now() - startedAt,
      exitCode: code,
      timedOut,
      turnLimited,
      aborted,
      isError,
      stop: report.stop,
      costUsd: report.costUsd,
      turns: report.turns,
      spawnError,
      egressRefused: prepared.proxy?.refused.length ?? 0,
    },
    'agent finished',
  );
  return run;
}
