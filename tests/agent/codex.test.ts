import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../../src/config/env.js';
import { writeAgentInputs } from '../../src/agent/inputs.js';
import { runAgent, type AgentRun } from '../../src/agent/runAgent.js';
import { codexConfig, codexPreset, codexReader } from '../../src/agent/presets/codex.js';
import type { AgentReport } from '../../src/agent/presets/types.js';
import { createLogger } from '../../src/shared/log.js';
import { startResponsesServer } from '../support/models/openaiResponses.js';
import type { ModelScript, ModelServer } from '../support/models/script.js';

/**
 * The real Codex CLI (node_modules/.bin/codex, 0.171.0) driven by the codex preset against a scripted OpenAI
 * Responses API on loopback, through runAgent: directly, and once inside the bubblewrap sandbox.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/agent/codex-stream.jsonl', import.meta.url));
const CODEX_BIN = join(ROOT, 'node_modules', '.bin', 'codex');
const log = createLogger('silent');
const KEY = 'sk-test-codex-0123456789';

let dataDir: string;
beforeAll(async () => {
  // Not under /tmp: Codex refuses to make its helper links in a CODEX_HOME there (it warns and goes on).
  dataDir = await mkdtemp(join(ROOT, '.codex-test-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Outcome {
  run: AgentRun;
  report: AgentReport;
  stdout: string;
  worktree: string;
  ms: number;
}

function readAll(stdout: string): AgentReport {
  const reader = codexReader('gpt-5.5');
  for (const line of stdout.split('\n')) reader.line(line);
  return reader.report();
}

async function runCodex(
  server: ModelServer | null,
  o: { env?: Record<string, string | undefined>; sandbox?: boolean; model?: string; timeoutMs?: number } = {},
): Promise<Outcome> {
  const worktree = await mkdtemp(join(dataDir, 'wt-'));
  const runDir = await mkdtemp(join(dataDir, 'agent-'));
  const inputDir = join(runDir, 'input');
  await writeAgentInputs(inputDir, { spec: '## Summary\nWrite hello.txt.' });
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    ...(server ? { OPENAI_BASE_URL: `${server.url}/v1` } : {}),
    OPENAI_API_KEY: KEY,
    ...o.env,
  };
  const prepared = codexPreset.prepare({
    promptFile: join(inputDir, 'prompt.md'),
    inputDir,
    cwd: worktree,
    home: join(runDir, 'home'),
    maxTurns: 10,
    model: o.model ?? 'gpt-5.5',
    allowedTools: [],
    env,
  });
  for (const [rel, content] of Object.entries(prepared.homeFiles)) {
    const p = join(runDir, 'home', rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, content);
  }
  // The real path: inside the sandbox only the bound node_modules exists, not the worktree's link to it.
  const command = [await realpath(CODEX_BIN), ...prepared.argv.slice(1)];
  const sandbox = o.sandbox
    ? {
        settings: loadSettings({ DAMASCUS_SANDBOX: 'on' }).sandbox,
        allowHosts: codexPreset.allowHosts(env),
        readPaths: [await realpath(join(ROOT, 'node_modules'))],
      }
    : null;
  const t0 = Date.now();
  const run = await runAgent({
    command,
    cwd: worktree,
    inputDir,
    stateDir: runDir,
    env: { ...env, ...prepared.env },
    allowEnv: codexPreset.credentialEnv,
    sandbox,
    timeoutMs: o.timeoutMs ?? 45_000,
    killGraceMs: 500,
    log,
  });
  const ms = Date.now() - t0;
  const stdout = run.stdoutTail;
  return { run, report: readAll(stdout), stdout, worktree, ms };
}

describe('codex preset against the scripted Responses API', () => {
  let server: ModelServer | null = null;
  afterEach(async () => {
    await server?.close();
    server = null;
  });
  const start = async (script: ModelScript): Promise<ModelServer> => (server = await startResponsesServer(script));

  test('(a) writes a file with apply_patch, then answers', async () => {
    const s = await start([{ write: { path: 'hello.txt', content: 'hello from codex\n' } }, { text: 'Wrote hello.txt.' }]);
    const out = await runCodex(s);
    expect(await readFile(join(out.worktree, 'hello.txt'), 'utf8')).toBe('hello from codex\n');
    expect(out.run.exitCode).toBe(0);
    expect(out.report.stop).toBe('completed');
    expect(out.report.turns).toBe(2);
    expect(out.report.inputTokens).toBeGreaterThan(0);
    expect(out.report.outputTokens).toBeGreaterThan(0);
    expect(out.report.costUsd).toBeNull();
    expect(out.report.result).toBe('Wrote hello.txt.');
    expect(s.requests).toHaveLength(2);
    expect(s.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    // Codex sends the key as a bearer token, streams, and names only the prompt file in its input.
    const body = s.requests[0]!.body;
    expect(body.stream).toBe(true);
    expect(body.model).toBe('gpt-5.5');
    expect(JSON.stringify(body.input)).toContain('prompt.md');
    expect(JSON.stringify(body.input)).not.toContain('Write hello.txt');
    expect(out.ms).toBeLessThan(10_000);
  });

  test('(a2) reads, runs a shell command and overwrites a file; a model outside the catalog writes through the shell', async () => {
    const s = await start([
      { shell: 'echo first > a.txt && ls' },
      { write: { path: 'a.txt', content: 'over\nwritten\n' } },
      { read: 'a.txt' },
      { text: 'Done.' },
    ]);
    const out = await runCodex(s);
    expect(await readFile(join(out.worktree, 'a.txt'), 'utf8')).toBe('over\nwritten\n');
    expect(out.report).toMatchObject({ stop: 'completed', turns: 4, result: 'Done.' });
    // The shell's output went back to the model.
    expect(JSON.stringify(s.requests[3]!.body.input)).toContain('over\\nwritten');
    await s.close();

    // An Ollama-style model name: Codex has no metadata for it, offers no apply_patch, and warns on stdout.
    const s2 = await start([{ write: { path: 'c.txt', content: 'no trailing newline' } }, { text: 'ok' }]);
    const out2 = await runCodex(s2, { model: 'qwen3-coder:30b' });
    const tools = (s2.requests[0]!.body.tools as { name?: string }[]).map((t) => t.name);
    expect(tools).toContain('exec_command');
    expect(tools).not.toContain('apply_patch');
    expect(await readFile(join(out2.worktree, 'c.txt'), 'utf8')).toBe('no trailing newline');
    expect(out2.stdout).toContain('Model metadata for `qwen3-coder:30b` not found');
    expect(out2.report).toMatchObject({ stop: 'completed', turns: 2, result: 'ok' });
  });

  test('(b) 429 on every request: model_api after DAMASCUS_CODEX_MAX_RETRIES (2) retries', async () => {
    const s = await start(() => ({ status: 429 }));
    const out = await runCodex(s);
    expect(out.run.exitCode).toBe(1);
    expect(out.report.stop).toBe('model_api');
    expect(out.report.error).toBe('exceeded retry limit, last status: 429 Too Many Requests');
    expect(s.requests).toHaveLength(3);
    expect(out.ms).toBeLessThan(10_000);
    console.log(`codex 429 x3: ${out.ms} ms`);
  });

  test('(c) 500: model_api (Codex says "high demand"; request and stream retries multiply)', async () => {
    const s = await start(() => ({ status: 500 }));
    const out = await runCodex(s, { env: { DAMASCUS_CODEX_MAX_RETRIES: '1' } });
    expect(out.run.exitCode).toBe(1);
    expect(out.report.stop).toBe('model_api');
    expect(out.report.error).toContain('high demand');
    expect(s.requests).toHaveLength(4);
    console.log(`codex 500 (retries 1): ${out.ms} ms, ${s.requests.length} requests`);
  });

  test("(d) 401: model_api, with the API's message", async () => {
    const s = await start(() => ({ status: 401 }));
    const out = await runCodex(s);
    expect(out.run.exitCode).toBe(1);
    expect(out.report.stop).toBe('model_api');
    expect(out.report.error).toMatch(/^unexpected status 401 Unauthorized: Incorrect API key provided/);
    expect(s.requests).toHaveLength(3);
    console.log(`codex 401 x3: ${out.ms} ms`);
  });

  test('(e) no OPENAI_API_KEY: the preset says so, and Codex fails before any request', async () => {
    expect(codexPreset.missingCredentials({ OPENAI_BASE_URL: 'http://localhost:11434/v1' })).toMatch(/OPENAI_API_KEY.*any non-empty value/);
    expect(codexPreset.missingCredentials({ OPENAI_API_KEY: 'x' })).toBeNull();
    const s = await start([]);
    const out = await runCodex(s, { env: { OPENAI_API_KEY: undefined } });
    expect(out.run.exitCode).toBe(1);
    expect(out.report).toMatchObject({ stop: 'error', error: 'Missing environment variable: `OPENAI_API_KEY`.' });
    expect(s.requests).toHaveLength(0);
  });

  test('(f) a model that never answers (no response headers): Codex waits until it is killed', async () => {
    // stream_idle_timeout_ms only runs once the SSE stream has begun; a request without an answer has no timeout.
    const s = await start(() => ({ hang: true }));
    const out = await runCodex(s, { env: { DAMASCUS_CODEX_STREAM_IDLE_TIMEOUT_MS: '1000', DAMASCUS_CODEX_MAX_RETRIES: '1' }, timeoutMs: 4_000 });
    expect(out.run.timedOut).toBe(true);
    expect(s.requests).toHaveLength(1);
    expect(out.report.stop).toBeNull();
    expect(out.report.turns).toBe(0);
  });

  test('(g) inside the sandbox: uid 65534, the proxy the only way out, the file written', async () => {
    const s = await start([{ write: { path: 'hello.txt', content: 'from the sandbox\n' } }, { shell: 'id -u; echo $HTTPS_PROXY' }, { text: 'Sandboxed.' }]);
    const out = await runCodex(s, { sandbox: true });
    console.log(`codex sandbox: ${out.ms} ms\n${out.stdout}\n${out.run.stderrTail}`);
    expect(await readFile(join(out.worktree, 'hello.txt'), 'utf8')).toBe('from the sandbox\n');
    expect(out.report).toMatchObject({ stop: 'completed', turns: 3, result: 'Sandboxed.' });
    expect(out.run.exitCode).toBe(0);
    expect(s.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
  });
});

describe('codex reader', () => {
  const read = (lines: string[]): AgentReport => {
    const r = codexReader('gpt-5.5');
    for (const l of lines) r.line(l);
    return r.report();
  };

  test('a captured real stream: five model round trips, cumulative usage, last message, completed', async () => {
    const lines = (await readFile(FIXTURE, 'utf8')).split('\n');
    expect(read(lines)).toEqual({
      turns: 5,
      costUsd: null,
      costSource: null,
      inputTokens: 35781,
      outputTokens: 234,
      model: 'gpt-5.5',
      activity: 'Done',
      result: 'Done.',
      stop: 'completed',
      error: null,
    });
    // While it runs: turns so far, what it is doing.
    const r = codexReader(null);
    for (const l of lines.slice(0, 5)) r.line(l);
    expect(r.report()).toMatchObject({ turns: 2, activity: expect.stringMatching(/^Write \/.*\/a\.txt$/), stop: null });
  });

  test('parallel tool calls of one response count once; junk lines are ignored', () => {
    const started = (id: string, cmd: string): string =>
      JSON.stringify({ type: 'item.started', item: { id, type: 'command_execution', command: cmd, status: 'in_progress' } });
    const done = (id: string, cmd: string): string =>
      JSON.stringify({ type: 'item.completed', item: { id, type: 'command_execution', command: cmd, exit_code: 0, status: 'completed' } });
    const r = read([
      'not json',
      '{"type":"thread.started","thread_id":"t"}',
      '{"type":"turn.started"}',
      started('a', 'ls'),
      started('b', 'pwd'),
      done('a', 'ls'),
      done('b', 'pwd'),
      '{"type":"item.completed","item":{"id":"m","type":"agent_message","text":"hi"}}',
      '{"type":"turn.completed","usage":{"input_tokens":10,"output_tokens":2}}',
    ]);
    expect(r).toMatchObject({ turns: 2, result: 'hi', stop: 'completed', inputTokens: 10, outputTokens: 2 });
  });

  test.each([
    ['exceeded retry limit, last status: 429 Too Many Requests', 'model_api'],
    ['We’re currently experiencing high demand, which may cause temporary errors.', 'model_api'],
    ['unexpected status 401 Unauthorized: Incorrect API key provided., url: http://127.0.0.1:1/v1/responses', 'model_api'],
    ['unexpected status 503 Service Unavailable: overloaded, url: http://127.0.0.1:1/v1/responses', 'model_api'],
    ['Missing environment variable: `OPENAI_API_KEY`.', 'error'],
  ])('turn.failed "%s" → %s', (message, stop) => {
    const ev = JSON.stringify({ type: 'error', message });
    expect(read(['{"type":"turn.started"}', ev, JSON.stringify({ type: 'turn.failed', error: { message } })])).toMatchObject({
      stop,
      error: message,
      turns: 0,
    });
  });

  test("any failure after Codex retried its request is the model API's; an unreachable endpoint shows while it waits", () => {
    const retry = JSON.stringify({ type: 'error', message: 'Reconnecting... 1/1 (something odd)' });
    expect(read([retry, JSON.stringify({ type: 'turn.failed', error: { message: 'something odd' } })]).stop).toBe('model_api');
    const waiting = read([JSON.stringify({ type: 'error', message: 'Reconnecting... waiting for network (Connection failed: error sending request)' })]);
    expect(waiting).toMatchObject({ stop: null, error: 'Reconnecting... waiting for network (Connection failed: error sending request)' });
  });
});

describe('codex preset', () => {
  test('argv names only the prompt file; config holds the endpoint and retries, never the key', () => {
    const env = { OPENAI_API_KEY: 'sk-secret-value', OPENAI_BASE_URL: 'http://ollama:11434/v1/', DAMASCUS_CODEX_MAX_RETRIES: '5' };
    const p = codexPreset.prepare({ promptFile: '/in/prompt.md', inputDir: '/in', cwd: '/wt', home: '/h', maxTurns: 30, model: null, allowedTools: [], env });
    expect(p.argv).toEqual([
      'codex',
      'exec',
      '--json',
      '--dangerously-bypass-approvals-and-sandbox',
      '--skip-git-repo-check',
      '--ephemeral',
      '--color',
      'never',
      '-C',
      '/wt',
      '-m',
      'gpt-5.5',
      'Read the file /in/prompt.md and do the task it describes.',
    ]);
    const config = p.homeFiles['.codex/config.toml']!;
    expect(config).toContain('base_url = "http://ollama:11434/v1"');
    expect(config).toContain('env_key = "OPENAI_API_KEY"');
    expect(config).toContain('request_max_retries = 5');
    expect(config).not.toContain('sk-secret-value');
    expect(codexPreset.allowHosts(env)).toEqual(['http://ollama:11434/v1']);
    expect(codexPreset.allowHosts({})).toEqual(['https://api.openai.com/v1']);
    expect(codexConfig({ env: { CODEX_API_KEY: 'k' }, model: 'm' })).toContain('env_key = "CODEX_API_KEY"');
  });
});
