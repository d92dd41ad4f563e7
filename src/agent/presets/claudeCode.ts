import { dirname, isAbsolute, relative } from 'node:path';
import { verdictFilePath } from '../runAgent.js';
import { finiteNumber as num, jsonObject as obj, jsonObjectLine, type Json } from './jsonLine.js';
import { emptyReport, type AgentReport, type AgentStop, type BuilderPreset, type Env, type OutputReader, type PresetRunOptions } from './types.js';

/**
 * Claude Code (`claude`, 2.1.332) headless: `-p` with `--output-format stream-json` (which needs `--verbose`),
 * `--permission-mode dontAsk` (anything not in --allowedTools is denied, never asked), `--max-turns`.
 * Findings behind each choice: docs/AGENTS.md.
 */

/** Its model credentials: an API key (x-api-key), a bearer token (gateways), or a subscription's OAuth token. */
const KEY_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;

/** Retries of a failed model request (429, 5xx, 529, 401, connection errors, timeouts). Claude Code's own default is 10 (about 3 minutes of backoff). */
export const DEFAULT_CLAUDE_MAX_RETRIES = 3;

/** CLAUDE_CODE_MAX_RETRIES for a run: DAMASCUS_CLAUDE_MAX_RETRIES, else the operator's CLAUDE_CODE_MAX_RETRIES, else 3. */
export function claudeMaxRetries(env: Env): number {
  for (const v of [env.DAMASCUS_CLAUDE_MAX_RETRIES, env.CLAUDE_CODE_MAX_RETRIES]) {
    if (v !== undefined && /^\s*\d{1,3}\s*$/.test(v)) return Number(v);
  }
  return DEFAULT_CLAUDE_MAX_RETRIES;
}

const set = (v: string | undefined): boolean => v !== undefined && v.trim() !== '';

export const claudeCodePreset: BuilderPreset = {
  name: 'claude-code',
  program: 'claude',
  versionArgs: ['--version'],
  // The stream shapes the reader relies on (terminal_reason, api_error_status) were verified with this version.
  minVersion: '2.1.332',
  // --max-turns: the CLI stops itself, and says so (subtype error_max_turns).
  limitsTurns: true,
  credentialEnv: [...KEY_VARS, 'ANTHROPIC_BASE_URL'],
  missingCredentials(env: Env): string | null {
    if (KEY_VARS.some((k) => set(env[k]))) return null;
    return `Claude Code has no credentials: set ANTHROPIC_API_KEY (an Anthropic API key), ANTHROPIC_AUTH_TOKEN (a bearer token for a gateway at ANTHROPIC_BASE_URL) or CLAUDE_CODE_OAUTH_TOKEN (from \`claude setup-token\`). Without one it answers "Not logged in · Please run /login".`;
  },
  allowHosts(env: Env): string[] {
    return [set(env.ANTHROPIC_BASE_URL) ? env.ANTHROPIC_BASE_URL!.trim() : 'https://api.anthropic.com'];
  },
  prepare(o: PresetRunOptions) {
    // The verdict file is outside the worktree (runAgent's <stateDir>/out): the agent's file tools may write there.
    const verdictDir = dirname(verdictFilePath(dirname(o.home)));
    const argv = [
      'claude',
      '-p',
      `Read ${o.promptFile} and carry out the task it describes.`,
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'dontAsk',
      // Variadic options: each is followed by another option so it cannot swallow what comes next.
      '--add-dir',
      o.inputDir,
      verdictDir,
    ];
    if (o.allowedTools.length > 0) argv.push('--allowedTools', ...o.allowedTools);
    argv.push('--max-turns', String(o.maxTurns));
    if (o.model) argv.push('--model', o.model);
    return {
      argv,
      // A fresh HOME works as it is in -p mode: no onboarding, no trust dialog; the CLI writes ~/.claude.json and ~/.claude/ itself.
      homeFiles: {},
      env: {
        // No statsig/sentry/update checks/`HEAD /api/hello` probe, no connections to api.anthropic.com besides the model API.
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_MAX_RETRIES: String(claudeMaxRetries(o.env)),
      },
    };
  },
  reader: () => new ClaudeCodeReader(),
};

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Result texts of model API failures, for CLIs that print no terminal_reason. */
const API_FAILURE = /^(API Error|Failed to authenticate|Not logged in|Invalid API key|Request timed out|Credit balance is too low)/;

function oneLine(s: string, max = 120): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * Reads `--output-format stream-json --verbose`: `system` (init: model; api_retry: a failed request being retried),
 * `assistant` (one line per content block; several lines share a message id), `user` (tool results), and the final
 * `result` (num_turns, total_cost_usd, usage, is_error, subtype, terminal_reason, api_error_status).
 */
export class ClaudeCodeReader implements OutputReader {
  private r: AgentReport = emptyReport();
  private cwd: string | null = null;
  private started = false;
  /** Ids of the model's own messages in the main conversation: its round trips. */
  private readonly messages = new Set<string>();
  private readonly tokens = { input: 0, output: 0 };
  private apiError: string | null = null;

  line(text: string): void {
    const o = jsonObjectLine(text);
    if (!o) return;
    switch (o.type) {
      case 'system':
        this.system(o);
        break;
      case 'assistant':
        this.assistant(o);
        break;
      case 'user':
        this.user(o);
        break;
      case 'result':
        this.result(o);
        break;
      default:
    }
  }

  report(): AgentReport {
    return { ...this.r };
  }

  private system(o: Json): void {
    if (o.subtype === 'init') {
      this.started = true;
      this.r.model = str(o.model) ?? this.r.model;
      this.cwd = str(o.cwd);
      this.r.turns ??= 0;
      this.r.activity = 'started';
    } else if (o.subtype === 'api_retry') {
      const status = num(o.error_status);
      const what = `${status ?? 'no answer'}${o.error ? ` ${String(o.error)}` : ''}`;
      this.r.activity = `model API failed (${what}), retry ${String(o.attempt ?? '?')}/${String(o.max_retries ?? '?')}`;
      this.r.error = `model API: ${what}`;
    }
  }

  private assistant(o: Json): void {
    const m = obj(o.message);
    if (!m) return;
    const content = Array.isArray(m.content) ? (m.content as unknown[]).map(obj).filter((b): b is Json => b !== null) : [];
    // The CLI's own message standing in for a failed request ("API Error: …", "Not logged in …").
    if (m.model === '<synthetic>' || o.is_api_error_message === true) {
      const text = content
        .map((b) => str(b.text) ?? '')
        .join('')
        .trim();
      if (o.is_api_error_message === true || o.error) this.apiError = text || String(o.error);
      return;
    }
    const id = str(m.id);
    const main = o.parent_tool_use_id === null || o.parent_tool_use_id === undefined;
    if (id && main && !this.messages.has(id)) {
      this.messages.add(id);
      this.r.turns = this.messages.size;
      const u = obj(m.usage);
      if (u) {
        this.tokens.input += (num(u.input_tokens) ?? 0) + (num(u.cache_creation_input_tokens) ?? 0) + (num(u.cache_read_input_tokens) ?? 0);
        this.tokens.output += num(u.output_tokens) ?? 0;
        this.r.inputTokens = this.tokens.input;
        this.r.outputTokens = this.tokens.output;
      }
    }
    if (typeof m.model === 'string') this.r.model ??= m.model;
    for (const b of content) {
      if (b.type === 'tool_use') this.r.activity = this.toolActivity(str(b.name) ?? 'tool', obj(b.input) ?? {});
      else if (b.type === 'text' && str(b.text)?.trim()) this.r.activity = oneLine(str(b.text)!);
    }
  }

  private user(o: Json): void {
    const m = obj(o.message);
    const content = m && Array.isArray(m.content) ? (m.content as unknown[]).map(obj) : [];
    for (const b of content) {
      if (b?.type === 'tool_result' && b.is_error === true && this.r.activity && !this.r.activity.endsWith(' (failed)')) this.r.activity += ' (failed)';
    }
  }

  private toolActivity(name: string, input: Json): string {
    const path = str(input.file_path) ?? str(input.notebook_path) ?? str(input.path);
    if (path) return `${name} ${this.shortPath(path)}`;
    const command = str(input.command);
    if (command) return `${name} ${oneLine(command, 100)}`;
    const pattern = str(input.pattern) ?? str(input.query) ?? str(input.description) ?? str(input.url);
    return pattern ? `${name} ${oneLine(pattern, 100)}` : name;
  }

  private shortPath(p: string): string {
    if (this.cwd && isAbsolute(p)) {
      const rel = relative(this.cwd, p);
      if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return rel;
    }
    return p;
  }

  private result(o: Json): void {
    const r = this.r;
    const resultText = str(o.result);
    r.result = resultText;
    const cost = num(o.total_cost_usd);
    if (cost !== null) {
      r.costUsd = cost;
      r.costSource = 'reported';
    }
    // Round trips as seen in the stream; num_turns (which also counts the turn refused at --max-turns, and a
    // failed request) only when the stream was not seen.
    if (!this.started || this.messages.size === 0) r.turns = this.started ? 0 : num(o.num_turns);
    const u = obj(o.usage);
    if (u) {
      r.inputTokens = (num(u.input_tokens) ?? 0) + (num(u.cache_creation_input_tokens) ?? 0) + (num(u.cache_read_input_tokens) ?? 0);
      r.outputTokens = num(u.output_tokens) ?? 0;
    }
    const usage = obj(o.modelUsage);
    if (usage && !r.model) r.model = Object.keys(usage)[0] ?? null;

    const isError = o.is_error === true;
    const terminal = str(o.terminal_reason);
    const status = num(o.api_error_status);
    const errors = Array.isArray(o.errors) ? (o.errors as unknown[]).map(String).join('; ') : '';
    let stop: AgentStop;
    if (o.subtype === 'error_max_turns' || terminal === 'max_turns') stop = 'turn_limit';
    else if (terminal === 'api_error' || status !== null || (isError && (this.apiError !== null || API_FAILURE.test(resultText ?? '')))) stop = 'model_api';
    else if (!isError && (o.subtype === 'success' || o.subtype === undefined)) stop = 'completed';
    else stop = 'error';
    r.stop = stop;
    if (stop === 'completed') r.error = null;
    else if (stop === 'model_api') {
      const type = str(o.api_error_type);
      const head = status !== null ? `model API ${status}${type ? ` ${type}` : ''}: ` : 'model API: ';
      r.error = head + (resultText ?? this.apiError ?? (errors || 'request failed'));
    } else r.error = errors || resultText || `Claude Code stopped: ${String(o.subtype ?? terminal ?? 'error')}`;
    r.activity = stop === 'completed' ? 'finished' : `stopped: ${stop}`;
  }
}
