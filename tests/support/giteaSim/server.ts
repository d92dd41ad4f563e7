import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { handlers, type HandlerResult } from './handlers.js';
import { SimHttpError, type GiteaSim } from './sim.js';
import { checkRequest, checkResponse } from './validate.js';

const API_PREFIX = '/api/v1';
const SWAGGER_URL = '/api/swagger';
/** Operations Gitea serves without a token. */
const PUBLIC_OPERATIONS = new Set(['getVersion']);

/** The HTTP front: faults → route match (404) → token (401) → swagger validation (422) → handler → response check. */
export function createSimServer(sim: GiteaSim): Server {
  return createServer((req, res) => {
    handle(sim, req, res).catch((err: unknown) => {
      sim.responseViolations.push(`internal simulator error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      if (!res.headersSent) sendJson(res, 500, { message: 'internal simulator error', url: SWAGGER_URL });
    });
  });
}

async function handle(sim: GiteaSim, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', sim.url);
  const method = (req.method ?? 'GET').toUpperCase();
  const raw = await readBody(req);
  if (!url.pathname.startsWith(`${API_PREFIX}/`)) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found');
    return;
  }
  const path = url.pathname.slice(API_PREFIX.length);
  const record = { method, path, status: null as number | null, operationId: undefined as string | undefined };
  sim.requests.push(record);

  const fault = sim.faults.take(method, path);
  if (fault?.kind === 'timeout') {
    // Hang, then drop the connection without an answer.
    await new Promise((resolve) => setTimeout(resolve, fault.ms));
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'status') {
    record.status = fault.status;
    sendJson(res, fault.status, fault.body);
    return;
  }

  let body: unknown;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      record.status = 422;
      sendJson(res, 422, { message: 'invalid JSON body', url: SWAGGER_URL });
      return;
    }
  }
  const query = Object.fromEntries(url.searchParams.entries());
  const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
  const check = await checkRequest({ method, path, query, headers, body });
  if (!check.ok && check.status === 404) {
    record.status = 404;
    sendJson(res, 404, check.body);
    return;
  }
  const operationId = check.ok ? check.operationId : undefined;
  const viewer = authenticate(sim, req.headers.authorization);
  if (viewer === null && !(operationId && PUBLIC_OPERATIONS.has(operationId))) {
    record.status = 401;
    sendJson(res, 401, { message: req.headers.authorization ? 'invalid username, password or token' : 'token is required', url: SWAGGER_URL });
    return;
  }
  if (!check.ok) {
    record.status = check.status;
    sendJson(res, check.status, check.body);
    return;
  }
  record.operationId = operationId;

  const handler = operationId ? handlers[operationId] : undefined;
  if (!handler) {
    record.status = 501;
    sendJson(res, 501, { message: `giteaSim does not simulate ${operationId}`, url: SWAGGER_URL });
    return;
  }
  let result: HandlerResult;
  try {
    const repo = check.params.owner && check.params.repo ? sim.state.repo(check.params.owner, check.params.repo) : undefined;
    if (repo) await sim.syncRepo(repo);
    result = await handler({ sim, viewer: viewer ?? '', params: check.params, query, body, url });
  } catch (err) {
    if (!(err instanceof SimHttpError)) throw err;
    result = { status: err.status, body: { message: err.message, url: SWAGGER_URL, ...(err.status === 404 ? { errors: [err.message] } : {}) } };
  }
  record.status = result.status;
  if (result.raw) {
    res.writeHead(result.status, { 'Content-Type': 'text/plain; charset=utf-8', ...result.headers }).end(result.raw);
    return;
  }
  if (result.body !== undefined && result.status < 300) {
    for (const v of await checkResponse(check.operationId, result.status, result.body)) sim.responseViolations.push(v);
  }
  if (result.body === undefined) {
    res.writeHead(result.status, result.headers ?? {}).end();
    return;
  }
  sendJson(res, result.status, result.body, result.headers);
}

/** The user a `token`/`bearer` Authorization header belongs to, or null. Constant-time comparison. */
function authenticate(sim: GiteaSim, header: string | undefined): string | null {
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(header ?? '');
  if (!m) return null;
  const given = Buffer.from(m[1]!);
  const expected = Buffer.from(sim.token);
  return given.length === expected.length && timingSafeEqual(given, expected) ? sim.botLogin : null;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json;charset=utf-8', ...headers }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
