import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { gitRoute, serveGit } from './gitHttp.js';
import { handlers, type HandlerResult } from './handlers.js';
import { matchRoute, routeOf } from './routes.js';
import { SimHttpError, type GiteaSim } from './sim.js';
import type { SimToken } from './state.js';
import { checkRequest, checkResponse } from './validate.js';

const API_PREFIX = '/api/v1';
const SWAGGER_URL = '/api/swagger';
/** Operations Gitea serves without a token. */
const PUBLIC_OPERATIONS = new Set(['getVersion']);

/** The HTTP front: faults → route match (404) → token (401) → swagger validation (422) → handler → response check. */
export function createSimServer(sim: GiteaSim): Server {
  return createServer((req, res) => {
    handle(sim, req, res).catch((err: unknown) => {
      sim.responseViolations.push(`internal simulator error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      if (!res.headersSent) sendJson(res, 500, { message: 'internal simulator error', url: SWAGGER_URL });
    });
  });
}

async function handle(sim: GiteaSim, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', sim.url);
  const method = (req.method ?? 'GET').toUpperCase();
  const raw = await readBody(req);
  const git = gitRoute(url.pathname);
  if (git) {
    await serveGit(sim, req, res, url, raw, git);
    return;
  }
  if (!url.pathname.startsWith(`${API_PREFIX}/`)) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found');
    return;
  }
  const path = url.pathname.slice(API_PREFIX.length);
  const record = { method, path, status: null as number | null, operationId: undefined as string | undefined, viewer: undefined as string | null | undefined };
  sim.requests.push(record);

  const fault = sim.faults.take(method, path);
  const lostAnswer = fault?.applied ? fault : null;
  if (fault?.kind === 'timeout' && !lostAnswer) {
    // Hang, then drop the connection without an answer.
    await new Promise((resolve) => setTimeout(resolve, fault.ms));
    req.socket.destroy();
    return;
  }
  if (fault?.kind === 'status' && !lostAnswer) {
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
  // A request the spec refuses (422) still names its operation: Gitea checks the token and its scopes before it
  // binds the body, so a token without the scope gets 403 even for a bad body.
  const operationId = check.ok ? check.operationId : matchRoute(method, path)?.operationId;
  const token = authenticate(sim, req.headers.authorization);
  record.viewer = token?.login ?? null;
  // A token that is not one is refused even where none is needed (GET /version with a bad token is 401 on 1.26.3).
  if (token === null && (req.headers.authorization || !(operationId && PUBLIC_OPERATIONS.has(operationId)))) {
    record.status = 401;
    sendJson(res, 401, { message: req.headers.authorization ? 'invalid username, password or token' : 'token is required', url: SWAGGER_URL });
    return;
  }
  const viewer = token?.login ?? null;
  const missingScope = token && operationId ? scopeProblem(token, operationId, method) : null;
  if (missingScope) {
    record.status = 403;
    sendJson(res, 403, { message: missingScope, url: SWAGGER_URL });
    return;
  }
  if (!check.ok) {
    record.status = check.status;
    sendJson(res, check.status, check.body);
    return;
  }
  record.operationId = check.operationId;

  const handler = handlers[check.operationId];
  if (!handler) {
    record.status = 501;
    sendJson(res, 501, { message: `giteaSim does not simulate ${check.operationId}`, url: SWAGGER_URL });
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
  if (lostAnswer) {
    // The work is done; the answer never reaches the client.
    if (lostAnswer.kind === 'timeout') {
      await new Promise((resolve) => setTimeout(resolve, lostAnswer.ms));
      req.socket.destroy();
      return;
    }
    record.status = lostAnswer.status;
    sendJson(res, lostAnswer.status, lostAnswer.body);
    return;
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

/**
 * The token a `token`/`bearer` Authorization header (or HTTP basic with the token as password, as git sends it)
 * carries, or null. Constant-time comparison against every known token.
 */
export function authenticate(sim: GiteaSim, header: string | undefined): SimToken | null {
  const given = tokenOf(header);
  if (given === null) return null;
  let found: SimToken | null = null;
  for (const [token, record] of sim.state.tokens) {
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    if (a.length === b.length && timingSafeEqual(a, b)) found = record;
  }
  return found;
}

function tokenOf(header: string | undefined): string | null {
  const bearer = /^(?:token|bearer)\s+(\S+)$/i.exec(header ?? '');
  if (bearer) return bearer[1]!;
  const basic = /^basic\s+(\S+)$/i.exec(header ?? '');
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/** Gitea's category order for a token's scope string (models/auth/access_token_scope.go). */
const CATEGORY_ORDER = ['activitypub', 'admin', 'issue', 'misc', 'notification', 'organization', 'package', 'repository', 'user'];

/**
 * Gitea's `tokenRequiresScopes`: read for GET, write otherwise, for each category of the route; write implies read.
 * Returns Gitea's 403 message for the first category the token lacks, or null.
 */
function scopeProblem(token: SimToken, operationId: string, method: string): string | null {
  if (token.scopes.includes('all')) return null;
  const level = method === 'GET' || method === 'HEAD' ? 'read' : 'write';
  for (const category of routeOf(operationId)?.scopes ?? []) {
    if (category === 'none') continue;
    const ok = token.scopes.includes(`write:${category}`) || (level === 'read' && token.scopes.includes(`read:${category}`));
    if (ok) continue;
    const shown = [...token.scopes].sort((a, b) => CATEGORY_ORDER.indexOf(a.split(':')[1]!) - CATEGORY_ORDER.indexOf(b.split(':')[1]!));
    return `token does not have at least one of required scope(s), required=[${level}:${category}], token scope=${shown.join(',')}`;
  }
  return null;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json;charset=utf-8', ...headers }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
