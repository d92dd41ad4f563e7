import type { ServerResponse } from 'node:http';
import { isAbsolute, join } from 'node:path';
import { sendOpenAiError } from './openaiErrors.js';
import { sendJson, startModelServer, type ModelAction, type ModelHandler, type ModelRequest, type ModelScript, type ModelServer } from './script.js';

/**
 * A scripted OpenAI Chat Completions API (`POST /v1/chat/completions`), streaming and not.
 *
 * Streaming (`stream: true`): Server-Sent Events, one `data: {chat.completion.chunk}` per line: the role, then the
 * content or the tool call (`delta.tool_calls[{index, id, type: 'function', function: {name, arguments}}]`, the
 * arguments in two pieces, as real servers split them), a last chunk with `finish_reason`, a usage chunk when
 * `stream_options.include_usage`, then `data: [DONE]`. Not streaming: one `chat.completion` object.
 *
 * The same handler serves Damascus's spec phase (src/llm/chat.ts: the openai client, no tools, not streaming) and
 * opencode's builder; a request without tools answered by a `text` action is an ordinary completion.
 *
 * ModelAction → opencode's own tools, by the names the request declares in `tools`:
 *   write → `write` {filePath, content} (absolute: the path joined to the working directory that opencode's system
 *           prompt states, "Working directory: /x"; relative as given when the prompt says none),
 *   read  → `read` {filePath},
 *   shell → `bash` {command, description}.
 * A request that does not declare the tool an action needs is answered 400 (the script is wrong for that client).
 *
 * status → that HTTP status with OpenAI's error body; 429 and 5xx carry `retry-after-ms: 10` and `retry-after: 0`,
 * which opencode and the openai npm client honour, so their retries are quick (without it opencode waits 2, 4, 8, 16,
 * 30 s). Requests are recorded by startModelServer with their headers (`authorization: Bearer …`).
 */

/** opencode's title generator: a side request (no tools, its own system prompt); answered without a script step. */
export function isSideRequest(req: ModelRequest): boolean {
  const messages = req.body.messages;
  if (!Array.isArray(messages)) return false;
  const first = messages[0] as { role?: unknown; content?: unknown } | undefined;
  const system = first?.role === 'system' ? contentText(first.content) : '';
  return system.startsWith('You are a title generator');
}

/**
 * The script as startModelServer should take it for an OpenAI-compatible endpoint: side requests (opencode's title
 * generation) get a harmless title and do not use up a step; every other request takes the next step in order.
 */
export function chatScript(script: ModelScript): ModelScript {
  let step = 0;
  return (req, _index) => {
    if (req.path === '/v1/chat/completions' && isSideRequest(req)) return { text: 'Scripted build' };
    const i = step++;
    return typeof script === 'function' ? script(req, i) : (script[i] as ModelAction);
  };
}

/** A server with the Chat Completions route only; url + '/v1' is the base URL for OpenAI clients. */
export function startChatServer(script: ModelScript): Promise<ModelServer> {
  return startModelServer({ 'POST /v1/chat/completions': chatHandler }, chatScript(script));
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('');
  }
  return '';
}

/** The working directory opencode states in its system prompt ("Working directory: /x"), or null. */
export function workingDirectory(req: ModelRequest): string | null {
  const messages = Array.isArray(req.body.messages) ? (req.body.messages as { role?: unknown; content?: unknown }[]) : [];
  for (const m of messages) {
    if (m.role !== 'system') continue;
    const match = /Working directory: (.+)/.exec(contentText(m.content));
    if (match?.[1]) return match[1].trim();
  }
  return null;
}

function declaredTools(req: ModelRequest): Set<string> {
  const tools = Array.isArray(req.body.tools) ? (req.body.tools as { function?: { name?: unknown } }[]) : [];
  return new Set(tools.map((t) => t.function?.name).filter((n): n is string => typeof n === 'string'));
}

interface ToolCall {
  name: string;
  arguments: string;
}

/** The tool call an action stands for, or an error message when the request does not offer that tool. */
function toolCallFor(req: ModelRequest, action: ModelAction): ToolCall | { error: string } | null {
  const tools = declaredTools(req);
  const need = (name: string, args: Record<string, unknown>): ToolCall | { error: string } =>
    tools.has(name)
      ? { name, arguments: JSON.stringify(args) }
      : { error: `scripted model: the request declares no "${name}" tool (it has: ${[...tools].join(', ') || 'none'})` };
  if ('write' in action) {
    const cwd = workingDirectory(req);
    const filePath = isAbsolute(action.write.path) || !cwd ? action.write.path : join(cwd, action.write.path);
    return need('write', { filePath, content: action.write.content });
  }
  if ('read' in action) return need('read', { filePath: action.read });
  if ('shell' in action) return need('bash', { command: action.shell, description: 'Run a scripted command' });
  return null;
}

function sendError(res: ServerResponse, status: number, message?: string): void {
  // opencode honours retry-after-ms: its hard-coded retries (5, about a minute) stay fast.
  sendOpenAiError(res, status, message, status === 429 || status >= 500 ? { 'retry-after-ms': '10', 'retry-after': '0' } : {});
}

/** A rough token count (4 characters a token), never 0: enough for usage to be non-zero and plausible. */
const tokens = (s: string): number => Math.max(1, Math.ceil(s.length / 4));

let seq = 0;

export const chatHandler: ModelHandler = (req, action, res) => {
  if ('status' in action) return sendError(res, action.status, action.message);
  if ('hang' in action) return; // startModelServer holds hanging requests itself.
  const call = toolCallFor(req, action);
  if (call && 'error' in call) return sendError(res, 400, call.error);
  const text = 'text' in action ? action.text : null;
  const id = `chatcmpl-scripted-${++seq}`;
  const callId = `call_scripted_${seq}`;
  const model = typeof req.body.model === 'string' ? req.body.model : 'scripted';
  const created = Math.floor(Date.now() / 1000);
  const finish = call ? 'tool_calls' : 'stop';
  const usage = {
    prompt_tokens: tokens(JSON.stringify(req.body.messages ?? [])),
    completion_tokens: tokens(text ?? call?.arguments ?? ''),
    total_tokens: 0,
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;

  if (req.body.stream !== true) {
    const message = call
      ? { role: 'assistant', content: null, tool_calls: [{ id: callId, type: 'function', function: call }] }
      : { role: 'assistant', content: text ?? '' };
    return sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage,
    });
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): void => {
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`);
  };
  const delta = (d: Record<string, unknown>, finishReason: string | null = null): void =>
    chunk([{ index: 0, delta: d, logprobs: null, finish_reason: finishReason }]);
  delta({ role: 'assistant', content: '' });
  if (call) {
    const half = Math.floor(call.arguments.length / 2);
    delta({ tool_calls: [{ index: 0, id: callId, type: 'function', function: { name: call.name, arguments: call.arguments.slice(0, half) } }] });
    delta({ tool_calls: [{ index: 0, function: { arguments: call.arguments.slice(half) } }] });
  } else {
    const t = text ?? '';
    const half = Math.floor(t.length / 2);
    delta({ content: t.slice(0, half) });
    if (t.length > half) delta({ content: t.slice(half) });
  }
  delta({}, finish);
  const options = req.body.stream_options as { include_usage?: unknown } | undefined;
  if (options?.include_usage === true) chunk([], { usage });
  res.write('data: [DONE]\n\n');
  res.end();
};
