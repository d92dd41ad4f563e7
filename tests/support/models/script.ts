import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What a scripted model does on one request, in terms every API can express: each API's handler turns it into
 * that CLI's own tool call (Claude Code's Write, Codex's apply_patch or shell, opencode's write).
 */
export type ModelAction =
  /** Write a file (path relative to the CLI's working directory) with the CLI's own file tool. */
  | { write: { path: string; content: string } }
  /** Read a file (absolute path) with the CLI's own read tool. */
  | { read: string }
  /** Run a shell command with the CLI's shell tool, where it has one. */
  | { shell: string }
  /** The final answer: the run ends. */
  | { text: string }
  /** Answer with this HTTP status and an API-shaped error body. */
  | { status: number; message?: string }
  /** Never answer (the CLI must be killed at its limit). */
  | { hang: true };

export interface ModelRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/** The script: a list taken in order (one action per model request), or a function of the request. */
export type ModelScript = ModelAction[] | ((req: ModelRequest, index: number) => ModelAction);

export interface ModelServer {
  /** Base URL (http://127.0.0.1:PORT); each API module says what path to append for its CLI. */
  url: string;
  requests: ModelRequest[];
  close(): Promise<void>;
}

/** Route handler: answers one request with one action. */
export type ModelHandler = (req: ModelRequest, action: ModelAction, res: ServerResponse) => void | Promise<void>;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A scripted model server on a free loopback port: `routes` maps "POST /v1/messages" style keys to handlers. */
export async function startModelServer(routes: Record<string, ModelHandler>, script: ModelScript): Promise<ModelServer> {
  const requests: ModelRequest[] = [];
  const hanging = new Set<ServerResponse>();
  let modelRequests = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const handler = routes[`${req.method} ${path}`];
      let body: Record<string, unknown> = {};
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        sendJson(res, 400, { error: { message: 'body is not JSON', type: 'invalid_request_error' } });
        return;
      }
      const request: ModelRequest = { path, headers: req.headers, body };
      requests.push(request);
      if (!handler) {
        sendJson(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'not_found_error' } });
        return;
      }
      const index = modelRequests++;
      const action = typeof script === 'function' ? script(request, index) : script[index];
      if (action === undefined) {
        sendJson(res, 500, { error: { message: `scripted model: no action for request ${index + 1}`, type: 'api_error' } });
        return;
      }
      if ('hang' in action) {
        hanging.add(res);
        return;
      }
      await handler(request, action, res);
    })().catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(e), type: 'api_error' } });
      else res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
