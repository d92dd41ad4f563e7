import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSettings } from '../../src/config/env.js';
import { writeAgentInputs } from '../../src/agent/inputs.js';
import { runAgent, type AgentRun } from '../../src/agent/runAgent.js';
import { runsAsRoot } from '../../src/agent/sandbox.js';
import { createOpencodeReader, opencodeConfig, opencodePreset } from '../../src/agent/presets/opencode.js';
import type { AgentReport, PresetRunOptions } from '../../src/agent/presets/types.js';
import { createLogger } from '../../src/shared/log.js';
import { chatHandler, chatScript, isSideRequest, startChatServer } from '../support/models/openaiChat.js';
import { startModelServer, type ModelAction, type ModelScript, type ModelServer } from '../support/models/script.js';

/**
 * The real opencode CLI (node_modules/.bin/opencode, opencode-ai 1.18.33) driven through runAgent against the
 * scripted Chat Completions server (tests/support/models/openaiChat.ts), once inside the sandbox.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../fixtures/agent/opencode-stream.jsonl', import.meta.url));
const log = createLogger('silent');
const KEY = 'sk-test-opencode-0001';
const MODEL = 'scripted-model';

let binDir: string;
let modules: string;
let root: string;

beforeAll(async () => {
  const bin = await realpath(join(ROOT, 'node_modules', '.bin', 'opencode'));
  modules = await realpath(join(ROOT, 'node_modules'));
  binDir = join(modules, '.bin');
  expect(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()).toBe('1.18.33');
  root = await mkdtemp(join(tmpdir(), 'damascus-opencode-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Outcome {
  run: AgentRun;
  report: AgentReport;
  server: ModelServer;
  worktree: string;
  stream: string;
  ms: number;
}

async function runOpencode(
  script: ModelScript,
  o: { maxTurns?: number; key?: string | null; sandbox?: boolean; tee?: boolean; timeoutMs?: number } = {},
): Promise<Outcome> {
  const server = await startChatServer(script);
  try {
    const dir = await mkdtemp(join(root, 'run-'));
    const worktree = join(dir, 'wt');
    await mkdir(worktree);
    execFileSync('git', ['init', '-q', worktree]);
    const stateDir = join(dir, 'state');
    const inputDir = join(stateDir, 'input');
    const files = await writeAgentInputs(inputDir, { spec: '## Summary\nWrite hello.txt.' });
    const home = join(stateDir, 'home');
    const env = {
      PATH: `${binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      OPENAI_BASE_URL: `${server.url}/v1`,
      ...(o.key === null ? {} : { OPENAI_API_KEY: o.key ?? KEY }),
    };
    const options: PresetRunOptions = {
      promptFile: files.promptFile,
      inputDir,
      cwd: worktree,
      home,
      maxTurns: o.maxTurns ?? 20,
      model: MODEL,
      allowedTools: [],
      env,
    };
    const prepared = opencodePreset.prepare(options);
    // runAgent does not know presets yet: the preset's config files are written here.
    for (const [rel, content] of Object.entries(prepared.homeFiles)) {
      await mkdir(dirname(join(home, rel)), { recursive: true });
      await writeFile(join(home, rel), content);
    }
    // runAgent keeps only the last 4 KiB of stdout: for the reader's sake the whole stream is also kept with tee,
    // in the run's out/ directory (writable in the sandbox). Without `tee` the command is the preset's argv as is.
    const streamFile = join(stateDir, 'out', 'stream.jsonl');
    const command = o.tee === false ? prepared.argv : ['bash', '-c', 'set -o pipefail; "${@:2}" | tee "$1"', 'tee-stream', streamFile, ...prepared.argv];
    const settings = loadSettings({ DAMASCUS_SANDBOX: 'on' });
    const started = Date.now();
    const run = await runAgent({
      command,
      cwd: worktree,
      inputDir,
      stateDir,
      env: { ...env, ...prepared.env },
      allowEnv: opencodePreset.credentialEnv,
      sandbox: o.sandbox ? { settings: settings.sandbox, allowHosts: opencodePreset.allowHosts(env), readPaths: [modules] } : null,
      timeoutMs: o.timeoutMs ?? 60_000,
      killGraceMs: 500,
      log,
    });
    const ms = Date.now() - started;
    const stream = o.tee === false ? run.stdoutTail : await readFile(streamFile, 'utf8').catch(() => '');
    const reader = createOpencodeReader({ model: MODEL, maxTurns: o.maxTurns ?? 20 });
    for (const line of stream.split('\n')) reader.line(line);
    if (process.env.OPENCODE_SHOW_LOG) {
      const logDir = join(home, '.local', 'share', 'opencode', 'log');
      const names = await import('node:fs/promises').then((f) => f.readdir(logDir)).catch(() => [] as string[]);
      for (const n of names)
        console.log(
          (await readFile(join(logDir, n), 'utf8'))
            .split('\n')
            .filter((l) => !l.includes('level=INFO'))
            .join('\n'),
        );
    }
    return { run, report: reader.report(), server, worktree, stream, ms };
  } finally {
    await server.close();
  }
}

const modelCalls = (s: ModelServer) => s.requests.filter((r) => r.path === '/v1/chat/completions');

test('(a) a scripted write, then the answer: the file is written, and the reader says completed with turns and tokens', async () => {
  const out = await runOpencode([{ write: { path: 'hello.txt', content: 'hello from opencode\n' } }, { text: 'Wrote hello.txt.' }]);
  expect(out.run.stderrTail).not.toMatch(/Error/);
  expect(out.run.exitCode).toBe(0);
  expect(await readFile(join(out.worktree, 'hello.txt'), 'utf8')).toBe('hello from opencode\n');
  expect(out.report).toMatchObject({ stop: 'completed', result: 'Wrote hello.txt.', model: MODEL, costUsd: null, costSource: null, error: null });
  expect(out.report.turns).toBeGreaterThanOrEqual(2);
  expect(out.report.inputTokens).toBeGreaterThan(0);
  expect(out.report.outputTokens).toBeGreaterThan(0);
  // Two model requests, streamed, with the key as a bearer token; no title request (argv gives a title).
  const calls = modelCalls(out.server);
  expect(calls).toHaveLength(2);
  for (const c of calls) {
    expect(c.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(c.body).toMatchObject({ model: MODEL, stream: true, stream_options: { include_usage: true } });
  }
  // The tool result went back to the model.
  expect(JSON.stringify(calls[1]!.body.messages)).toContain('"role":"tool"');
  if (process.env.OPENCODE_CAPTURE) await writeFile(FIXTURE, out.stream);
  console.log(`opencode write+answer run: ${out.ms} ms`);
});

// 429 and 5xx: 1 + 5 retries (SessionRetry RETRY_MAX_RETRIES = 5), each after retry-after-ms; 401 at once.
test.each([
  ["(b) 429 on every request: model_api after opencode's own retries", 429, /^429: Rate limit reached/, 6],
  ['(c) 500 on every request: model_api', 500, /^500: /, 6],
  ['(d) 401: model_api at once, no retry', 401, /^401: Incorrect API key/, 1],
])('%s', async (_name, status, error, requests) => {
  const out = await runOpencode(() => ({ status }), { tee: false });
  expect(out.run.exitCode).toBe(1);
  expect(out.report.stop).toBe('model_api');
  expect(out.report.error).toMatch(error);
  expect(modelCalls(out.server)).toHaveLength(requests);
  console.log(`opencode ${status} run: ${out.ms} ms`);
});

const atLimit = (req: { body: Record<string, unknown> }): boolean => JSON.stringify(req.body.messages).includes('MAXIMUM STEPS REACHED');

test('(e) the step limit (agent.build.steps): a model that obeys the text-only step ends at it, turn_limit', async () => {
  const script = (req: { body: Record<string, unknown> }, i: number): ModelAction =>
    atLimit(req) ? { text: 'Maximum steps reached; stopping.' } : { write: { path: `f${i}.txt`, content: `${i}\n` } };
  const out = await runOpencode(script, { maxTurns: 3 });
  const calls = modelCalls(out.server);
  expect(out.run.exitCode).toBe(0);
  expect(calls).toHaveLength(3);
  // The last request still offers the tools: the limit is a message, not a tool ban.
  expect(atLimit(calls[2]!)).toBe(true);
  expect(calls[2]!.body).toMatchObject({ tool_choice: 'auto' });
  expect((calls[2]!.body.tools as unknown[]).length).toBeGreaterThan(0);
  expect(out.report).toMatchObject({ turns: 3, stop: 'turn_limit', result: 'Maximum steps reached; stopping.' });
});

test('(e2) a model that ignores the limit goes on (opencode runs its tool calls): the reader says turn_limit, the caller kills', async () => {
  const out = await runOpencode((_req, i) => ({ write: { path: `f${i}.txt`, content: `${i}\n` } }), { maxTurns: 2, timeoutMs: 12_000 });
  expect(out.run.timedOut).toBe(true);
  expect(out.report.stop).toBe('turn_limit');
  expect(out.report.turns).toBeGreaterThan(2);
  console.log(`opencode past its step limit: ${modelCalls(out.server).length} requests in 12 s`);
}, 30_000);

test('(f) no key: the preset says what to set; opencode itself runs without an authorization header', async () => {
  expect(opencodePreset.missingCredentials({ OPENAI_BASE_URL: 'http://x/v1' })).toMatch(/OPENAI_API_KEY/);
  expect(opencodePreset.missingCredentials({})).toMatch(/OPENAI_BASE_URL and OPENAI_API_KEY/);
  expect(opencodePreset.missingCredentials({ OPENAI_BASE_URL: 'http://x/v1', OPENAI_API_KEY: 'x' })).toBeNull();
  // opencode itself needs no key: {env:OPENAI_API_KEY} is empty and it sends no authorization header at all.
  const out = await runOpencode([{ text: 'no key needed' }], { key: null, tee: false });
  expect(out.run.exitCode).toBe(0);
  expect(out.report.stop).toBe('completed');
  expect(modelCalls(out.server)[0]!.headers.authorization).toBeUndefined();
});

test('in the sandbox: the write lands through the egress proxy (opencode honours HTTP_PROXY for an http:// base URL)', async () => {
  const out = await runOpencode([{ write: { path: 'hello.txt', content: 'sandboxed\n' } }, { text: 'Done.' }], { sandbox: true });
  if (out.report.stop !== 'completed') console.log(out.run.stderrTail, out.stream);
  expect(out.run.exitCode).toBe(0);
  expect(await readFile(join(out.worktree, 'hello.txt'), 'utf8')).toBe('sandboxed\n');
  expect(out.report).toMatchObject({ stop: 'completed', result: 'Done.' });
  expect(modelCalls(out.server)).toHaveLength(2);
  if (runsAsRoot()) expect(out.run.stderrTail).not.toMatch(/EACCES/);
  console.log(`opencode sandboxed run: ${out.ms} ms`);
}, 90_000);

describe('the preset', () => {
  const o: PresetRunOptions = {
    promptFile: '/d/run/input/prompt.md',
    inputDir: '/d/run/input',
    cwd: '/d/wt',
    home: '/d/run/home',
    maxTurns: 30,
    model: null,
    allowedTools: [],
    env: { OPENAI_BASE_URL: 'http://litellm:4000/v1', OPENAI_API_KEY: 'sk-secret-value' },
  };
  test('argv names the prompt file only; the config reads the key from env, never holds it', () => {
    const p = opencodePreset.prepare(o);
    expect(p.argv).toEqual([
      'opencode',
      'run',
      '--format',
      'json',
      '--pure',
      '--dir',
      '/d/wt',
      '--title',
      'damascus build',
      '-m',
      'damascus/gpt-4.1',
      'Read the file /d/run/input/prompt.md and do what it says.',
    ]);
    const text = p.homeFiles['.config/opencode/opencode.json']!;
    expect(text).not.toContain('sk-secret-value');
    expect(text).toContain('{env:OPENAI_API_KEY}');
    expect(JSON.parse(text)).toMatchObject({ agent: { build: { steps: 30 } }, autoupdate: false, share: 'disabled' });
    expect(p.env).toMatchObject({ XDG_DATA_HOME: '/d/run/home/.local/share', OPENCODE_DISABLE_MODELS_FETCH: '1', OPENCODE_DISABLE_PROJECT_CONFIG: '1' });
    expect(opencodePreset.allowHosts(o.env)).toEqual(['http://litellm:4000/v1']);
    expect(opencodeConfig({ ...o, model: 'damascus/qwen3' })).toMatchObject({ model: 'damascus/qwen3' });
  });
});

describe('the reader, on a captured real stream', () => {
  test('tests/fixtures/agent/opencode-stream.jsonl: completed, turns, tokens, no cost, result', async () => {
    const reader = createOpencodeReader({ model: MODEL });
    const lines = (await readFile(FIXTURE, 'utf8')).split('\n');
    const seen: (string | null)[] = [];
    for (const l of lines) {
      reader.line(l);
      seen.push(reader.report().activity);
    }
    const r = reader.report();
    expect(r).toMatchObject({ turns: 2, stop: 'completed', result: 'Wrote hello.txt.', costUsd: null, costSource: null, model: MODEL, error: null });
    expect(r.inputTokens).toBeGreaterThan(0);
    expect(r.outputTokens).toBeGreaterThan(0);
    expect(seen.some((a) => a?.startsWith('Write ') && a.endsWith('hello.txt'))).toBe(true);
  });
  test('a tool-calls step is not the end; a reported cost is taken; an error event', () => {
    const reader = createOpencodeReader();
    reader.line('{"type":"step_start","part":{"type":"step-start"}}');
    reader.line(
      '{"type":"step_finish","part":{"type":"step-finish","reason":"tool-calls","tokens":{"input":10,"output":2,"reasoning":1,"cache":{"read":5,"write":0}},"cost":0.25}}',
    );
    expect(reader.report()).toMatchObject({ turns: 1, stop: null, inputTokens: 15, outputTokens: 3, costUsd: 0.25, costSource: 'reported' });
    reader.line('not json');
    reader.line('{"type":"error","error":{"name":"APIError","data":{"message":"Rate limit reached","statusCode":429,"isRetryable":true}}}');
    expect(reader.report()).toMatchObject({ stop: 'model_api', error: '429: Rate limit reached' });
    const other = createOpencodeReader();
    other.line('{"type":"error","error":{"name":"UnknownError","data":{"message":"boom"}}}');
    expect(other.report()).toMatchObject({ stop: 'error', error: 'boom' });
  });
});

describe('the Chat Completions handler', () => {
  test('serves the spec phase (openai client, no tools, not streaming) and skips title requests', async () => {
    const server = await startModelServer({ 'POST /v1/chat/completions': chatHandler }, chatScript([{ text: 'the spec' }]));
    try {
      const title = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'm',
          messages: [
            { role: 'system', content: 'You are a title generator. You output ONLY a thread title.' },
            { role: 'user', content: 'x' },
          ],
        }),
      });
      expect(((await title.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe('Scripted build');
      expect(isSideRequest(server.requests[0]!)).toBe(true);
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'write a spec' }] }),
      });
      const body = (await res.json()) as {
        object: string;
        choices: { message: { content: string }; finish_reason: string }[];
        usage: { prompt_tokens: number };
      };
      expect(body).toMatchObject({ object: 'chat.completion', choices: [{ message: { content: 'the spec' }, finish_reason: 'stop' }] });
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);
      expect(server.requests[1]!.headers.authorization).toBe('Bearer k');
    } finally {
      await server.close();
    }
  });
});
