import { join } from 'node:path';
import { jsonObjectLine } from './jsonLine.js';
import { emptyReport, type AgentReport, type BuilderPreset, type OutputReader, type PresetRunOptions } from './types.js';

/**
 * opencode (sst/opencode, `opencode run`), headless against any OpenAI-compatible Chat Completions endpoint
 * (LiteLLM, vLLM, Ollama, OpenAI itself): a custom provider `damascus` with the bundled `@ai-sdk/openai-compatible`
 * package (inside the binary: nothing is downloaded), its base URL and key read by opencode from the environment
 * (`{env:OPENAI_BASE_URL}`, `{env:OPENAI_API_KEY}`: no secret in the config file).
 *
 * Everything opencode would fetch or run on its own is off: models.dev (OPENCODE_DISABLE_MODELS_FETCH), the
 * autoupdater, sharing, LSP and formatter downloads, external and default plugins (OPENCODE_PURE), the worktree's
 * own opencode.json and .opencode/ (OPENCODE_DISABLE_PROJECT_CONFIG: the repository must not configure its agent),
 * Claude Code's prompt files and skills. It still starts a background `npm install @opencode-ai/plugin` in its config
 * directory; without a registry that fails quietly (a warning in its log) and does not delay the run.
 * All its state (config, session database, snapshots, logs) is under the private HOME through XDG_*.
 */
export const PROVIDER_ID = 'damascus';
const DEFAULT_MODEL = 'gpt-4.1';

/** The fixed message: the task is in the prompt file, never in argv. */
export function opencodeMessage(promptFile: string): string {
  return `Read the file ${promptFile} and do what it says.`;
}

/** The model asked for (the builder's `model`, DAMASCUS_OPENCODE_MODEL), else gpt-4.1. */
function modelName(o: { model: string | null }): string {
  const m = o.model ?? DEFAULT_MODEL;
  // "damascus/x" or a bare "x": opencode's -m takes provider/model, the provider being ours.
  return m.startsWith(`${PROVIDER_ID}/`) ? m.slice(PROVIDER_ID.length + 1) : m;
}

/** The opencode configuration (opencode.json) for one run. */
export function opencodeConfig(o: PresetRunOptions): Record<string, unknown> {
  const model = modelName(o);
  const input = o.inputDir.replace(/\/+$/, '');
  return {
    $schema: 'https://opencode.ai/config.json',
    provider: {
      [PROVIDER_ID]: {
        npm: '@ai-sdk/openai-compatible',
        name: 'Damascus model endpoint',
        options: { baseURL: '{env:OPENAI_BASE_URL}', apiKey: '{env:OPENAI_API_KEY}' },
        models: { [model]: { name: model } },
      },
    },
    enabled_providers: [PROVIDER_ID],
    model: `${PROVIDER_ID}/${model}`,
    small_model: `${PROVIDER_ID}/${model}`,
    autoupdate: false,
    share: 'disabled',
    lsp: false,
    formatter: false,
    plugin: [],
    // Everything in the worktree without asking (`opencode run` auto-rejects what would ask); outside it only the
    // input files; no web; no questions to a user who is not there.
    permission: {
      '*': 'allow',
      read: 'allow',
      edit: 'allow',
      bash: 'allow',
      external_directory: { '*': 'deny', [input]: 'allow', [`${input}/*`]: 'allow' },
      webfetch: 'deny',
      websearch: 'deny',
      question: 'deny',
      doom_loop: 'deny',
    },
    // `steps`: "Maximum number of agentic iterations before forcing text-only response".
    agent: { build: { steps: o.maxTurns } },
  };
}

export const opencodePreset: BuilderPreset = {
  name: 'opencode',
  program: 'opencode',
  versionArgs: ['--version'],
  minVersion: '1.18.33',
  credentialEnv: ['OPENAI_API_KEY', 'OPENAI_BASE_URL'],
  missingCredentials(env) {
    if (env.OPENAI_API_KEY && env.OPENAI_BASE_URL) return null;
    const missing = ['OPENAI_BASE_URL', 'OPENAI_API_KEY'].filter((n) => !env[n]);
    return `opencode needs ${missing.join(' and ')}: the OpenAI-compatible endpoint (e.g. http://litellm:4000/v1) and its key (any non-empty value for a local endpoint that takes none)`;
  },
  allowHosts(env) {
    return env.OPENAI_BASE_URL ? [env.OPENAI_BASE_URL] : [];
  },
  prepare(o) {
    const model = modelName(o);
    const configDir = '.config/opencode';
    const env: Record<string, string> = {
      // Its state under the private HOME, whatever the operator's XDG_* say.
      XDG_CONFIG_HOME: join(o.home, '.config'),
      XDG_DATA_HOME: join(o.home, '.local', 'share'),
      XDG_CACHE_HOME: join(o.home, '.cache'),
      XDG_STATE_HOME: join(o.home, '.local', 'state'),
      OPENCODE_CONFIG: join(o.home, configDir, 'opencode.json'),
      OPENCODE_DISABLE_PROJECT_CONFIG: '1',
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_SHARE: '1',
      OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
      OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
      OPENCODE_DISABLE_CLAUDE_CODE: '1',
      OPENCODE_DISABLE_EXTERNAL_SKILLS: '1',
      OPENCODE_DISABLE_EMBEDDED_WEB_UI: '1',
      OPENCODE_PURE: '1',
    };
    return {
      argv: [
        'opencode',
        'run',
        '--format',
        'json',
        '--pure',
        '--dir',
        o.cwd,
        // A title of our own: opencode then makes no title-generation request to the model.
        '--title',
        'damascus build',
        '-m',
        `${PROVIDER_ID}/${model}`,
        opencodeMessage(o.promptFile),
      ],
      homeFiles: { [`${configDir}/opencode.json`]: `${JSON.stringify(opencodeConfig(o), null, 2)}\n` },
      env,
    };
  },
  // Its steps limit does not stop it (it keeps calling tools): Damascus counts the steps and stops it (limitsTurns unset).
  reader(model: string | null) {
    return createOpencodeReader({ model: modelName({ model }) });
  },
};

interface Tokens {
  input?: number;
  output?: number;
  reasoning?: number;
  cache?: { read?: number; write?: number };
}
interface Part {
  type?: string;
  tool?: string;
  text?: string;
  reason?: string;
  cost?: number;
  tokens?: Tokens;
  state?: { status?: string; input?: Record<string, unknown>; title?: string; error?: string };
}
interface OpencodeEvent {
  type?: string;
  part?: Part;
  error?: { name?: string; data?: { message?: string; statusCode?: number; isRetryable?: boolean; responseBody?: string } };
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function shortPath(p: unknown): string {
  return typeof p === 'string' ? p : '';
}

/** "Write src/a.ts", "Bash npm test", "Read /in/prompt.md": one line for the dashboard. */
export function toolActivity(part: Part): string {
  const tool = part.tool ?? 'tool';
  const input = part.state?.input ?? {};
  const name = tool.charAt(0).toUpperCase() + tool.slice(1);
  const arg =
    shortPath(input.filePath) ||
    shortPath(input.command) ||
    shortPath(input.pattern) ||
    shortPath(input.url) ||
    shortPath(input.description) ||
    part.state?.title ||
    '';
  const line = `${name} ${arg.replace(/\s+/g, ' ')}`.trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** Is this error event the model API failing (rate limit, 5xx, authentication, unreachable), after opencode's retries? */
function isModelApiError(e: NonNullable<OpencodeEvent['error']>): boolean {
  const status = e.data?.statusCode;
  if (e.name === 'APIError') return true; // AI_APICallError: HTTP status or "Cannot connect to API".
  if (e.name === 'ProviderAuthError') return true;
  return typeof status === 'number' && (status === 401 || status === 403 || status === 429 || status >= 500);
}

export interface OpencodeReaderOptions {
  /** The model the preset configured (opencode's JSON events do not name it). */
  model?: string | null;
  /**
   * The agent's `steps` limit. At step `steps` opencode adds "CRITICAL - MAXIMUM STEPS REACHED … Respond with text
   * only" but still sends its tools (tool_choice auto) and runs the calls: a run whose last step is number `steps`
   * stopped at the limit; a run past it is `turn_limit` at once, and the caller must kill it.
   */
  maxTurns?: number | null;
}

/**
 * Reads `opencode run --format json`: one JSON object a line, `{type, timestamp, sessionID, part | error}` with type
 * step_start, text, tool_use (a tool part, completed or error), reasoning (with --thinking), step_finish (a model
 * round trip: `part.reason` "tool-calls" | "stop" | "length" …, `part.tokens`, `part.cost`), error (session error).
 * There is no final "result" event: the run ends when the process exits; the last step_finish with a reason other
 * than "tool-calls" and no error means it completed.
 */
export function createOpencodeReader(options: OpencodeReaderOptions = {}): OutputReader {
  const r: AgentReport = emptyReport();
  r.model = options.model ?? null;
  let cost = 0;
  let lastText: string | null = null;
  let failed = false;
  return {
    line(text) {
      const ev = jsonObjectLine(text) as OpencodeEvent | null;
      if (!ev) return;
      const part = ev.part ?? {};
      switch (ev.type) {
        case 'step_start':
          r.activity ??= 'Thinking';
          break;
        case 'text':
          if (typeof part.text === 'string' && part.text.trim() !== '') {
            lastText = part.text.trim();
            r.activity = lastText.split('\n')[0]!.slice(0, 120);
          }
          break;
        case 'tool_use':
          r.activity = toolActivity(part);
          break;
        case 'step_finish': {
          r.turns = (r.turns ?? 0) + 1;
          const t = part.tokens ?? {};
          r.inputTokens = (r.inputTokens ?? 0) + num(t.input) + num(t.cache?.read) + num(t.cache?.write);
          r.outputTokens = (r.outputTokens ?? 0) + num(t.output) + num(t.reasoning);
          cost += num(part.cost);
          // opencode prices from its model table; a custom model has no price there and it says 0: unknown, not free.
          if (cost > 0) {
            r.costUsd = cost;
            r.costSource = 'reported';
          }
          const limit = options.maxTurns ?? null;
          if (limit !== null && r.turns > limit) {
            // Past the limit: opencode asked for a text-only answer but still offered (and ran) tools, and a model
            // that ignores the request goes on for ever. The caller must kill the run when it sees this.
            r.stop = 'turn_limit';
            r.result = lastText;
          } else if (part.reason && part.reason !== 'tool-calls' && !failed) {
            r.result = lastText;
            r.stop = limit !== null && r.turns >= limit ? 'turn_limit' : 'completed';
          } else if (part.reason === 'tool-calls') {
            r.stop = null; // it goes on
          }
          break;
        }
        case 'error': {
          const e = ev.error ?? {};
          failed = true;
          const status = e.data?.statusCode;
          const message = e.data?.message ?? e.name ?? 'opencode error';
          r.error = typeof status === 'number' ? `${status}: ${message}` : message;
          r.stop = isModelApiError(e) ? 'model_api' : 'error';
          r.result = lastText;
          break;
        }
        default:
          break;
      }
    },
    report() {
      return { ...r };
    },
  };
}
