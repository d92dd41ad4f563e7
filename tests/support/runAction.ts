/**
 * A stand-in for act_runner running the review workflow on a workflow dispatch: it reads the workflow file from
 * the dispatched ref (in the folder Gitea reads: .gitea/workflows if it exists, else .github/workflows), evaluates
 * the `${{ inputs.* }}`, `${{ secrets.* }}` and `${{ github.token }}` expressions of its one step (so a workflow
 * that passes the wrong inputs makes the run fail, as it would on a real runner), fetches the step's Action from
 * the `uses:` URL at its pinned commit, as act does (anonymously, from the Gitea that serves it), and starts it
 * (`node <action>/<runs.main>`) in an empty workspace with the step's `with:` values as INPUT_* variables
 * (action.yml defaults for the rest), the GITHUB_* / GITEA_* job environment and empty file-command files. The
 * Action itself fetches the head, posts the signed result to the orchestrator and the commit status to Gitea.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { ROOT } from './cli.js';
import type { SimDispatch } from './giteaSim/state.js';

const run = promisify(execFile);

export const ACTION_DIR = join(ROOT, 'action');
export const ACTION_DIST = join(ACTION_DIR, 'dist', 'index.js');

/** What the runner needs of a dispatch: the simulated Gitea's record of it, whoever sent it. */
export type DispatchLike = Omit<SimDispatch, 'sender'>;

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

export interface WorkflowPlan {
  /** The step's `uses:` split into the Action repository's URL and the pinned ref. */
  actionUrl: string;
  actionRef: string;
  /** The Action step's inputs after expression evaluation, with action.yml defaults filled in. */
  inputs: Record<string, string>;
  /** The job's `runs-on`. */
  runsOn: string;
}

/** Evaluate `${{ … }}` in one value: inputs (with the workflow's declared defaults), secrets and github.token only. */
function evaluate(value: string, ctx: { inputs: Record<string, string>; secrets: Map<string, string>; githubToken: string }): string {
  return value.replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_all, expr: string) => {
    let m = /^inputs\.([A-Za-z0-9_-]+)$/.exec(expr);
    if (m) return ctx.inputs[m[1]!] ?? '';
    m = /^secrets\.([A-Za-z0-9_]+)$/.exec(expr);
    if (m) return ctx.secrets.get(m[1]!) ?? ''; // a missing secret is the empty string, as on a runner
    if (expr === 'github.token') return ctx.githubToken;
    throw new Error(`runAction: unsupported expression \${{ ${expr} }}`);
  });
}

/**
 * The review workflow's one step, as a runner would resolve it for this dispatch. `actionYml` is the action.yml of
 * the Action the step names (for its input defaults).
 */
export function planWorkflowRun(workflowText: string, d: DispatchLike, secrets: Map<string, string>, jobToken: string, actionYml: string): WorkflowPlan {
  const doc = parse(workflowText) as {
    on?: { workflow_dispatch?: { inputs?: Record<string, { required?: boolean; default?: unknown }> } };
    jobs?: Record<string, { 'runs-on'?: string; steps?: Step[] }>;
  } | null;
  const declared = doc?.on?.workflow_dispatch?.inputs ?? {};
  const inputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(declared)) {
    const given = d.inputs[name];
    if (given === undefined && spec?.required) throw new Error(`runAction: required input ${name} was not dispatched`);
    inputs[name] = given ?? (spec?.default === undefined ? '' : String(spec.default));
  }
  const undeclared = Object.keys(d.inputs).filter((k) => !(k in declared));
  if (undeclared.length > 0) throw new Error(`runAction: the workflow declares no input ${undeclared.join(', ')}`);
  const jobs = Object.values(doc?.jobs ?? {});
  if (jobs.length !== 1) throw new Error(`runAction: expected one job, found ${jobs.length}`);
  const steps = jobs[0]!.steps ?? [];
  if (steps.length !== 1 || steps[0]!.uses === undefined) throw new Error('runAction: the review workflow must be one step that uses the Action');
  const step = steps[0]!;
  const uses = /^(https?:\/\/.+)@([0-9a-f]{40}|[A-Za-z0-9][A-Za-z0-9._/-]*)$/.exec(step.uses!);
  if (!uses) throw new Error(`runAction: uses: must be a full URL and ref (got ${step.uses})`);
  const ctx = { inputs, secrets, githubToken: jobToken };
  const manifest = parse(actionYml) as { inputs: Record<string, { default?: unknown; required?: boolean }> };
  const stepInputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(manifest.inputs)) {
    const raw = step.with?.[name];
    if (raw !== undefined) stepInputs[name] = evaluate(String(raw), ctx);
    else if (spec.default !== undefined) stepInputs[name] = evaluate(String(spec.default), ctx);
  }
  const unknown = Object.keys(step.with ?? {}).filter((k) => !(k in manifest.inputs));
  if (unknown.length > 0) throw new Error(`runAction: the Action has no input ${unknown.join(', ')}`);
  return { actionUrl: uses[1]!, actionRef: uses[2]!, inputs: stepInputs, runsOn: String(jobs[0]!['runs-on'] ?? '') };
}

export interface RunActionOptions {
  /** The repository's bare git directory (the simulated Gitea's), to read the workflow file from. */
  bareRepo: string;
  dispatch: DispatchLike;
  /** The repository's Actions secrets (name → value). */
  secrets: Map<string, string>;
  /** Gitea server root (GITHUB_SERVER_URL, the address the runner registered with); the API is `${serverUrl}/api/v1`. */
  serverUrl: string;
  /** The job token (`${{ github.token }}`). */
  jobToken: string;
  /** Overrides of the step's inputs after evaluation (e.g. a shorter delivery-timeout-seconds). */
  inputOverrides?: Record<string, string>;
  /** Hard limit for the whole step; the Action's process group is killed after it. */
  killAfterMs?: number;
  /** The task id a real runner's ACTIONS_RUNTIME_TOKEN would name (default: the run id). A re-run is a new task. */
  taskId?: number;
}

export interface ActionRunResult {
  exitCode: number | null;
  /** The Action's log (stdout + stderr). */
  log: string;
  /** Parsed GITHUB_OUTPUT (`passed`, `exit-code`). */
  outputs: Record<string, string>;
  summary: string;
  inputs: Record<string, string>;
  runId: number;
  /** The Action the step used: its repository URL and pinned ref. */
  action: { url: string; ref: string };
}

/** Parse a GITHUB_OUTPUT file: `name<<DELIM\nvalue\nDELIM` blocks, as @actions/core writes them. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out[m[1]!] = m[3]!;
  return out;
}

/** The workflow file as Gitea reads it for this commit: .gitea/workflows when that folder exists, else .github/workflows. */
async function workflowText(bare: string, sha: string, file: string): Promise<string> {
  const { stdout } = await run('git', ['--git-dir', bare, 'ls-tree', '--name-only', sha, '.gitea/workflows'], { timeout: 30_000 });
  const dir = stdout.trim() !== '' ? '.gitea/workflows' : '.github/workflows';
  return (await run('git', ['--git-dir', bare, 'show', `${sha}:${dir}/${file}`], { timeout: 30_000 })).stdout;
}

/** act's remote action: cloned without a token from the `uses:` URL, at the pinned ref. */
async function fetchAction(url: string, ref: string, into: string): Promise<void> {
  await run('git', ['init', '-q', into], { timeout: 30_000 });
  await run('git', ['-C', into, 'fetch', '-q', '--depth=1', url, ref], {
    timeout: 60_000,
    env: { PATH: process.env.PATH, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
  });
  await run('git', ['-C', into, '-c', 'advice.detachedHead=false', 'checkout', '-q', 'FETCH_HEAD'], { timeout: 30_000 });
}

/** A runtime token shaped like Gitea's (only its TaskID claim is read by the Action). */
function runtimeToken(taskId: number): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ TaskID: taskId, RunID: 0, JobID: 0 })}.sig`;
}

/** Run the review workflow for one dispatch, as act_runner would; resolves when the job has finished. */
export async function runReviewWorkflow(o: RunActionOptions): Promise<ActionRunResult> {
  const d = o.dispatch;
  const text = await workflowText(o.bareRepo, d.sha, d.workflow);
  const root = await mkdtemp(join(tmpdir(), 'damascus-runner-'));
  // Searchable by others, as act's /workspace is: the Action runs the test command as an unprivileged uid.
  await chmod(root, 0o711);
  const workspace = join(root, 'workspace');
  const actionDir = join(root, 'action');
  const files = join(root, 'files');
  try {
    const doc = parse(text) as { jobs?: Record<string, { steps?: Step[] }> };
    const uses = Object.values(doc.jobs ?? {})[0]?.steps?.[0]?.uses ?? '';
    const at = uses.lastIndexOf('@');
    if (at < 0) throw new Error(`runAction: uses: ${uses} names no ref`);
    await fetchAction(uses.slice(0, at), uses.slice(at + 1), actionDir);
    const plan = planWorkflowRun(text, d, o.secrets, o.jobToken, await readFile(join(actionDir, 'action.yml'), 'utf8'));
    const manifest = parse(await readFile(join(actionDir, 'action.yml'), 'utf8')) as { runs: { using: string; main: string } };
    if (!/^node(20|24)$/.test(manifest.runs.using)) throw new Error(`runAction: runs.using ${manifest.runs.using} is not a node action`);
    const inputs = { ...plan.inputs, ...o.inputOverrides };
    await mkdir(workspace, { recursive: true });
    await mkdir(files, { recursive: true });
    const outputFile = join(files, 'output');
    const summaryFile = join(files, 'summary');
    await writeFile(outputFile, ''); // act creates the file-command files empty before the step runs
    await writeFile(summaryFile, '');
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: root,
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITEA_ACTIONS: 'true',
      GITHUB_WORKSPACE: workspace,
      GITHUB_REPOSITORY: `${d.owner}/${d.repo}`,
      // Gitea: the run's database id and its number; act sets no GITHUB_RUN_ATTEMPT (FACTS §0).
      GITHUB_RUN_ID: String(d.runId),
      GITHUB_RUN_NUMBER: String(d.runNumber),
      ACTIONS_RUNTIME_TOKEN: runtimeToken(o.taskId ?? d.runId),
      GITHUB_SHA: d.sha,
      GITHUB_REF: d.ref.startsWith('refs/') ? d.ref : `refs/heads/${d.ref}`,
      GITHUB_EVENT_NAME: 'workflow_dispatch',
      GITHUB_SERVER_URL: o.serverUrl,
      GITHUB_API_URL: `${o.serverUrl}/api/v1`,
      GITHUB_OUTPUT: outputFile,
      GITEA_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITEA_STEP_SUMMARY: summaryFile,
    };
    for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;

    const child = spawn(process.execPath, [join(actionDir, manifest.runs.main)], { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    const killer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, o.killAfterMs ?? 90_000);
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    clearTimeout(killer);
    const read = async (f: string) => (existsSync(f) ? readFile(f, 'utf8') : '');
    return {
      exitCode,
      log: Buffer.concat(chunks).toString('utf8'),
      outputs: parseOutputFile(await read(outputFile)),
      summary: await read(summaryFile),
      inputs,
      runId: d.runId,
      action: { url: plan.actionUrl, ref: plan.actionRef },
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
