/**
 * A stand-in for act_runner running the review workflow on a workflow dispatch: it reads the workflow
 * file from the dispatched ref, evaluates the `${{ inputs.* }}`, `${{ secrets.* }}` and
 * `${{ github.token }}` expressions of its two steps (so a workflow that passes the wrong inputs makes
 * the run fail, as it would on a real runner), checks out the head the checkout step names (a real
 * `git clone` + `git checkout` of the bare repo, like actions/checkout with persist-credentials: false),
 * and starts the bundled Action (`node action/dist/index.js`) there with the step's `with:` values as
 * INPUT_* variables (action.yml defaults for the rest), the GITHUB_* / GITEA_* job environment and
 * empty file-command files. The Action itself posts the signed result to the orchestrator and the
 * commit status to Gitea.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { load } from 'js-yaml';
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
  /** What the checkout step checks out. */
  checkoutRef: string;
  /** The Action step's inputs after expression evaluation, with action.yml defaults filled in. */
  inputs: Record<string, string>;
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

/** The two steps of the review workflow, as a runner would resolve them for this dispatch. */
export function planWorkflowRun(workflowText: string, d: DispatchLike, secrets: Map<string, string>, jobToken: string): WorkflowPlan {
  const doc = load(workflowText) as {
    on?: { workflow_dispatch?: { inputs?: Record<string, { required?: boolean; default?: unknown }> } };
    jobs?: Record<string, { steps?: Step[] }>;
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
  const ctx = { inputs, secrets, githubToken: jobToken };
  const checkout = steps.find((s) => s.uses?.startsWith('actions/checkout@'));
  const action = steps.find((s) => s.uses !== undefined && !s.uses.startsWith('actions/checkout@'));
  if (!checkout || !action) throw new Error('runAction: the workflow needs a checkout step and the review Action step');
  if (steps.some((s) => s.run !== undefined)) throw new Error('runAction: the review workflow must have no run: steps');
  const checkoutRef = evaluate(String(checkout.with?.ref ?? d.sha), ctx);

  const actionYml = load(readFileSync(join(ACTION_DIR, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: unknown; required?: boolean }> };
  const stepInputs: Record<string, string> = {};
  for (const [name, spec] of Object.entries(actionYml.inputs)) {
    const raw = action.with?.[name];
    if (raw !== undefined) stepInputs[name] = evaluate(String(raw), ctx);
    else if (spec.default !== undefined) stepInputs[name] = evaluate(String(spec.default), ctx);
  }
  const unknown = Object.keys(action.with ?? {}).filter((k) => !(k in actionYml.inputs));
  if (unknown.length > 0) throw new Error(`runAction: the Action has no input ${unknown.join(', ')}`);
  return { checkoutRef, inputs: stepInputs };
}

export interface RunActionOptions {
  /** The repository's bare git directory (the simulated Gitea's). */
  bareRepo: string;
  dispatch: DispatchLike;
  /** The repository's Actions secrets (name → value). */
  secrets: Map<string, string>;
  /** Gitea server root (GITHUB_SERVER_URL); the API is `${serverUrl}/api/v1`. */
  serverUrl: string;
  /** The job token (`${{ github.token }}`). */
  jobToken: string;
  /** Overrides of the step's inputs after evaluation (e.g. a shorter delivery-timeout-seconds). */
  inputOverrides?: Record<string, string>;
  /** Hard limit for the whole step; the Action's process group is killed after it. */
  killAfterMs?: number;
}

export interface ActionRunResult {
  exitCode: number | null;
  /** The Action's log (stdout + stderr). */
  log: string;
  /** Parsed GITHUB_OUTPUT (`passed`, `exit-code`). */
  outputs: Record<string, string>;
  summary: string;
  /** The commit that was checked out and tested. */
  checkedOut: string;
  inputs: Record<string, string>;
  runId: number;
}

/** Parse a GITHUB_OUTPUT file: `name<<DELIM\nvalue\nDELIM` blocks, as @actions/core writes them. */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) out[m[1]!] = m[3]!;
  return out;
}

/** Run the review workflow for one dispatch, as act_runner would; resolves when the job has finished. */
export async function runReviewWorkflow(o: RunActionOptions): Promise<ActionRunResult> {
  const d = o.dispatch;
  const { stdout: workflowText } = await run('git', ['--git-dir', o.bareRepo, 'show', `${d.sha}:.gitea/workflows/${d.workflow}`], { timeout: 30_000 });
  const plan = planWorkflowRun(workflowText, d, o.secrets, o.jobToken);
  const inputs = { ...plan.inputs, ...o.inputOverrides };
  const root = await mkdtemp(join(tmpdir(), 'damascus-runner-'));
  const workspace = join(root, 'workspace');
  const files = join(root, 'files');
  try {
    await run('git', ['clone', '--quiet', '--no-checkout', `file://${o.bareRepo}`, workspace], { timeout: 30_000 });
    await run('git', ['-C', workspace, 'checkout', '--quiet', '--detach', plan.checkoutRef], { timeout: 30_000 });
    const { stdout: checkedOut } = await run('git', ['-C', workspace, 'rev-parse', 'HEAD'], { timeout: 30_000 });
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
      GITHUB_RUN_ID: String(d.runId),
      GITHUB_RUN_ATTEMPT: '1',
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

    const child = spawn(process.execPath, [ACTION_DIST], { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
      checkedOut: checkedOut.trim(),
      inputs,
      runId: d.runId,
    };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
