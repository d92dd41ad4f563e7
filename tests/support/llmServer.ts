import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmRequest {
  model: string;
  messages: { role: string; content: string }[];
  headers: Record<string, string | string[] | undefined>;
}

/**
 * One scripted answer: the assistant's text, an HTTP error status, or a fuller reply (usage, a LiteLLM cost
 * header, an OpenRouter-style `usage.cost`, a different model name, or a raw body).
 */
export type LlmScript =
  | string
  | { status: number; message?: string }
  | { text: string; promptTokens?: number; completionTokens?: number; model?: string; costHeader?: string; usageCost?: number }
  | { raw: unknown };

export interface LlmServer {
  /** Base URL for the OpenAI client (ends with /v1). */
  url: string;
  requests: LlmRequest[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

let completionSeq = 0;

/** A scripted OpenAI-compatible chat server on a free port: answers POST /v1/chat/completions in turn. */
export async function startLlmServer(opts: { responses: LlmScript[] | ((req: LlmRequest, index: number) => LlmScript) }): Promise<LlmServer> {
  const requests: LlmRequest[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        send(res, 404, { error: { message: `no route ${req.method} ${req.url}`, type: 'invalid_request_error' } });
        return;
      }
      let parsed: { model?: unknown; messages?: unknown };
      try {
        parsed = JSON.parse(await readBody(req));
      } catch {
        send(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
        return;
      }
      if (typeof parsed.model !== 'string' || !Array.isArray(parsed.messages)) {
        send(res, 400, { error: { message: 'model and messages are required', type: 'invalid_request_error' } });
        return;
      }
      const request: LlmRequest = { model: parsed.model, messages: parsed.messages as LlmRequest['messages'], headers: req.headers };
      const index = requests.length;
      requests.push(request);
      const script = typeof opts.responses === 'function' ? opts.responses(request, index) : opts.responses[index];
      if (script === undefined) {
        send(res, 500, { error: { message: `llmServer: no scripted response for request ${index + 1}`, type: 'server_error' } });
        return;
      }
      if (typeof script === 'object' && 'raw' in script) {
        send(res, 200, script.raw);
        return;
      }
      if (typeof script === 'object' && 'status' in script) {
        send(res, script.status, { error: { message: script.message ?? `scripted ${script.status}`, type: 'scripted_error' } });
        return;
      }
      const s = typeof script === 'string' ? { text: script } : script;
      const promptTokens = s.promptTokens ?? JSON.stringify(request.messages).length >> 2;
      const completionTokens = s.completionTokens ?? Math.max(1, s.text.length >> 2);
      const usage: Record<string, number> = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
      if (s.usageCost !== undefined) usage.cost = s.usageCost;
      send(
        res,
        200,
        {
          id: `chatcmpl-scripted-${++completionSeq}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: s.model ?? request.model,
          choices: [{ index: 0, message: { role: 'assistant', content: s.text, refusal: null }, finish_reason: 'stop', logprobs: null }],
          usage,
        },
        s.costHeader !== undefined ? { 'x-litellm-response-cost': s.costHeader } : {},
      );
    })().catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, { error: { message: String(e), type: 'server_error' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
