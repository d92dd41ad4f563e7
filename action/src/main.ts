/**
 * The review Action: run the test command on the checked-out head, post a signed result to Damascus,
 * set a damascus/review commit status, write a step summary, and fail the job when the tests failed
 * (unless told not to) or the result could not be delivered.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import * as core from '@actions/core';
import { stripNul, type ReviewResult } from '../../src/domain/reviewResult.js';
import { checkoutHead } from './checkout.js';
import { deliverResult, type DeliveryOutcome } from './deliver.js';
import { type ActionConfig, parseInputs } from './inputs.js';
import { bwrapWorks, chooseIsolation, prepareSandbox } from './isolation.js';
import { findJUnitFiles, summarizeJUnit } from './junit.js';
import { collectSecrets, maskTail, SECRET_NAME } from './mask.js';
import { runCommand, type RunOutcome } from './runCommand.js';
import { type CommitState, postCommitStatus } from './status.js';
import { writeSummary } from './summary.js';
import { TailBuffer } from './tail.js';

export const TAIL_LIMIT = 64 * 1024;
/** Reports written in the same second the command started still count (coarse file clocks). */
const MTIME_SLACK_MS = 2_000;
/** Runner file commands the test command must not write to (it could forge this step's outputs). */
const RUNNER_FILE_VARS = ['OUTPUT', 'ENV', 'PATH', 'STATE', 'STEP_SUMMARY'].flatMap((n) => [`GITHUB_${n}`, `GITEA_${n}`]);

type Env = NodeJS.ProcessEnv;

/** Gitea's act sets both names; accept a runner that sets only the GITEA_ one. */
function aliasGiteaFileCommands(env: Env): void {
  for (const name of ['OUTPUT', 'STEP_SUMMARY']) {
    if (!env[`GITHUB_${name}`] && env[`GITEA_${name}`]) env[`GITHUB_${name}`] = env[`GITEA_${name}`];
  }
}

/** Whether a job variable must not reach the test command: this step's inputs (they hold the secrets), tokens, file commands. */
function withheld(name: string): boolean {
  return name.startsWith('INPUT_') || name.startsWith('ACTIONS_ID_TOKEN_REQUEST_') || SECRET_NAME.test(name) || RUNNER_FILE_VARS.includes(name);
}

/** The test command's environment: the job's, less every withheld variable, with a fresh HOME. */
function commandEnv(env: Env, cfg: ActionConfig, home: string): Env {
  const out: Env = {};
  for (const [k, v] of Object.entries(env)) if (!withheld(k)) out[k] = v;
  out.HOME = home;
  out.DAMASCUS_WORK_ITEM = String(cfg.workItem);
  out.DAMASCUS_HEAD_SHA = cfg.headSha;
  return out;
}

function describeRun(run: RunOutcome, cfg: ActionConfig): string {
  if (run.spawnError) return `the test command could not be started: ${run.spawnError}`;
  if (run.timedOut) return `the test command timed out after ${cfg.timeoutMs / 60_000} minutes and was killed`;
  if (run.exitCode === null) return `the test command was killed by ${run.signal ?? 'a signal'}`;
  return run.exitCode === 0 ? 'the tests passed' : `the tests failed (exit code ${run.exitCode})`;
}

function describeDelivery(d: DeliveryOutcome, url: string): string {
  if (d.ok) return `delivered to Damascus (HTTP ${d.status}, ${d.attempts} attempt${d.attempts === 1 ? '' : 's'})`;
  if (d.kind === 'refused') return `the orchestrator refused the result (HTTP ${d.status}): ${d.responseBody || '(empty body)'}`;
  return `the result could not be delivered to ${url} after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}: ${d.lastError}`;
}

async function run(): Promise<void> {
  aliasGiteaFileCommands(process.env);
  let cfg: ActionConfig;
  try {
    cfg = parseInputs((name) => core.getInput(name), process.env);
  } catch (err) {
    core.setFailed(`Damascus review: ${(err as Error).message}`);
    return;
  }
  const secrets = collectSecrets([cfg.token, cfg.giteaToken], process.env);
  for (const s of secrets) core.setSecret(s);
  const choice = chooseIsolation(cfg.isolation, cfg.testUser, { isRoot: process.getuid?.() === 0, bwrapWorks });
  if (!choice.ok) {
    core.setFailed(`Damascus review: ${choice.reason}; nothing was run or reported`);
    return;
  }
  const isolation = choice.isolation;
  if (isolation.kind === 'none') core.warning('isolation: none: the test command runs unisolated and can read the callback secret and the job token');

  // A pass reported for head-sha lets Damascus merge head-sha: the Action checks out exactly that commit itself.
  const checkout = checkoutHead({
    serverUrl: cfg.serverUrl,
    repository: cfg.repository,
    headSha: cfg.headSha,
    pullRequest: cfg.pullRequest,
    token: cfg.giteaToken,
    dir: cfg.workspace,
  });
  if (!checkout.ok) {
    core.setFailed(`Damascus review: ${checkout.reason}; nothing was run or reported`);
    return;
  }
  const cwd = resolve(cfg.workspace, cfg.workingDirectory);
  const prepared = prepareSandbox(isolation, cfg.workspace, cwd, process.env.HOME);
  if (!prepared.ok) {
    core.setFailed(`Damascus review: ${prepared.reason}; nothing was run or reported`);
    return;
  }
  const sandbox = prepared.sandbox;
  const longestSecret = secrets.reduce((m, s) => Math.max(m, Buffer.byteLength(s)), 0);
  const tail = new TailBuffer(TAIL_LIMIT + longestSecret);
  const isolationText =
    isolation.kind === 'user'
      ? `as uid ${isolation.uid}${isolation.bwrap ? ' in bubblewrap' : ''}`
      : isolation.kind === 'bwrap'
        ? 'in bubblewrap'
        : 'unisolated';
  core.info(`Damascus review of work item #${cfg.workItem} at ${cfg.headSha} in ${cwd}, ${isolationText} (timeout ${cfg.timeoutMs / 60_000} min)`);

  const launch = sandbox.launch(cfg.testCommand, cwd);
  // The output is untrusted: stop the runner from reading workflow commands (::set-output:: …) in it.
  const resumeToken = randomBytes(16).toString('hex');
  process.stdout.write(`::stop-commands::${resumeToken}\n`);
  const started = Date.now();
  let endsWithNewline = true;
  const outcome = await runCommand({
    launch,
    cwd,
    env: commandEnv(process.env, cfg, sandbox.home),
    timeoutMs: cfg.timeoutMs,
    onOutput: (chunk) => {
      process.stdout.write(chunk);
      tail.push(chunk);
      endsWithNewline = chunk[chunk.length - 1] === 0x0a;
    },
  });
  sandbox.dispose();
  // The resume command must start its own line.
  process.stdout.write(`${endsWithNewline ? '' : '\n'}::${resumeToken}::\n`);
  const runVerdict = describeRun(outcome, cfg);
  core.info(`Damascus review: ${runVerdict} (${outcome.durationMs} ms)`);

  const junitFiles = findJUnitFiles(cwd, cfg.junitPatterns, started - MTIME_SLACK_MS);
  const tests = summarizeJUnit(junitFiles, (msg) => core.warning(msg));
  let outputTail = maskTail(tail.bytes(), secrets, TAIL_LIMIT);
  if (outcome.spawnError) outputTail += `\n[damascus] ${runVerdict}\n`;

  const passed = outcome.spawnError === null && !outcome.timedOut && outcome.exitCode === 0;
  const result: ReviewResult = stripNul({
    version: 1,
    workItem: cfg.workItem,
    repository: cfg.repository,
    headSha: cfg.headSha,
    runId: cfg.runId,
    runUrl: cfg.runUrl,
    dispatch: cfg.dispatch || null,
    passed,
    exitCode: outcome.exitCode,
    timedOut: outcome.timedOut,
    durationMs: outcome.durationMs,
    outputTail,
    outputTruncated: tail.totalBytes > TAIL_LIMIT,
    tests,
  });

  core.setOutput('passed', String(passed));
  core.setOutput('exit-code', outcome.exitCode === null ? '' : String(outcome.exitCode));

  const delivery = await deliverResult({
    url: cfg.resultsUrl,
    secret: cfg.token,
    repository: cfg.repository,
    body: JSON.stringify(result),
    totalTimeoutMs: cfg.deliveryTimeoutMs,
    log: (msg) => core.info(msg),
  });
  const deliveryText = describeDelivery(delivery, cfg.resultsUrl);
  core.info(`Damascus review: ${deliveryText}`);

  await reportStatus(cfg, result, delivery, runVerdict);
  await writeSummarySafely(result, deliveryText);

  const failures: string[] = [];
  if (!passed && cfg.failOnTestFailure) failures.push(runVerdict);
  if (!delivery.ok) failures.push(deliveryText);
  if (failures.length > 0) core.setFailed(`Damascus review: ${failures.join('; and ')}`);
}

async function reportStatus(cfg: ActionConfig, result: ReviewResult, delivery: DeliveryOutcome, runVerdict: string): Promise<void> {
  if (!cfg.apiUrl || !cfg.giteaToken) {
    core.warning('No commit status posted: GITHUB_API_URL or the gitea-token input is missing.');
    return;
  }
  let state: CommitState = result.passed ? 'success' : 'failure';
  let description = runVerdict;
  if (result.tests && result.tests.failed > 0) description += `, ${result.tests.failed} of ${result.tests.total} tests failed`;
  if (!delivery.ok) {
    state = 'error';
    description = `${runVerdict}, but Damascus did not accept the result`;
  }
  const problem = await postCommitStatus({
    apiUrl: cfg.apiUrl,
    repository: cfg.repository,
    sha: cfg.headSha,
    token: cfg.giteaToken,
    state,
    description,
    targetUrl: cfg.runUrl,
  });
  if (problem) core.warning(`Could not post the damascus/review commit status: ${problem}`);
}

async function writeSummarySafely(result: ReviewResult, deliveryText: string): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return;
  try {
    await writeSummary(result, deliveryText);
  } catch (err) {
    core.warning(`Could not write the step summary: ${(err as Error).message}`);
  }
}

run().catch((err: unknown) => {
  core.setFailed(`Damascus review crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
});
