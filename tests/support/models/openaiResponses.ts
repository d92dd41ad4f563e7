import type { ServerResponse } from 'node:http';
import { sendOpenAiError } from './openaiErrors.js';
import { startModelServer, type ModelAction, type ModelHandler, type ModelRequest, type ModelScript, type ModelServer } from './script.js';

/**
 * A scripted OpenAI Responses API (`POST /v1/responses`, streamed as server-sent events) for the Codex CLI.
 * Codex 0.171 sends `stream: true` and reads: response.created, response.output_item.added/done (the items it acts
 * on: message, function_call, custom_tool_call), output_text / arguments / custom tool input deltas (display only)
 * and response.completed (its end of turn, with usage). Each ModelAction becomes Codex's own tool call:
 * write → the freeform `apply_patch` custom tool (an "Add File" hunk, which creates or overwrites) when the request
 * declares it, else a shell command; read/shell → `exec_command` (or `shell` / `local_shell` when declared instead).
 */

interface Tool {
  type?: string;
  name?: string;
}

let seq = 0;
const id = (prefix: string): string => `${prefix}_${Date.now().toString(36)}${(seq++).toString(36).padStart(4, '0')}`;

function declaredTools(req: ModelRequest): Tool[] {
  return Array.isArray(req.body.tools) ? (req.body.tools as Tool[]) : [];
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Codex's apply_patch envelope adding (or replacing) one file. */
export function addFilePatch(path: string, content: string): string {
  const lines = content.endsWith('\n') ? content.slice(0, -1).split('\n') : content.split('\n');
  return ['*** Begin Patch', `*** Add File: ${path}`, ...lines.map((l) => `+${l}`), '*** End Patch', ''].join('\n');
}

/** A shell command that writes the file exactly (any bytes, no trailing-newline change). */
function writeCommand(path: string, content: string): string {
  const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  const mk = dir ? `mkdir -p ${quote(dir)} && ` : '';
  return `${mk}printf %s ${quote(Buffer.from(content).toString('base64'))} | base64 -d > ${quote(path)}`;
}

/** The output item for a shell command, in whichever shell tool the request declares. */
function shellItem(req: ModelRequest, command: string): Record<string, unknown> {
  const tools = declaredTools(req);
  const call_id = id('call');
  if (tools.some((t) => t.type === 'function' && t.name === 'exec_command')) {
    return {
      type: 'function_call',
      id: id('fc'),
      call_id,
      name: 'exec_command',
      arguments: JSON.stringify({ cmd: command, yield_time_ms: 10000 }),
      status: 'completed',
    };
  }
  if (tools.some((t) => t.type === 'function' && t.name === 'shell')) {
    return {
      type: 'function_call',
      id: id('fc'),
      call_id,
      name: 'shell',
      arguments: JSON.stringify({ command: ['bash', '-lc', command] }),
      status: 'completed',
    };
  }
  if (tools.some((t) => t.type === 'local_shell')) {
    return { type: 'local_shell_call', id: id('lsh'), call_id, status: 'completed', action: { type: 'exec', command: ['bash', '-lc', command] } };
  }
  throw new Error(`scripted Responses model: the request declares no shell tool (tools: ${tools.map((t) => t.name ?? t.type).join(', ')})`);
}

/** The output item one action stands for. */
export function outputItem(req: ModelRequest, action: ModelAction): Record<string, unknown> {
  if ('text' in action) {
    return { type: 'message', id: id('msg'), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: action.text, annotations: [] }] };
  }
  if ('write' in action) {
    const tools = declaredTools(req);
    const patch = addFilePatch(action.write.path, action.write.content);
    if (tools.some((t) => t.type === 'custom' && t.name === 'apply_patch')) {
      return { type: 'custom_tool_call', id: id('ctc'), call_id: id('call'), name: 'apply_patch', input: patch, status: 'completed' };
    }
    if (tools.some((t) => t.type === 'function' && t.name === 'apply_patch')) {
      return {
        type: 'function_call',
        id: id('fc'),
        call_id: id('call'),
        name: 'apply_patch',
        arguments: JSON.stringify({ input: patch }),
        status: 'completed',
      };
    }
    return shellItem(req, writeCommand(action.write.path, action.write.content));
  }
  if ('read' in action) return shellItem(req, `cat ${quote(action.read)}`);
  if ('shell' in action) return shellItem(req, action.shell);
  throw new Error(`scripted Responses model: no output item for ${JSON.stringify(action)}`);
}

/** Rough token count of the request, so usage is non-zero and grows with the conversation. */
function inputTokens(req: ModelRequest): number {
  return Math.max(1, Math.ceil(JSON.stringify(req.body.input ?? '').length / 4));
}

function sendError(res: ServerResponse, status: number, message: string | undefined): void {
  sendOpenAiError(res, status, message, status === 429 ? { 'retry-after': '1', 'retry-after-ms': '200' } : {});
}

function sse(res: ServerResponse, event: Record<string, unknown> & { type: string }): void {
  res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
}

/** `POST /v1/responses`: one action → one streamed response (or an error status). */
export const responsesHandler: ModelHandler = (req, action, res) => {
  if ('status' in action) {
    sendError(res, action.status, action.message);
    return;
  }
  const item = outputItem(req, action);
  const model = typeof req.body.model === 'string' ? req.body.model : 'scripted';
  const responseId = id('resp');
  const created_at = Math.floor(Date.now() / 1000);
  const base = { id: responseId, object: 'response', created_at, model, output: [] as unknown[], tools: [], parallel_tool_calls: true };
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': id('req') });
  let n = 0;
  const emit = (e: Record<string, unknown> & { type: string }): void => sse(res, { ...e, sequence_number: n++ });
  emit({ type: 'response.created', response: { ...base, status: 'in_progress' } });
  emit({ type: 'response.in_progress', response: { ...base, status: 'in_progress' } });
  const itemId = item.id as string;
  if (item.type === 'message') {
    const text = ((item.content as { text: string }[])[0] ?? { text: '' }).text;
    emit({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', content: [] } });
    emit({ type: 'response.content_part.added', item_id: itemId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
    emit({ type: 'response.output_text.delta', item_id: itemId, output_index: 0, content_index: 0, delta: text });
    emit({ type: 'response.output_text.done', item_id: itemId, output_index: 0, content_index: 0, text });
    emit({ type: 'response.content_part.done', item_id: itemId, output_index: 0, content_index: 0, part: { type: 'output_text', text, annotations: [] } });
  } else if (item.type === 'custom_tool_call') {
    emit({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', input: '' } });
    emit({ type: 'response.custom_tool_call_input.delta', item_id: itemId, output_index: 0, delta: item.input });
    emit({ type: 'response.custom_tool_call_input.done', item_id: itemId, output_index: 0, input: item.input });
  } else if (item.type === 'function_call') {
    emit({ type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress', arguments: '' } });
    emit({ type: 'response.function_call_arguments.delta', item_id: itemId, output_index: 0, delta: item.arguments });
    emit({ type: 'response.function_call_arguments.done', item_id: itemId, output_index: 0, arguments: item.arguments });
  } else {
    emit({ type: 'response.output_item.added', output_index: 0, item });
  }
  emit({ type: 'response.output_item.done', output_index: 0, item });
  const input_tokens = inputTokens(req);
  const output_tokens = Math.max(1, Math.ceil(JSON.stringify(item).length / 4));
  emit({
    type: 'response.completed',
    response: {
      ...base,
      status: 'completed',
      output: [item],
      usage: {
        input_tokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: input_tokens + output_tokens,
      },
    },
  });
  res.end();
};

/**
 * A Responses API server for Codex: base URL for the CLI is `${url}/v1`. Only `POST /v1/responses` takes script
 * actions; any other path (Codex calls none) is answered 404 by startModelServer without taking one.
 */
export function startResponsesServer(script: ModelScript): Promise<ModelServer> {
  return startModelServer({ 'POST /v1/responses': responsesHandler }, script);
}
