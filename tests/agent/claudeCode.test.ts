import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../../src/config/env.js';
import { writeAgentInputs } from '../../src/agent/inputs.js';
import { runAgent, type AgentRun } from '../../src/agent/runAgent.js';
import { ClaudeCodeReader, claudeCodePreset, claudeMaxRetries } from '../../src/agent/presets/claudeCode.js';
import type { AgentReport } from '../../src/agent/presets/types.js';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/shared/log.js';
import { startAnthropicServer, type AnthropicServer } from '../support/models/anthropic.js';
import type { ModelScript } from '../support/models/script.js';

/**
 * The real Claude Code CLI (node_modules/.bin/claude, 2.1.332) against the scripted Anthropic API, through runAgent,
 * and its stream-json read by the preset's reader. No real model anywhere.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLAUDE = realpathSync(join(ROOT, 'node_modules', '.bin', 'claude'));
/** The package directory (bin/claude.exe is the native binary itself): the sandbox binds it read-only. */
const CLAUDE_PACKAGE = dirname(dirname(CLAUDE));
const FIXTURE = fileURLToPath(new URL('../fixtures/agent/claude-code-stream.jsonl', import.meta.url));
const log = createLogger('silent');
const KEY = 'sk-ant-test-0123456789abcdef';

/** Copies the agent's stdout to a file as well, so the test reads the whole stream (runAgent keeps only a tail). */
const TEE = `import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
const [out, ...argv] = process.argv.slice(2);
const file = createWriteStream(out);
const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.on('data', (d) => { process.stdout.write(d); file.write(d); });
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => child.kill(s));
child.on('close', (code) => file.end(() => process.exit(code ?? 1)));
`;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'damascus-claude-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Outcome {
  run: AgentRun;
  report: AgentReport;
  lines: string[];
  worktree: string;
  server: AnthropicServer;
  ms: number;
  /** runAgent's log lines (JSON). */
  logLines: Record<string, unknown>[];
}

async function runClaude(
  script: ModelScript,
  o: { maxTurns?: number; env?: Record<string, string | undefined>; sandbox?: boolean; timeoutMs?: number; key?: boolean } = {},
): Promise<Outcome> {
  const server = await startAnthropicServer(script);
  const base = await mkdtemp(join(root, 'run-'));
  const worktree = join(base, 'wt');
  const stateDir = join(base, 'agent');
  const inputDir = join(stateDir, 'input');
  await mkdir(worktree, { recursive: true });
  const inputs = await writeAgentInputs(inputDir, { spec: '## Summary\nWrite hello.txt.' });
  await writeFile(join(inputDir, 'tee.mjs'), TEE, { mode: 0o644 });
  const home = join(stateDir, 'home');
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    ANTHROPIC_BASE_URL: server.url,
    ...(o.key === false ? {} : { ANTHROPIC_API_KEY: KEY }),
    ...o.env,
  };
  const prepared = claudeCodePreset.prepare({
    promptFile: inputs.promptFile,
    inputDir,
    cwd: worktree,
    home,
    maxTurns: o.maxTurns ?? 10,
    model: null,
    allowedTools: ['Read', 'Write', 'Edit', 'Bash'],
    env,
  });
  // runAgent does not know presets yet: write the preset's HOME files here.
  for (const [rel, text] of Object.entries(prepared.homeFiles)) {
    await mkdir(dirname(join(home, rel)), { recursive: true });
    await writeFile(join(home, rel), text, { mode: 0o600 });
  }
  const out = join(stateDir, 'out');
  await mkdir(out, { recursive: true });
  const streamFile = join(out, 'stdout.jsonl');
  const command = [realpathSync(process.execPath), join(inputDir, 'tee.mjs'), streamFile, CLAUDE, ...prepared.argv.slice(1)];
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) logLines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const t0 = Date.now();
  const run = await runAgent({
    command,
    cwd: worktree,
    inputDir,
    stateDir,
    env: { ...env, ...prepared.env },
    allowEnv: claudeCodePreset.credentialEnv,
    sandbox: o.sandbox
      ? { settings: loadSettings({ DAMASCUS_SANDBOX: 'on' }).sandbox, allowHosts: claudeCodePreset.allowHosts(env), readPaths: [CLAUDE_PACKAGE] }
      : null,
    timeoutMs: o.timeoutMs ?? 60_000,
    killGraceMs: 500,
    log: o.sandbox ? pino({ level: 'info' }, sink) : log,
  });
  const ms = Date.now() - t0;
  const text = existsSync(streamFile) ? await readFile(streamFile, 'utf8') : '';
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const reader = claudeCodePreset.reader(null);
  for (const l of lines) reader.line(l);
  await server.close();
  return { run, report: reader.report(), lines, worktree, server, ms, logLines };
}

const fast = { DAMASCUS_CLAUDE_MAX_RETRIES: '1' };

describe('claudeCodePreset', () => {
  test('argv, env, credentials and hosts', () => {
    const p = claudeCodePreset.prepare({
      promptFile: '/d/agent-1/input/prompt.md',
      inputDir: '/d/agent-1/input',
      cwd: '/d/wt',
      home: '/d/agent-1/home',
      maxTurns: 30,
      model: 'claude-sonnet-5',
      allowedTools: ['Read', 'Bash(git *)'],
      env: {},
    });
    expect(p.argv).toEqual([
      'claude',
      '-p',
      'Read /d/agent-1/input/prompt.md and carry out the task it describes.',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'dontAsk',
      '--add-dir',
      '/d/agent-1/input',
      '/d/agent-1/out',
      '--allowedTools',
      'Read',
      'Bash(git *)',
      '--max-turns',
      '30',
      '--model',
      'claude-sonnet-5',
    ]);
    expect(p.env).toMatchObject({ CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', CLAUDE_CODE_MAX_RETRIES: '3' });
    expect(JSON.stringify(p)).not.toContain('sk-');
    expect(claudeMaxRetries({ DAMASCUS_CLAUDE_MAX_RETRIES: '0' })).toBe(0);
    expect(claudeMaxRetries({ CLAUDE_CODE_MAX_RETRIES: '5' })).toBe(5);
    expect(claudeMaxRetries({ DAMASCUS_CLAUDE_MAX_RETRIES: 'lots' })).toBe(3);
    expect(claudeCodePreset.missingCredentials({})).toMatch(/ANTHROPIC_API_KEY.*ANTHROPIC_AUTH_TOKEN.*CLAUDE_CODE_OAUTH_TOKEN/);
    expect(claudeCodePreset.missingCredentials({ ANTHROPIC_API_KEY: ' ' })).not.toBeNull();
    expect(claudeCodePreset.missingCredentials({ CLAUDE_CODE_OAUTH_TOKEN: 'x' })).toBeNull();
    expect(claudeCodePreset.allowHosts({})).toEqual(['https://api.anthropic.com']);
    expect(claudeCodePreset.allowHosts({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:4000' })).toEqual(['http://127.0.0.1:4000']);
  });
});

describe('the reader on captured streams', () => {
  test('a real run: Read, Write, Bash, then the answer', () => {
    const reader = new ClaudeCodeReader();
    const seen: (string | null)[] = [];
    for (const l of readFileSync(FIXTURE, 'utf8').split('\n')) {
      reader.line(l);
      seen.push(reader.report().activity);
    }
    expect(seen).toEqual(expect.arrayContaining(['Read /etc/hostname', 'Write src/hello.ts', 'Bash ls src']));
    expect(reader.report()).toEqual({
      turns: 4,
      costUsd: 0.025599999999999998,
      costSource: 'reported',
      inputTokens: 4800,
      outputTokens: 320,
      model: 'claude-opus-5-5',
      activity: 'finished',
      result: 'Wrote src/hello.ts.',
      stop: 'completed',
      error: null,
    });
  });

  test('while it runs: turns and tokens so far, no stop', () => {
    const reader = new ClaudeCodeReader();
    const lines = readFileSync(FIXTURE, 'utf8').split('\n');
    for (const l of lines.slice(0, 4)) reader.line(l);
    expect(reader.report()).toMatchObject({ turns: 2, stop: null, activity: 'Write src/hello.ts', model: 'claude-opus-5-5', inputTokens: 2400 });
  });

  test('junk, partial and unknown lines are ignored', () => {
    const reader = new ClaudeCodeReader();
    for (const l of ['', 'not json', '{"type":"assistant","mess', '{"type":"stream_event"}', '[1,2]']) reader.line(l);
    expect(reader.report().stop).toBeNull();
  });

  // Captured from 2.1.332 (fields irrelevant to the reader removed).
  test('a 429 after the retries: model_api, with the status', () => {
    const reader = new ClaudeCodeReader();
    reader.line('{"type":"system","subtype":"api_retry","attempt":1,"max_retries":2,"retry_delay_ms":513,"error_status":429,"error":"rate_limit"}');
    expect(reader.report().activity).toBe('model API failed (429 rate_limit), retry 1/2');
    reader.line(
      '{"type":"assistant","message":{"id":"7c5e","model":"<synthetic>","role":"assistant","stop_reason":"stop_sequence","type":"message","usage":{"input_tokens":0,"output_tokens":0},"content":[{"type":"text","text":"API Error: Request rejected (429) · Rate limited"}]},"parent_tool_use_id":null,"error":"rate_limit","is_api_error_message":true,"api_error_status":429,"api_error_type":"rate_limit_error"}',
    );
    reader.line(
      '{"type":"result","subtype":"success","is_error":true,"num_turns":1,"total_cost_usd":0,"terminal_reason":"api_error","api_error_status":429,"api_error_type":"rate_limit_error","result":"API Error: Request rejected (429) · Rate limited","usage":{"input_tokens":0,"output_tokens":0}}',
    );
    expect(reader.report()).toMatchObject({
      stop: 'model_api',
      turns: 1,
      costUsd: 0,
      error: 'model API 429 rate_limit_error: API Error: Request rejected (429) · Rate limited',
    });
  });

  test('the turn limit', () => {
    const reader = new ClaudeCodeReader();
    reader.line(
      '{"type":"result","subtype":"error_max_turns","is_error":true,"num_turns":2,"stop_reason":"tool_use","total_cost_usd":0.0064,"terminal_reason":"max_turns","errors":["Reached maximum number of turns (1)"]}',
    );
    expect(reader.report()).toMatchObject({ stop: 'turn_limit', turns: 2, costUsd: 0.0064, error: 'Reached maximum number of turns (1)', result: null });
  });

  test('an older CLI without terminal_reason: the result text decides', () => {
    const reader = new ClaudeCodeReader();
    reader.line('{"type":"result","subtype":"success","is_error":true,"num_turns":1,"total_cost_usd":0,"result":"API Error: 500 {\\"type\\":\\"error\\"}"}');
    expect(reader.report().stop).toBe('model_api');
    const other = new ClaudeCodeReader();
    other.line('{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":3,"total_cost_usd":0.1}');
    expect(other.report()).toMatchObject({ stop: 'error', error: 'Claude Code stopped: error_during_execution' });
  });
});

describe('the real CLI against the scripted API', () => {
  test('(a) Write, then the answer: the file is in the worktree; completed, cost reported', async () => {
    const { run, report, worktree, server, lines, ms } = await runClaude([
      { write: { path: 'hello.txt', content: 'hi there\n' } },
      { text: 'Wrote hello.txt.' },
    ]);
    expect(run.isError).toBe(false);
    expect(await readFile(join(worktree, 'hello.txt'), 'utf8')).toBe('hi there\n');
    expect(report).toMatchObject({ stop: 'completed', result: 'Wrote hello.txt.', costSource: 'reported', error: null });
    expect(report.turns).toBeGreaterThanOrEqual(2);
    expect(report.costUsd).toBeGreaterThan(0);
    expect(report.activity).toBe('finished');
    // The reader reads runAgent's own tail to the same end.
    const tail = new ClaudeCodeReader();
    for (const l of run.stdoutTail.split('\n')) tail.line(l);
    expect(tail.report().stop).toBe('completed');
    // Only the model API was called: no probe, no side request; the key as x-api-key, streamed.
    expect(server.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages']);
    expect(server.requests.every((r) => r.headers['x-api-key'] === KEY && r.headers.authorization === undefined && r.body.stream === true)).toBe(true);
    expect(lines[0]).toContain('"subtype":"init"');
    expect(ms).toBeLessThan(20_000);
  });

  test('ANTHROPIC_AUTH_TOKEN arrives as a bearer token', async () => {
    const { report, server } = await runClaude([{ text: 'ok' }], { key: false, env: { ANTHROPIC_AUTH_TOKEN: 'gateway-token-0123456789' } });
    expect(report.stop).toBe('completed');
    expect(server.requests[0]?.headers.authorization).toBe('Bearer gateway-token-0123456789');
    expect(server.requests[0]?.headers['x-api-key']).toBeUndefined();
  });

  test('(b) 429 on every request: model_api after the default 3 retries', async () => {
    const { run, report, server, ms } = await runClaude(() => ({ status: 429, message: 'Number of request tokens has exceeded your rate limit' }));
    expect(run.isError).toBe(true);
    expect(report.stop).toBe('model_api');
    expect(report.error).toMatch(/429/);
    expect(report.error).toMatch(/rate.limit/i);
    expect(server.modelRequests()).toHaveLength(4);
    // Its own backoff (about 0.5 s, 1 s, 2 s, ignoring retry-after: 0).
    expect(ms).toBeLessThan(20_000);
  });

  test('(c) 500: model_api', async () => {
    const { report, server } = await runClaude(() => ({ status: 500 }), { env: fast });
    expect(report).toMatchObject({ stop: 'model_api' });
    expect(report.error).toMatch(/^model API 500 api_error: API Error: 500/);
    expect(server.modelRequests()).toHaveLength(2);
  });

  test('(d) 401: model_api (authentication), retried like the rest', async () => {
    const { report, server } = await runClaude(() => ({ status: 401, message: 'invalid x-api-key' }), { env: fast });
    expect(report).toMatchObject({ stop: 'model_api' });
    expect(report.error).toMatch(/^model API 401 authentication_error: Invalid API key/);
    expect(server.modelRequests()).toHaveLength(2);
  });

  test("(e) --max-turns 1 with a model that keeps calling tools: turn_limit, turn 1's file exists", async () => {
    const { report, worktree, server } = await runClaude((_req, i) => ({ write: { path: `f${i}.txt`, content: `n${i}\n` } }), { maxTurns: 1 });
    expect(report.stop).toBe('turn_limit');
    expect(report.turns).toBe(1);
    expect(report.error).toMatch(/maximum number of turns \(1\)/);
    expect(await readFile(join(worktree, 'f0.txt'), 'utf8')).toBe('n0\n');
    expect(existsSync(join(worktree, 'f1.txt'))).toBe(false);
    expect(server.modelRequests()).toHaveLength(1);
  });

  test('(f) no credentials: missingCredentials says what to set; the CLI answers "Not logged in"', async () => {
    expect(claudeCodePreset.missingCredentials({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' })).toMatch(/ANTHROPIC_API_KEY/);
    const { run, report, server } = await runClaude([{ text: 'unreachable' }], { key: false });
    expect(run.isError).toBe(true);
    expect(run.result).toBe('Not logged in · Please run /login');
    expect(report).toMatchObject({ stop: 'model_api', result: 'Not logged in · Please run /login' });
    expect(server.requests).toHaveLength(0);
  });

  test("a model that never answers: API_TIMEOUT_MS ends it as model_api; without it runAgent's limit kills it", async () => {
    const timedOut = await runClaude(() => ({ hang: true }), { env: { DAMASCUS_CLAUDE_MAX_RETRIES: '0', API_TIMEOUT_MS: '2000' } });
    expect(timedOut.report).toMatchObject({ stop: 'model_api' });
    expect(timedOut.report.error).toMatch(/timed out/i);
    const killed = await runClaude(() => ({ hang: true }), { timeoutMs: 3_000 });
    expect(killed.run.timedOut).toBe(true);
    expect(killed.report.stop).toBeNull();
    expect(killed.report.turns).toBe(0);
  });

  test('in the sandbox (uid 65534, own network, only the egress proxy): it writes the file through the proxy', async () => {
    const { run, report, worktree, server, ms, lines, logLines } = await runClaude(
      [{ read: '/etc/hostname' }, { write: { path: 'hello.txt', content: 'from the sandbox\n' } }, { shell: 'id -u; echo $HOME' }, { text: 'done' }],
      { sandbox: true },
    );
    if (run.isError) throw new Error(`sandboxed claude failed: ${JSON.stringify({ ...run, raw: null })} ${run.stderrTail}\n${run.stdoutTail}`);
    expect(await readFile(join(worktree, 'hello.txt'), 'utf8')).toBe('from the sandbox\n');
    expect(report).toMatchObject({ stop: 'completed', result: 'done' });
    expect(report.turns).toBe(4);
    expect(server.modelRequests()).toHaveLength(4);
    expect(server.requests.map((r) => r.path)).toEqual(['/v1/messages', '/v1/messages', '/v1/messages', '/v1/messages']);
    // It ran as nobody with the private HOME, and tried no host besides the model API.
    const bash = lines.find((l) => l.includes('"tool_result"') && l.includes('65534'));
    expect(bash).toContain('/agent/home');
    expect(logLines.find((l) => l.msg === 'agent finished')).toMatchObject({ egressRefused: 0, isError: false });
    expect(logLines.filter((l) => l.msg === 'sandboxed agent: connection refused by the egress allow-list')).toEqual([]);
    expect(ms).toBeLessThan(30_000);
  });
});
