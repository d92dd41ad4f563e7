/**
 * Git's smart HTTP protocol at `/{owner}/{repo}.git/…`, as Gitea serves it: clone and fetch anonymously from a public
 * repo (or with a token), push only with a token whose user may write. Authentication is what Gitea accepts from
 * git: `Authorization: token <t>` (an http.extraHeader) or HTTP basic with the token as the password (as
 * actions/checkout and act send it). The protocol itself is git's own `git http-backend` (CGI) on the simulator's
 * bare repos. After a push the simulator picks up the moved branches (`synchronized`, sent as the pusher).
 */
import { spawn } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { authenticate } from './server.js';
import type { GiteaSim } from './sim.js';
import { PERMISSION_RANK } from './state.js';

/** `/{owner}/{repo}.git/…` or, as Gitea also serves it, `/{owner}/{repo}/…` (what act fetches a `uses:` URL by). */
const GIT_PATH = /^\/([^/]+)\/([^/]+?)(?:\.git)?(\/(?:info\/refs|git-upload-pack|git-receive-pack))$/;

/** The git route of a request path, or null when it is not one. */
export function gitRoute(pathname: string): { owner: string; name: string; rest: string } | null {
  const m = GIT_PATH.exec(pathname);
  return m ? { owner: decodeURIComponent(m[1]!), name: decodeURIComponent(m[2]!), rest: m[3]! } : null;
}

export async function serveGit(
  sim: GiteaSim,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  body: Buffer,
  route: { owner: string; name: string; rest: string },
): Promise<void> {
  const repo = sim.state.repo(route.owner, route.name);
  const token = authenticate(sim, req.headers.authorization);
  const login = token?.login ?? null;
  const permission = repo ? (login ? sim.state.permission(repo, login) : repo.private ? 'none' : 'read') : 'none';
  const push = route.rest === '/git-receive-pack' || url.searchParams.get('service') === 'git-receive-pack';
  const needed = push ? 'write' : 'read';
  if (!repo || PERMISSION_RANK[permission] < PERMISSION_RANK[needed]) {
    if (!login) {
      // git asks for credentials on 401 (and, with GIT_TERMINAL_PROMPT=0, fails with "could not read Username").
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Gitea"', 'Content-Type': 'text/plain; charset=utf-8' }).end('Unauthorized\n');
    } else {
      res.writeHead(repo ? 403 : 404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(repo ? 'Forbidden\n' : 'Repository not found\n');
    }
    return;
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: dirname(dirname(repo.path)),
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: `/${repo.owner}/${repo.name}.git${route.rest}`,
    QUERY_STRING: url.search.replace(/^\?/, ''),
    REQUEST_METHOD: req.method ?? 'GET',
    CONTENT_TYPE: String(req.headers['content-type'] ?? ''),
    CONTENT_LENGTH: String(body.length),
    GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
    HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    HOME: dirname(repo.path),
  };
  // http-backend serves receive-pack only to an authenticated user.
  if (login) env.REMOTE_USER = login;
  const output = await runBackend(env, body);
  const split = output.indexOf('\r\n\r\n');
  const headerText = split < 0 ? '' : output.subarray(0, split).toString('latin1');
  const payload = split < 0 ? output : output.subarray(split + 4);
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of headerText.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]) || 200;
    else headers[name] = value;
  }
  res.writeHead(status, headers).end(payload);
  if (push && route.rest === '/git-receive-pack') await sim.syncRepo(repo, login ?? repo.owner);
}

function runBackend(env: NodeJS.ProcessEnv, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    // git may answer and exit before it has read the whole request (EPIPE on its stdin): its exit and its output
    // decide the answer, as with Gitea's own backend, not the write.
    child.stdin.on('error', () => {});
    child.on('close', (code) => {
      if (code !== 0 && out.length === 0) reject(new Error(`git http-backend exited ${code}: ${Buffer.concat(err).toString('utf8')}`));
      else resolve(Buffer.concat(out));
    });
    child.stdin.end(body);
  });
}
