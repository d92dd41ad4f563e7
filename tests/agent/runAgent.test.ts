import { mkdtemp, readFile, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/shared/log.js';
import { runAgent, lastJsonObject, type RunAgentOptions } from '../../src/agent/runAgent.js';
import { emptyReport, type AgentReport, type OutputReader } from '../../src/agent/presets/types.js';
import { writeAgentInputs } from '../../src/agent/inputs.js';
import { isRunning, runningGroupMembers } from '../../src/agent/processGroup.js';

const AGENT = fileURLToPath(new URL('../fixtures/agent/scripted-agent.mjs', import.meta.url));
const log = createLogger('silent');
let root: string;
let worktree: string;
let inputDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'damascus-agent-'));
  worktree = join(root, 'wt');
  inputDir = join(root, 'in');
  await mkdir(worktree);
  await writeAgentInputs(inputDir, { spec: '## Summary\nSay hi.' });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function run(script: Record<string, unknown>, over: Partial<RunAgentOptions> = {}) {
  return runAgent({
    command: [process.execPath, AGENT],
    cwd: worktree,
    inputDir,
    env: { PATH: process.env.PATH, SCRIPTED_AGENT: JSON.stringify(script) },
    timeoutMs: 30_000,
    killGraceMs: 300,
    log,
    ...over,
  });
}

test('a successful run: files written in the worktree, cost and result from the final JSON', async () => {
  const r = await run({ writes: { 'src/hello.txt': 'hi' }, cost: 0.12, numTurns: 7, result: 'Done: added hello.' });
  expect(r).toMatchObject({
    exitCode: 0,
    timedOut: false,
    isError: false,
    costUsd: 0.12,
    numTurns: 7,
    result: 'Done: added hello.',
    verdictFile: null,
    spawnError: null,
  });
  expect(r.raw?.type).toBe('result');
  expect(await readFile(join(worktree, 'src/hello.txt'), 'utf8')).toBe('hi');
  expect(r.stderrTail).toContain('scripted agent done');
});

test('is_error true is an error even with exit code 0 and subtype success', async () => {
  const r = await run({ isError: true, exitCode: 0 });
  expect(r).toMatchObject({ exitCode: 0, isError: true });
});

test('a non-zero exit is an error even when the JSON says is_error false', async () => {
  const r = await run({ exitCode: 3 });
  expect(r).toMatchObject({ exitCode: 3, isError: true });
});

test('output that is not JSON gives raw null, an unknown cost (never 0) and the output as result', async () => {
  const r = await run({ stdout: 'garbage' });
  expect(r).toMatchObject({ raw: null, costUsd: null, isError: false, report: { stop: null, costUsd: null } });
  expect(r.result).toContain('this is not json');
});

test('a command that does not exist is a spawn error, not a crash', async () => {
  const r = await runAgent({ command: [join(root, 'no-such-agent')], cwd: worktree, inputDir, env: {}, timeoutMs: 10_000, log });
  expect(r.spawnError).toMatch(/ENOENT/);
  expect(r.isError).toBe(true);
});

test('an agent that hangs is killed at its limit, with the grandchild it spawned', async () => {
  const pidFile = join(root, 'grandchild.pid');
  const argvFile = join(root, 'argv.json');
  const r = await run({ sleepMs: 'forever', grandchildPidFile: pidFile, argvFile, ignoreTerm: true }, { timeoutMs: 1_000 });
  expect(r.timedOut).toBe(true);
  expect(r.isError).toBe(true);
  const grandchild = Number(await readFile(pidFile, 'utf8'));
  expect(grandchild).toBeGreaterThan(0);
  expect(isRunning(grandchild)).toBe(false);
  // Nothing at all is left in the agent's process group (the scripted agent ignored SIGTERM: SIGKILL was needed).
  expect(r.exitCode).toBeNull();
  expect(r.pid).toBeGreaterThan(0);
  expect(runningGroupMembers(r.pid as number)).toEqual([]);
});

test('grandchildren left behind by an agent that exits normally are killed too', async () => {
  const pidFile = join(root, 'grandchild.pid');
  const r = await run({ grandchildPidFile: pidFile });
  expect(r).toMatchObject({ exitCode: 0, timedOut: false, isError: false });
  expect(isRunning(Number(await readFile(pidFile, 'utf8')))).toBe(false);
  expect(runningGroupMembers(r.pid as number)).toEqual([]);
});

test('an abort signal stops the agent', async () => {
  const ac = new AbortController();
  const p = run({ sleepMs: 'forever' }, { signal: ac.signal });
  setTimeout(() => ac.abort(), 200);
  const r = await p;
  expect(r).toMatchObject({ aborted: true, timedOut: false, isError: true });
});

test('the verdict file is read and checked', async () => {
  const q = await run({ verdict: { verdict: 'needs_human', reason: 'ambiguous', questions: ['Which port?'] } });
  expect(q.verdictFile).toEqual({ verdict: 'needs_human', reason: 'ambiguous', questions: ['Which port?'] });
  expect(q.verdictFileError).toBeNull();

  await writeAgentInputs(inputDir, { spec: 'x' }); // clears the old verdict file
  const none = await run({});
  expect(none.verdictFile).toBeNull();

  const bad = await run({ verdict: '{"verdict": "pass"}' });
  expect(bad.verdictFile).toBeNull();
  expect(bad.verdictFileError).toMatch(/spec_wrong/);
  const noQuestions = await run({ verdict: { verdict: 'needs_human' } });
  expect(noQuestions.verdictFileError).toMatch(/at least one question/);
  const notJson = await run({ verdict: 'spec is wrong!' });
  expect(notJson.verdictFileError).toMatch(/not JSON/);
});

test('an agent told to print its environment sees no secret, and none reaches its result or output', async () => {
  const secrets = {
    GITEA_TOKEN: 'gitea-tok-123456',
    DAMASCUS_WEBHOOK_SECRET: 'whsec-abcdef',
    DAMASCUS_CALLBACK_SECRET: 'cbsec-abcdef',
    DAMASCUS_DASHBOARD_TOKEN: 'dash-abcdef',
    DATABASE_URL: 'postgres://u:pw-abcdef@db/x',
    REDIS_URL: 'redis://:redispw-abcdef@r',
    LLM_API_KEY: 'sk-llm-abcdef',
    SOME_OTHER_PASSWORD: 'pw-other-abcdef',
  };
  const r = await runAgent({
    command: [process.execPath, AGENT],
    cwd: worktree,
    inputDir,
    env: { PATH: process.env.PATH, HOME: '/root', ...secrets, ANTHROPIC_API_KEY: 'sk-ant-allowed', SCRIPTED_AGENT: JSON.stringify({ printEnv: true }) },
    allowEnv: ['ANTHROPIC_API_KEY'],
    timeoutMs: 30_000,
    log,
  });
  const seen = await readFile(join(worktree, 'env.txt'), 'utf8');
  for (const [name, value] of Object.entries(secrets)) {
    expect(seen).not.toContain(`${name}=`);
    expect(seen).not.toContain(value);
    expect(r.result + r.stdoutTail + r.stderrTail + JSON.stringify(r.raw)).not.toContain(value);
  }
  // The allowed key reaches the agent but is still scrubbed from what Damascus would show.
  expect(seen).toContain('ANTHROPIC_API_KEY=sk-ant-allowed');
  expect(r.result).not.toContain('sk-ant-allowed');
  expect(r.result).toContain('ANTHROPIC_API_KEY=[redacted]');
  expect(seen).toContain(`HOME=${join(inputDir, 'home')}`);
  expect(seen).toContain('DISABLE_AUTOUPDATER=1');
  expect(seen).toContain(`DAMASCUS_AGENT_VERDICT_FILE=${join(inputDir, 'out', 'verdict.json')}`);
});

test('lastJsonObject finds the final object in mixed output', () => {
  expect(lastJsonObject('{"a":1}')).toEqual({ a: 1 });
  expect(lastJsonObject('log line\n{"type":"system"}\n{"type":"result","is_error":false}\n')).toEqual({ type: 'result', is_error: false });
  expect(lastJsonObject('[1,2]')).toBeNull();
  expect(lastJsonObject('')).toBeNull();
});

test('process group helpers see a live group and then none', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  const pid = child.pid as number;
  expect(runningGroupMembers(pid)).toEqual([pid]);
  const { killGroup } = await import('../../src/agent/processGroup.js');
  await killGroup(pid, 200);
  expect(runningGroupMembers(pid)).toEqual([]);
});

describe("the verdict file is the agent's to write, so Damascus reads it without trusting it", () => {
  const agentThat = (js: string) => run({}, { command: [process.execPath, '-e', js] });

  test('a symlink to a file only Damascus may read is refused, never read through', async () => {
    const secretFile = join(root, 'root-only.txt');
    await writeFile(secretFile, '{"verdict":"needs_human","questions":["TOP-SECRET-CONTENT"]}', { mode: 0o600 });
    const r = await agentThat(`require('fs').symlinkSync(${JSON.stringify(secretFile)}, process.env.DAMASCUS_AGENT_VERDICT_FILE)`);
    expect(r.verdictFile).toBeNull();
    expect(r.verdictFileError).toBe('verdict file unreadable: it is a symbolic link');
    expect(JSON.stringify(r)).not.toContain('TOP-SECRET-CONTENT');
  });

  test('a FIFO does not hang Damascus; a huge file is refused', async () => {
    const fifo = await agentThat(`require('child_process').execFileSync('mkfifo', [process.env.DAMASCUS_AGENT_VERDICT_FILE])`);
    expect(fifo.verdictFileError).toBe('verdict file unreadable: it is not a regular file');
    const huge = await agentThat(
      `require('fs').writeFileSync(process.env.DAMASCUS_AGENT_VERDICT_FILE, '{"verdict":"spec_wrong","reason":"' + 'x'.repeat(100000) + '"}')`,
    );
    expect(huge.verdictFileError).toMatch(/it is over 65536 bytes/);
  });
});

/** A reader that counts one turn per `{"turn": …}` line and takes what it is doing from it. */
function turnReader(): OutputReader {
  let report = emptyReport();
  return {
    line(text) {
      const o = JSON.parse(text) as { turn?: number; doing?: string; type?: string };
      if (o.turn !== undefined) report = { ...report, turns: o.turn, activity: o.doing ?? null };
      if (o.type === 'result') report = { ...report, stop: 'completed' };
    },
    report: () => report,
  };
}

test('a streamed run: each line reaches the reader, progress is reported redacted, and the turn limit stops it', async () => {
  const secret = 'sk-ant-very-secret-value-123';
  const seen: AgentReport[] = [];
  const script = {
    stream: [
      { turn: 1, doing: `Read ${secret}` },
      { turn: 2, doing: 'Write a.txt' },
      { turn: 3, doing: 'Write b.txt' },
    ],
    sleepMs: 'forever',
  };
  const r = await run(script, {
    reader: turnReader(),
    onProgress: (p) => seen.push(p),
    turnLimit: 1,
    env: { PATH: process.env.PATH, ANTHROPIC_API_KEY: secret, SCRIPTED_AGENT: JSON.stringify(script) },
  });
  // Stopped by Damascus when it started a turn past 1 (the script would have slept forever), an error but not a timeout.
  expect(r).toMatchObject({ turnLimited: true, timedOut: false, isError: true });
  expect(r.report.turns).toBeGreaterThanOrEqual(2);
  expect(seen.map((p) => p.activity)).toEqual(expect.arrayContaining(['Read [redacted]', 'Write a.txt']));
  expect(JSON.stringify(seen)).not.toContain(secret);
});

test('a reader that throws on a hostile line skips it: the run goes on and is read to its end', async () => {
  const reader = turnReader();
  const choking: OutputReader = {
    line: (t) =>
      t.includes('poison')
        ? (() => {
            throw new Error('bad line');
          })()
        : reader.line(t),
    report: () => reader.report(),
  };
  const r = await run({ stream: [{ turn: 1 }, { poison: true }, { turn: 2 }, { type: 'result' }], stdout: 'none' }, { reader: choking });
  expect(r).toMatchObject({ exitCode: 0, isError: false, numTurns: 2, report: { stop: 'completed' } });
});

test('a CLI that stops itself at its turn limit (error_max_turns) is turn-limited too', async () => {
  const r = await run({ stream: [{ type: 'result', subtype: 'error_max_turns', is_error: true, num_turns: 4, total_cost_usd: 0.02 }], stdout: 'none' });
  expect(r).toMatchObject({ turnLimited: true, isError: true, costUsd: 0.02, numTurns: 4, report: { stop: 'turn_limit' } });
});

test('files the preset asks for are written under HOME; one outside HOME is refused', async () => {
  const r = await run({ writes: {}, copyInputsTo: undefined }, { homeFiles: { '.config/tool/config.json': '{"a":1}' }, stateDir: join(root, 'state') });
  expect(r.exitCode).toBe(0);
  expect(await readFile(join(root, 'state', 'home', '.config', 'tool', 'config.json'), 'utf8')).toBe('{"a":1}');
  await expect(run({}, { homeFiles: { '../escape': 'x' }, stateDir: join(root, 'state2') })).rejects.toThrow('outside HOME');
});
