import type { ServerResponse } from 'node:http';
import { isAbsolute, join } from 'node:path';
import { sendJson, startModelServer, type ModelAction, type ModelRequest, type ModelScript, type ModelServer } from './script.js';

/**
 * A scripted Anthropic Messages API for the real `claude` CLI (Claude Code 2.1.332). Set ANTHROPIC_BASE_URL to
 * `server.url` (no /v1: the CLI appends /v1/messages itself).
 *
 * What the CLI sends (seen with 2.1.332, see docs/AGENTS.md):
 * - `HEAD /api/hello` once at start-up (a connectivity probe against the base URL; any answer will do, it is not
 *   a script step: answered 200 here).
 * - `POST /v1/messages?beta=true`, `stream: true`, auth in `x-api-key` (ANTHROPIC_API_KEY) or
 *   `authorization: Bearer` (ANTHROPIC_AUTH_TOKEN / CLAUDE_CODE_OAUTH_TOKEN), with `tools` (Bash, Read, Write, …)
 *   and the working directory in a `role: "system"` message ("Primary working directory: /path").
 * - Side requests (no `tools`, or `max_tokens` ≤ 1: a quota probe, a title, a summary) are answered with a short
 *   text and do not consume a script step. With CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 it sent none.
 * - `POST /v1/messages/count_tokens` is answered {input_tokens} without a step (never seen in -p mode).
 */
export interface AnthropicServerOptions {
  /** The CLI's working directory, for the absolute `file_path` of Write; default: read from each request's prompt. */
  cwd?: string;
  /** `retry-after` (seconds) sent with a 429; default "0" so the CLI's retries do not slow tests. */
  retryAfter?: string;
  /** Tokens reported per request (the CLI computes its cost from them and its price table). */
  usage?: { input_tokens: number; output_tokens: number };
}

export interface AnthropicServer extends ModelServer {
  /** The requests that were script steps (not the probe, side requests or count_tokens). */
  modelRequests(): ModelRequest[];
  /** Side requests answered without a script step. */
  sideRequests(): ModelRequest[];
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

export function anthropicErrorType(status: number): string {
  return ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** A request the CLI makes on the side (no tools to call: a quota probe, a title or a summary), not an agent turn. */
export function isSideRequest(req: ModelRequest): boolean {
  if (req.path !== '/v1/messages') return true;
  const tools = req.body.tools;
  if (!Array.isArray(tools) || tools.length === 0) return true;
  return typeof req.body.max_tokens === 'number' && req.body.max_tokens <= 1;
}

/** The CLI's working directory as its prompt states it ("Primary working directory: /x", older "Working directory: /x"). */
export function cwdFromRequest(req: ModelRequest): string | null {
  const text = JSON.stringify([req.body.system ?? null, req.body.messages ?? null]);
  const m = /(?:Primary working directory|Working directory): ((?:[^"\\]|\\.)+?)(?:\\n|")/.exec(text);
  return m?.[1] ? (JSON.parse(`"${m[1]}"`) as string) : null;
}

let seq = 0;
const id = (prefix: string): string => `${prefix}_${Date.now().toString(36)}${(++seq).toString(36).padStart(6, '0')}`;

type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

/** The assistant's content for one action: a tool call in Claude Code's own tools, or the final text. */
function blocksFor(action: ModelAction, req: ModelRequest, opts: AnthropicServerOptions): { blocks: Block[]; stop: 'tool_use' | 'end_turn' } {
  const tool = (name: string, input: Record<string, unknown>): { blocks: Block[]; stop: 'tool_use' } => ({
    blocks: [{ type: 'tool_use', id: id('toolu'), name, input }],
    stop: 'tool_use',
  });
  if ('write' in action) {
    const cwd = opts.cwd ?? cwdFromRequest(req);
    const p = action.write.path;
    if (!isAbsolute(p) && !cwd) throw new Error('scripted Anthropic model: cannot find the working directory in the request for Write');
    return tool('Write', { file_path: isAbsolute(p) ? p : join(cwd!, p), content: action.write.content });
  }
  if ('read' in action) return tool('Read', { file_path: action.read });
  if ('shell' in action) return tool('Bash', { command: action.shell, description: 'Run a scripted command' });
  if ('text' in action) return { blocks: [{ type: 'text', text: action.text }], stop: 'end_turn' };
  throw new Error(`scripted Anthropic model: no content for ${JSON.stringify(action)}`);
}

function sse(res: ServerResponse, type: string, data: Record<string, unknown>): void {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
}

/** Answer one /v1/messages request with these blocks, streamed (SSE) or as one JSON message, as the request asked. */
export function sendMessage(
  req: ModelRequest,
  res: ServerResponse,
  blocks: Block[],
  stop: string,
  usage: { input_tokens: number; output_tokens: number },
): void {
  const model = typeof req.body.model === 'string' ? req.body.model : 'claude-scripted';
  const message = { id: id('msg'), type: 'message', role: 'assistant', model, stop_sequence: null };
  const fullUsage = { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  if (req.body.stream !== true) {
    sendJson(res, 200, { ...message, content: blocks, stop_reason: stop, usage: fullUsage }, { 'request-id': id('req') });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': id('req') });
  sse(res, 'message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...fullUsage, output_tokens: 1 } } });
  blocks.forEach((b, index) => {
    if (b.type === 'text') {
      sse(res, 'content_block_start', { index, content_block: { type: 'text', text: '' } });
      sse(res, 'content_block_delta', { index, delta: { type: 'text_delta', text: b.text } });
    } else {
      sse(res, 'content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      const json = JSON.stringify(b.input);
      // Split like the real API does, so the CLI has to join partial JSON.
      const cut = Math.floor(json.length / 2);
      for (const part of [json.slice(0, cut), json.slice(cut)])
        sse(res, 'content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
    }
    sse(res, 'content_block_stop', { index });
  });
  sse(res, 'message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  sse(res, 'message_stop', {});
  res.end();
}

/** Anthropic's error shape: {"type":"error","error":{"type","message"}}, with retry-after on a 429. */
export function sendAnthropicError(res: ServerResponse, status: number, message: string | undefined, retryAfter: string): void {
  const type = anthropicErrorType(status);
  const headers: Record<string, string> = { 'request-id': id('req') };
  if (status === 429 || status === 529) headers['retry-after'] = retryAfter;
  sendJson(res, status, { type: 'error', error: { type, message: message ?? `scripted ${status} (${type})` }, request_id: headers['request-id'] }, headers);
}

/** Start the scripted server: each agent turn (a /v1/messages request with tools) takes the next script step. */
export async function startAnthropicServer(script: ModelScript, opts: AnthropicServerOptions = {}): Promise<AnthropicServer> {
  const usage = opts.usage ?? { input_tokens: 1200, output_tokens: 80 };
  const retryAfter = opts.retryAfter ?? '0';
  const main: ModelRequest[] = [];
  const side: ModelRequest[] = [];
  const placeholder: ModelAction = { text: '' };
  // startModelServer counts every routed request as a step: side requests get a placeholder, turns the real script.
  const wrapped = (req: ModelRequest): ModelAction => {
    if (isSideRequest(req)) {
      side.push(req);
      return placeholder;
    }
    const index = main.length;
    main.push(req);
    const action = typeof script === 'function' ? script(req, index) : script[index];
    return action ?? { status: 500, message: `scripted model: no action for request ${index + 1}` };
  };
  const messages = (req: ModelRequest, action: ModelAction, res: ServerResponse): void => {
    if (isSideRequest(req)) {
      sendMessage(req, res, [{ type: 'text', text: 'Scripted session' }], 'end_turn', { input_tokens: 10, output_tokens: 3 });
      return;
    }
    if ('status' in action) {
      sendAnthropicError(res, action.status, action.message, retryAfter);
      return;
    }
    const { blocks, stop } = blocksFor(action, req, opts);
    sendMessage(req, res, blocks, stop, usage);
  };
  const server = await startModelServer(
    {
      'POST /v1/messages': messages,
      'POST /v1/messages/count_tokens': (_req, _a, res) => sendJson(res, 200, { input_tokens: usage.input_tokens }),
      'HEAD /api/hello': (_req, _a, res) => {
        res.writeHead(200);
        res.end();
      },
      'GET /v1/models': (_req, _a, res) => sendJson(res, 200, { data: [], has_more: false, first_id: null, last_id: null }),
    },
    (req) => wrapped(req),
  );
  return { ...server, modelRequests: () => [...main], sideRequests: () => [...side] };
}
