import { emptyReport, type AgentReport, type BuilderPreset, type Env, type OutputReader, type PresetRunOptions } from './types.js';
import { jsonObjectLine } from './jsonLine.js';

/**
 * OpenAI's Codex CLI (`codex exec`, Rust; 0.171.0 pinned). Headless with `--json` (JSON-lines events on stdout),
 * its own approvals and sandbox off (Damascus's bubblewrap sandbox is the boundary; Codex's own bwrap/landlock
 * cannot nest inside it), a provider of its own in $HOME/.codex/config.toml pointing at the operator's
 * OpenAI-compatible endpoint (Responses API). The key stays in the environment: the config names it (`env_key`).
 */

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
/** A model in Codex's bundled catalog: it gets Codex's full tool set (apply_patch among them). */
export const CODEX_DEFAULT_MODEL = 'gpt-5.5';

function baseUrl(env: Env): string {
  const v = env.OPENAI_BASE_URL?.trim();
  return (v ? v : DEFAULT_BASE_URL).replace(/\/+$/, '');
}

function nonNegativeInt(v: string | undefined, fallback: number): number {
  if (v === undefined || v.trim() === '') return fallback;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/** A TOML basic string. */
const toml = (s: string): string => JSON.stringify(s);

/** $HOME/.codex/config.toml for one run. No secret in it: `env_key` names the variable holding the key. */
export function codexConfig(o: { env: Env; model: string }): string {
  const retries = nonNegativeInt(o.env.DAMASCUS_CODEX_MAX_RETRIES, 2);
  const idleMs = nonNegativeInt(o.env.DAMASCUS_CODEX_STREAM_IDLE_TIMEOUT_MS, 120_000) || 120_000;
  const keyVar = o.env.OPENAI_API_KEY ? 'OPENAI_API_KEY' : o.env.CODEX_API_KEY ? 'CODEX_API_KEY' : 'OPENAI_API_KEY';
  return [
    '# Written by Damascus for one run. The API key is read from the environment (env_key), never stored here.',
    'model_provider = "damascus"',
    `model = ${toml(o.model)}`,
    'approval_policy = "never"',
    'sandbox_mode = "danger-full-access"',
    'check_for_update_on_startup = false',
    '',
    '[analytics]',
    'enabled = false',
    '',
    '[feedback]',
    'enabled = false',
    '',
    '[history]',
    'persistence = "none"',
    '',
    '[otel]',
    'exporter = "none"',
    'log_user_prompt = false',
    '',
    '[model_providers.damascus]',
    'name = "damascus"',
    `base_url = ${toml(baseUrl(o.env))}`,
    `env_key = ${toml(keyVar)}`,
    'wire_api = "responses"',
    `request_max_retries = ${retries}`,
    `stream_max_retries = ${retries}`,
    `stream_idle_timeout_ms = ${idleMs}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Reading `codex exec --json`

interface CodexItem {
  id?: string;
  type?: string;
  text?: string;
  message?: string;
  command?: string;
  status?: string;
  exit_code?: number | null;
  changes?: { path?: string; kind?: string }[];
  server?: string;
  tool?: string;
  query?: string;
}

interface CodexEvent {
  type?: string;
  item?: CodexItem;
  usage?: { input_tokens?: number; cached_input_tokens?: number; output_tokens?: number; reasoning_output_tokens?: number };
  error?: { message?: string };
  message?: string;
}

/** The text of a model API failure as Codex prints it (an HTTP status, a JSON error body, "retry limit"...). */
const MODEL_API_FAILURE =
  /\b(429|5\d\d|401|403)\b|unexpected status|too many requests|rate.?limit|quota|usage limit|unauthori[sz]ed|invalid[_ ]api[_ ]key|incorrect api key|server_error|internal server error|service unavailable|bad gateway|overloaded|exceeded retry limit|stream disconnected|error sending request|connection refused|timed? ?out|idle timeout|high demand|waiting for network/i;

const shorten = (s: string, max = 120): string => {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
};

function activityOf(item: CodexItem): string | null {
  switch (item.type) {
    case 'command_execution':
      return item.command ? `Run ${shorten(item.command, 100)}` : 'Run a command';
    case 'file_change': {
      const changes = item.changes ?? [];
      if (changes.length === 0) return 'Edit files';
      const verb = (k: string | undefined): string => (k === 'add' ? 'Write' : k === 'delete' ? 'Delete' : 'Edit');
      const first = changes[0]!;
      return `${verb(first.kind)} ${first.path ?? 'a file'}${changes.length > 1 ? ` (+${changes.length - 1} more)` : ''}`;
    }
    case 'mcp_tool_call':
      return `Call ${item.server ?? 'mcp'}.${item.tool ?? 'tool'}`;
    case 'web_search':
      return item.query ? `Search ${shorten(item.query, 100)}` : 'Search the web';
    case 'todo_list':
      return 'Plan';
    case 'reasoning':
      return 'Think';
    case 'agent_message':
      return item.text ? shorten(item.text, 100) : null;
    default:
      return null;
  }
}

/**
 * A reader for one run's `codex exec --json` stdout.
 *
 * Turns: Codex's `turn.*` events are one per user prompt (one for a whole `codex exec` run), so they cannot be
 * Claude Code's num_turns. A model round trip is counted instead: one per "step", where a step is everything the
 * model produced in one response — agent messages and tool calls (command_execution, file_change, mcp_tool_call,
 * web_search) that start after the previous step's tool calls completed. Parallel tool calls of one response
 * count once. Codex has no turn limit of its own: the caller kills the process when `turns` passes its limit.
 */
export function codexReader(model: string | null = null): OutputReader {
  const r: AgentReport = { ...emptyReport(), model, turns: 0 };
  /** Tool items started in the current step and not completed yet. */
  const open = new Set<string>();
  /** Whether the current step has produced anything. */
  let inStep = false;
  let lastError: string | null = null;
  let failed = false;
  /** Codex retried a model request in this run: a failure after that is the model API's. */
  let retried = false;

  const step = (item: CodexItem, started: boolean): void => {
    // A new model response begins when nothing of the previous one is still running and something new arrives.
    if (!inStep) {
      r.turns = (r.turns ?? 0) + 1;
      inStep = true;
    }
    const key = item.id ?? '';
    if (started) open.add(key);
    else open.delete(key);
  };

  const endStepIfIdle = (): void => {
    if (open.size === 0) inStep = false;
  };

  return {
    line(text: string): void {
      const e = jsonObjectLine(text) as CodexEvent | null;
      if (!e) return;
      switch (e.type) {
        case 'thread.started':
          r.activity = 'Start';
          break;
        case 'turn.started':
          r.stop = null;
          break;
        case 'item.started':
        case 'item.updated':
        case 'item.completed': {
          const item = e.item ?? {};
          const a = activityOf(item);
          if (a) r.activity = a;
          const tool = ['command_execution', 'file_change', 'mcp_tool_call', 'web_search'].includes(item.type ?? '');
          if (tool) {
            if (e.type === 'item.started') step(item, true);
            else if (e.type === 'item.completed') {
              if (!open.has(item.id ?? '')) step(item, true);
              open.delete(item.id ?? '');
              // Tool results go back to the model: the next item belongs to the next response.
              endStepIfIdle();
            }
          } else if (item.type === 'agent_message' && e.type === 'item.completed') {
            if (!inStep) {
              r.turns = (r.turns ?? 0) + 1;
            }
            inStep = false;
            if (typeof item.text === 'string') r.result = item.text;
          }
          // item type "error" is a warning ("Model metadata for `x` not found…"): not a stop.
          break;
        }
        case 'turn.completed': {
          const u = e.usage ?? {};
          if (typeof u.input_tokens === 'number') r.inputTokens = (r.inputTokens ?? 0) + u.input_tokens;
          if (typeof u.output_tokens === 'number') r.outputTokens = (r.outputTokens ?? 0) + u.output_tokens;
          r.costUsd = null;
          r.costSource = null;
          if (!failed) {
            r.stop = 'completed';
            r.error = null;
          }
          r.activity = 'Done';
          break;
        }
        case 'error':
          // "Reconnecting... 1/2 (…)" while Codex retries its model request; "Reconnecting... waiting for network
          // (Connection failed: …)" forever when the endpoint is unreachable: shown so a caller that kills a stuck
          // run can say why. The stop comes with turn.failed.
          if (typeof e.message === 'string') {
            lastError = e.message;
            if (/^Reconnecting\.\.\./.test(e.message)) retried = true;
            r.error = e.message;
            r.activity = shorten(e.message, 100);
          }
          break;
        case 'turn.failed': {
          failed = true;
          const msg = e.error?.message ?? lastError ?? 'codex: the turn failed';
          r.error = msg;
          r.stop = retried || MODEL_API_FAILURE.test(msg) ? 'model_api' : 'error';
          r.activity = 'Failed';
          break;
        }
        default:
          break;
      }
    },
    report(): AgentReport {
      return { ...r };
    },
  };
}

/** The one sentence Codex gets as its prompt: the task itself is in the file. */
export function codexPrompt(promptFile: string): string {
  return `Read the file ${promptFile} and do the task it describes.`;
}

export const codexPreset: BuilderPreset = {
  name: 'codex',
  program: 'codex',
  versionArgs: ['--version'],
  minVersion: '0.171.0',
  credentialEnv: ['OPENAI_API_KEY', 'CODEX_API_KEY', 'OPENAI_BASE_URL'],
  missingCredentials(env: Env): string | null {
    if (env.OPENAI_API_KEY || env.CODEX_API_KEY) return null;
    return 'Codex needs OPENAI_API_KEY (or CODEX_API_KEY) for its model API at OPENAI_BASE_URL (default https://api.openai.com/v1); a local OpenAI-compatible endpoint (Ollama, vLLM, LiteLLM) accepts any non-empty value.';
  },
  allowHosts(env: Env): string[] {
    return [baseUrl(env)];
  },
  prepare(o: PresetRunOptions) {
    const model = o.model ?? CODEX_DEFAULT_MODEL;
    const argv = [
      'codex',
      'exec',
      '--json',
      '--dangerously-bypass-approvals-and-sandbox',
      '--skip-git-repo-check',
      '--ephemeral',
      '--color',
      'never',
      '-C',
      o.cwd,
      '-m',
      model,
      codexPrompt(o.promptFile),
    ];
    return { argv, homeFiles: { '.codex/config.toml': codexConfig({ env: o.env, model }) }, env: {} };
  },
  // Codex's stream never names its model: the one it was given prices its tokens.
  reader(model: string | null): OutputReader {
    return codexReader(model ?? CODEX_DEFAULT_MODEL);
  },
};
