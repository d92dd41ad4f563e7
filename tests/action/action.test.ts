/**
 * The bundled Action run as act_runner runs it (see harness.ts), against a receiver that verifies the
 * signature with the server's verifier and validates the body with parseReviewResult.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CALLBACK_TOKEN,
  HEAD_SHA,
  JOB_TOKEN,
  MOVED_SHA,
  REPO,
  baseInputs,
  runtimeToken,
  isAlive,
  processesNamed,
  removeWorkspaces,
  runAction,
  startGiteaStatuses,
  startReceiver,
  type Receiver,
} from './harness.js';

let gitea: Awaited<ReturnType<typeof startGiteaStatuses>>;
const receivers: Receiver[] = [];

async function receiver(script?: Parameters<typeof startReceiver>[1]): Promise<Receiver> {
  const r = await startReceiver(CALLBACK_TOKEN, script);
  receivers.push(r);
  return r;
}

function giteaEnv(): Record<string, string> {
  return { GITHUB_API_URL: gitea.apiUrl, GITHUB_SERVER_URL: gitea.serverUrl };
}

beforeAll(async () => {
  gitea = await startGiteaStatuses();
});
beforeEach(() => {
  gitea.calls.length = 0;
});
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await gitea.close();
  removeWorkspaces();
});

describe('the review Action, run like act_runner runs it', () => {
  test('a passing command: signed result delivered, outputs set, success status, summary written, job succeeds', async () => {
    const r = await receiver();
    const run = await runAction({ inputs: baseInputs(r.url, { 'test-command': 'echo "all good"; echo "to stderr" >&2' }), env: giteaEnv() });

    expect(run.exitCode).toBe(0);
    expect(r.results).toHaveLength(1);
    const got = r.results[0]!;
    expect(got.signatureValid).toBe(true);
    expect(got.contentType).toBe('application/json');
    expect(got.deliveryId).toMatch(/^[0-9a-f-]{36}$/);
    const result = r.accepted();
    expect(result).toMatchObject({
      version: 1,
      workItem: 42,
      repository: REPO,
      headSha: HEAD_SHA,
      // Gitea keeps the run id across re-runs: the task the runtime token names makes each execution a new result.
      runId: '77-task-901',
      // The web route takes the run number, not the database id.
      runUrl: `${gitea.serverUrl}/${REPO}/actions/runs/5?by_index=1`,
      passed: true,
      exitCode: 0,
      timedOut: false,
      outputTruncated: false,
      tests: null,
    });
    expect(result.outputTail).toContain('all good\n');
    expect(result.outputTail).toContain('to stderr\n');
    expect(run.outputs).toEqual({ passed: 'true', 'exit-code': '0' });

    expect(gitea.calls).toHaveLength(1);
    expect(gitea.calls[0]).toMatchObject({
      path: `/api/v1/repos/${REPO}/statuses/${HEAD_SHA}`,
      authorization: `token ${JOB_TOKEN}`,
      body: { state: 'success', context: 'damascus/review', target_url: `${gitea.serverUrl}/${REPO}/actions/runs/5?by_index=1` },
    });
    expect(run.summary).toContain('Damascus review: passed');
    // The command's output is in the log, fenced by stop-commands so it cannot issue workflow commands.
    const stop = /::stop-commands::([0-9a-f]{32})\n/.exec(run.stdout);
    expect(stop).not.toBeNull();
    const resumeAt = run.stdout.indexOf(`::${stop![1]}::`);
    const outputAt = run.stdout.indexOf('all good');
    expect(stop!.index).toBeLessThan(outputAt);
    expect(outputAt).toBeLessThan(resumeAt);
  });

  test('a failing command: passed=false with its exit code, failure status, job fails saying the tests failed', async () => {
    const r = await receiver();
    const run = await runAction({ inputs: baseInputs(r.url, { 'test-command': 'echo "boom" >&2; exit 3' }), env: giteaEnv() });

    expect(run.exitCode).toBe(1);
    expect(r.results).toHaveLength(1);
    const result = r.accepted();
    expect(result).toMatchObject({ passed: false, exitCode: 3, timedOut: false });
    expect(result.outputTail).toContain('boom');
    expect(run.outputs).toEqual({ passed: 'false', 'exit-code': '3' });
    expect(run.stdout).toMatch(/::error::Damascus review: the tests failed \(exit code 3\)/);
    expect(run.stdout).not.toMatch(/::error::.*deliver/);
    expect(gitea.calls.map((c) => c.body.state)).toEqual(['failure']);
    expect(run.summary).toContain('Damascus review: failed');
  });

  test('fail-on-test-failure: false reports the failure but lets the job succeed', async () => {
    const r = await receiver();
    const run = await runAction({
      inputs: baseInputs(r.url, { 'test-command': 'exit 7', 'fail-on-test-failure': 'false' }),
      env: giteaEnv(),
      giteaFileNamesOnly: true, // also: the GITEA_* file names alone are enough
    });
    expect(run.exitCode).toBe(0);
    expect(r.accepted()).toMatchObject({ passed: false, exitCode: 7 });
    expect(run.outputs).toEqual({ passed: 'false', 'exit-code': '7' });
    expect(run.summary).toContain('Damascus review: failed');
    expect(run.stdout).not.toContain('::error::');
  });

  test('a command that never ends is killed with its whole process tree at timeout-minutes and reported as a timeout', async () => {
    const r = await receiver();
    // bash and its children ignore SIGTERM, so only the SIGKILL of the process group can end them.
    // The background sleep is found by a name of its own (its pid may be one of a sandbox's pid namespace).
    const marker = `damascus-bg-${process.pid}-${Date.now()}`;
    const command = `trap "" TERM; (exec -a ${marker} sleep 300) & echo started; sleep 300`;
    const run = await runAction({ inputs: baseInputs(r.url, { 'test-command': command, 'timeout-minutes': '0.02' }), env: giteaEnv() });

    expect(run.exitCode).toBe(1);
    const result = r.accepted();
    expect(result).toMatchObject({ passed: false, timedOut: true, exitCode: null });
    expect(result.durationMs).toBeGreaterThanOrEqual(1200); // 0.02 min
    expect(result.outputTail).toContain('started');
    expect(run.outputs).toEqual({ passed: 'false', 'exit-code': '' });
    expect(run.stdout).toMatch(/::error::Damascus review: the test command timed out after 0\.02 minutes/);
    expect(processesNamed(marker).filter(isAlive)).toEqual([]);
    expect(gitea.calls.map((c) => c.body.state)).toEqual(['failure']);
  });

  test('5 MB of output: the log has all of it, only the last 64 KiB is posted', async () => {
    const r = await receiver();
    const run = await runAction({ inputs: baseInputs(r.url, { 'test-command': 'seq 1 800000' }), env: giteaEnv() });

    let expected = '';
    const parts: string[] = [];
    for (let i = 1; i <= 800000; i++) parts.push(`${i}\n`);
    expected = parts.join('');
    expect(Buffer.byteLength(expected)).toBeGreaterThan(5_000_000);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(expected);
    const result = r.accepted();
    expect(result.outputTruncated).toBe(true);
    expect(Buffer.byteLength(result.outputTail)).toBe(64 * 1024);
    expect(expected.endsWith(result.outputTail)).toBe(true);
    expect(result.outputTail.endsWith('799999\n800000\n')).toBe(true);
  });

  test('JUnit XML written by the command: failing and skipped test names reach the orchestrator; stale reports are ignored', async () => {
    const r = await receiver();
    const report = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" errors="1">
  <testsuite name="math" tests="4">
    <testcase classname="math" name="adds" time="0.01"><failure message="expected 3, got 4">AssertionError</failure></testcase>
    <testcase classname="math" name="divides by zero" time="0.01"><error message="boom"/></testcase>
    <testcase classname="math" name="subtracts" time="0.01"/>
    <testcase classname="math" name="multiplies"><skipped/></testcase>
  </testsuite>
</testsuites>`;
    const stale = '<testsuite name="old"><testcase classname="old" name="from an earlier run"><failure/></testcase></testsuite>';
    const run = await runAction({
      // A report with an old mtime (as if committed long ago) and one inside node_modules: neither is this run's.
      inputs: baseInputs(r.url, {
        'test-command': [
          'mkdir -p old node_modules/dep reports',
          'cp "$FIXTURES/stale.xml" old/junit-old.xml && touch -d 2020-01-01 old/junit-old.xml',
          'cp "$FIXTURES/stale.xml" node_modules/dep/junit.xml',
          'cat > reports/junit.xml < "$FIXTURES/report.src"; exit 1',
        ].join('; '),
      }),
      env: giteaEnv(),
      prepare: (fixtures) => {
        writeFileSync(join(fixtures, 'report.src'), report);
        writeFileSync(join(fixtures, 'stale.xml'), stale);
      },
    });
    expect(run.exitCode).toBe(1);
    expect(r.accepted().tests).toEqual({
      total: 4,
      failed: 2,
      skipped: 1,
      failing: ['math.adds', 'math.divides by zero'],
      skippedNames: ['math.multiplies'],
    });
    expect(run.summary).toContain('math.adds');
    expect(gitea.calls[0]!.body.description).toContain('2 of 4 tests failed');
  });

  test('a receiver answering 500 twice then 200: the same signed delivery is retried until accepted once', async () => {
    const r = await receiver([{ status: 500 }, { status: 502 }, { status: 200 }]);
    const run = await runAction({ inputs: baseInputs(r.url), env: giteaEnv() });

    expect(run.exitCode).toBe(0);
    expect(r.results).toHaveLength(3);
    expect(new Set(r.results.map((x) => x.deliveryId)).size).toBe(1);
    expect(new Set(r.results.map((x) => x.rawBody)).size).toBe(1);
    expect(r.results.every((x) => x.signatureValid)).toBe(true);
    expect(r.accepted().passed).toBe(true);
    expect(run.stdout).toContain('delivered to Damascus (HTTP 200, 3 attempts)');
  });

  test('a receiver that is down: retried for delivery-timeout-seconds, then the job fails and says the result was not delivered', async () => {
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((ok) => closed.close(() => ok()));

    const run = await runAction({ inputs: baseInputs(`http://127.0.0.1:${port}`, { 'delivery-timeout-seconds': '2' }), env: giteaEnv() });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(
      /::error::Damascus review: the result could not be delivered to http:\/\/127\.0\.0\.1:\d+\/api\/v1\/review-results after 2 attempts: ECONNREFUSED/,
    );
    expect(run.stdout).not.toContain('tests failed');
    expect(run.outputs.passed).toBe('true'); // the tests themselves passed
    expect(gitea.calls.map((c) => c.body.state)).toEqual(['error']);
  });

  test('a 4xx answer is not retried: the job fails and prints what the orchestrator said', async () => {
    const r = await receiver([{ status: 409, body: '{"error":"head moved: stale SHA"}' }]);
    const run = await runAction({ inputs: baseInputs(r.url), env: giteaEnv() });
    expect(run.exitCode).toBe(1);
    expect(r.results).toHaveLength(1);
    expect(run.stdout).toContain('::error::Damascus review: the orchestrator refused the result (HTTP 409): {"error":"head moved: stale SHA"}');
  });

  test('secrets printed by the command are masked in the posted tail; the step inputs, tokens and secret-named variables are not in its environment', async () => {
    const r = await receiver();
    const command = [
      'echo "password=$DEPLOY_PASSWORD"',
      `echo "token=${CALLBACK_TOKEN}"`,
      'echo "api=$SERVICE_API_KEY."',
      'echo "inputs=$(env | grep -c "^INPUT_")"',
      'echo "tokens=$(env | grep -c -E "^(ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_[A-Z]+|GITHUB_TOKEN|GITEA_TOKEN)=")"',
      'echo "outputfile=${GITHUB_OUTPUT:-unset}"',
      'echo "harmless=$HARMLESS"',
    ].join('; ');
    const run = await runAction({
      inputs: baseInputs(r.url, { 'test-command': command }),
      env: {
        ...giteaEnv(),
        DEPLOY_PASSWORD: 'hunter2-correct-horse',
        SERVICE_API_KEY: 'sk-live-0123456789',
        HARMLESS: 'visible-value',
        GITEA_TOKEN: JOB_TOKEN,
        GITHUB_TOKEN: JOB_TOKEN,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'oidc-request-token-1234',
        ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/oidc',
      },
    });
    expect(run.exitCode).toBe(0);
    const tail = r.accepted().outputTail;
    // Withheld from the command altogether (its output shows them empty); a secret it prints anyway is masked.
    expect(tail).toContain('password=\n');
    expect(tail).toContain('token=***\n');
    expect(tail).toContain('api=.\n');
    expect(tail).toContain('inputs=0\n');
    expect(tail).toContain('tokens=0\n');
    expect(tail).toContain('outputfile=unset\n');
    expect(tail).toContain('harmless=visible-value\n');
    expect(tail).not.toContain('hunter2-correct-horse');
    expect(tail).not.toContain(CALLBACK_TOKEN);
    expect(tail).not.toContain('sk-live-0123456789');
    expect(run.stdout).toContain(`::add-mask::${CALLBACK_TOKEN}`); // the runner masks the log too
  });

  test('bad inputs fail the job before anything runs, naming every problem', async () => {
    const r = await receiver();
    const run = await runAction({
      inputs: baseInputs(r.url, { 'test-command': 'touch ran', 'head-sha': 'abc123', 'work-item': 'x', 'timeout-minutes': '0' }),
      env: giteaEnv(),
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain('head-sha must be a full 40-hex commit SHA');
    expect(run.stdout).toContain('work-item must be a positive whole number');
    expect(run.stdout).toContain('timeout-minutes must be a positive number');
    expect(existsSync(join(run.workspace, 'ran'))).toBe(false);
    expect(r.results).toHaveLength(0);
    expect(gitea.calls).toHaveLength(0);
  });

  test('the Action fetches head-sha itself with the job token, and leaves no credential in the checkout', async () => {
    const r = await receiver();
    const run = await runAction({
      inputs: baseInputs(r.url, { 'test-command': 'test "$(git rev-parse HEAD)" = "$DAMASCUS_HEAD_SHA" && cat README.md' }),
      env: giteaEnv(),
    });
    expect(run.exitCode).toBe(0);
    expect(r.accepted()).toMatchObject({ passed: true, headSha: HEAD_SHA });
    expect(r.accepted().outputTail).toContain('# widgets');
    // act's way: HTTP basic with the job token as the password, and nothing written to .git/config.
    expect(gitea.gitAuth).toContain(`basic ${Buffer.from(`x-access-token:${JOB_TOKEN}`).toString('base64')}`);
    expect(readFileSync(join(run.workspace, '.git', 'config'), 'utf8')).not.toMatch(new RegExp(`${JOB_TOKEN}|extraheader|Authorization`, 'i'));
  });

  test("a re-run of the same run in Gitea's UI is a new result: same run id, another task, another runId", async () => {
    const r = await receiver();
    await runAction({ inputs: baseInputs(r.url), env: giteaEnv() });
    await runAction({ inputs: baseInputs(r.url), env: { ...giteaEnv(), ACTIONS_RUNTIME_TOKEN: runtimeToken(902) } });
    const ids = r.results.map((x) => (x.parsed.ok ? x.parsed.value.runId : null));
    expect(ids).toEqual(['77-task-901', '77-task-902']);
  });

  test('a head-sha Gitea does not have: nothing runs, nothing is reported, the job fails saying so', async () => {
    const r = await receiver();
    const missing = 'f'.repeat(40);
    const run = await runAction({ inputs: baseInputs(r.url, { 'test-command': 'touch "$FIXTURES/ran"', 'head-sha': missing }), env: giteaEnv() });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain(`::error::Damascus review: could not fetch ${missing} from ${gitea.serverUrl}/${REPO}.git`);
    expect(run.stdout).toContain('nothing was run or reported');
    expect(existsSync(join(run.fixtures, 'ran'))).toBe(false);
    expect(r.results).toHaveLength(0);
  });

  test('the PR moved on after the dispatch: its head ref holds another commit, so nothing runs (a pass is only ever for head-sha)', async () => {
    const r = await receiver();
    const run = await runAction({
      inputs: baseInputs(r.url, { 'test-command': 'touch "$FIXTURES/ran"', 'head-sha': 'e'.repeat(40), 'pull-request': '9' }),
      env: giteaEnv(),
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toContain(`the pull request's head is ${MOVED_SHA}, not head-sha ${'e'.repeat(40)} (it moved)`);
    expect(existsSync(join(run.fixtures, 'ran'))).toBe(false);
    expect(r.results).toHaveLength(0);
  });

  test('a workspace that already holds files (a workflow that checked something out first) is refused', async () => {
    const r = await receiver();
    const run = await runAction({
      inputs: baseInputs(r.url, { 'test-command': 'touch "$FIXTURES/ran"' }),
      env: giteaEnv(),
      prepareWorkspace: (ws) => writeFileSync(join(ws, 'planted.txt'), 'x'),
    });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/::error::Damascus review: the workspace .* is not empty/);
    expect(existsSync(join(run.fixtures, 'ran'))).toBe(false);
    expect(r.results).toHaveLength(0);
  });

  test('a commit status that cannot be posted is only a warning', async () => {
    const r = await receiver();
    const run = await runAction({ inputs: baseInputs(r.url), env: { ...giteaEnv(), GITHUB_API_URL: `${gitea.serverUrl}/nowhere` } });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/::warning::Could not post the damascus\/review commit status: HTTP 404/);
    expect(r.accepted().passed).toBe(true);
  });
});
