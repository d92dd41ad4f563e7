/**
 * GET /: the page a maintainer keeps open (server-rendered, read-only, refreshes itself), and the guard in front
 * of it, the items API and the queues view: DAMASCUS_DASHBOARD_TOKEN, or, without one, a loopback bind.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Sql } from '../db/connection.js';
import { STATES } from '../domain/states.js';
import type { Queues } from '../queue/queues.js';
import { ADMIN_QUEUES_BASE, adminQueuesRoute } from './adminQueues.js';
import { isoSeconds, itemsApiRoutes, loadDashboard, type DashboardView, type ItemSummary } from './itemsApi.js';
import { isLoopbackHost, sendJson, sendText, type Handler, type Route } from './server.js';

export const DASHBOARD_COOKIE = 'damascus_dashboard';
export const REFRESH_SECONDS = 15;
export const DEFAULT_SESSION_HOURS = 12;

// ---------------------------------------------------------------- the guard

/** Constant-time equality of two strings of any lengths: both are hashed first, so the compared digests are equal-length. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The key that signs session cookies: derived from the token, so a new token ends every session. */
function sessionKey(token: string): Buffer {
  return createHmac('sha256', token).update('damascus dashboard session key v1').digest();
}

/** A session cookie value: `v1.<expiry, unix seconds>.<HMAC of both>`. It holds no part of the token. */
export function signSession(key: Buffer, expiresAtSeconds: number): string {
  const body = `v1.${expiresAtSeconds}`;
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`;
}

const SESSION_SHAPE = /^v1\.(\d{1,12})\.[A-Za-z0-9_-]{43}$/;

/** A cookie we signed that has not expired, and whose expiry is no further off than one lifetime (a shortened lifetime holds for old cookies too). */
function validSession(key: Buffer, value: string, nowMs: number, lifetimeMs: number): boolean {
  const m = SESSION_SHAPE.exec(value);
  if (!m) return false;
  const expiresAtSeconds = Number(m[1]);
  if (!sameSecret(value, signSession(key, expiresAtSeconds))) return false;
  const expiresAtMs = expiresAtSeconds * 1000;
  return expiresAtMs > nowMs && expiresAtMs <= nowMs + lifetimeMs;
}

function cookieValue(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

function bearer(req: IncomingMessage): string | null {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return m ? m[1]!.trim() : null;
}

/** The HTML pages a browser opens: only there may ?token= open a session. */
function isPage(path: string): boolean {
  return path === '/' || path === ADMIN_QUEUES_BASE || path === `${ADMIN_QUEUES_BASE}/`;
}

export interface GuardOptions {
  /** DAMASCUS_DASHBOARD_TOKEN; unset, the routes are open only on a loopback bind. */
  token: string | undefined;
  /** The address the server listens on (DAMASCUS_BIND). */
  listenHost: string;
  /** Session lifetime (DAMASCUS_DASHBOARD_SESSION_HOURS, default 12). */
  sessionHours?: number;
  /** Milliseconds since the epoch (tests move it). */
  now?: () => number;
}

function refuse(res: ServerResponse, status: number, error: string): void {
  if (status === 401) res.setHeader('www-authenticate', 'Bearer realm="damascus"');
  sendJson(res, status, { error });
}

/**
 * Wrap a handler so it answers only an authenticated request: `Authorization: Bearer <token>` anywhere, or a signed,
 * unexpired session cookie. `?token=` is taken on the HTML pages only, to open a session (an HttpOnly, SameSite=Strict
 * cookie, then a redirect that drops the token from the address); on a JSON route it is refused, so the token does
 * not end up in logs and histories. Without a token the handler is open on a loopback bind and closed otherwise.
 */
export function guard(opts: GuardOptions, handler: Handler): Handler {
  const { token } = opts;
  if (!token) {
    if (isLoopbackHost(opts.listenHost)) return handler;
    return (_req, res) =>
      refuse(
        res,
        403,
        `the dashboard is closed: DAMASCUS_DASHBOARD_TOKEN is not set and Damascus listens on ${opts.listenHost}, not on loopback (set the token, or DAMASCUS_BIND=127.0.0.1)`,
      );
  }
  const key = sessionKey(token);
  const lifetimeMs = (opts.sessionHours ?? DEFAULT_SESSION_HOURS) * 3_600_000;
  const now = opts.now ?? Date.now;
  return (req, res, url) => {
    const query = url.searchParams.get('token');
    if (query !== null) {
      if (!isPage(url.pathname))
        return refuse(res, 401, '?token= only opens a session on the dashboard page (/); API clients send Authorization: Bearer <token>');
      if (!sameSecret(query, token)) return refuse(res, 401, 'wrong token');
      const expiresAtSeconds = Math.floor((now() + lifetimeMs) / 1000);
      const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
      res.setHeader(
        'set-cookie',
        `${DASHBOARD_COOKIE}=${signSession(key, expiresAtSeconds)}; Path=/; Max-Age=${Math.floor(lifetimeMs / 1000)}; HttpOnly; SameSite=Strict${secure}`,
      );
      const rest = new URLSearchParams(url.searchParams);
      rest.delete('token');
      const search = rest.toString();
      res.writeHead(303, { location: url.pathname + (search ? `?${search}` : ''), 'content-length': 0 });
      res.end();
      return;
    }
    const header = bearer(req);
    if (header !== null) return sameSecret(header, token) ? handler(req, res, url) : refuse(res, 401, 'wrong token');
    const cookie = cookieValue(req, DASHBOARD_COOKIE);
    if (cookie !== null && validSession(key, cookie, now(), lifetimeMs)) return handler(req, res, url);
    refuse(
      res,
      401,
      cookie !== null
        ? 'the dashboard session has expired or is not valid: open /?token=<token> again'
        : 'this dashboard needs DAMASCUS_DASHBOARD_TOKEN: send Authorization: Bearer <token>, or open /?token=<token> once',
    );
  };
}

// ---------------------------------------------------------------- the page (pure)

/** Every value from the database is untrusted: escape it for text and for quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const esc = (v: string | number): string => escapeHtml(String(v));

function link(href: string | null, text: string, cls: string): string {
  return href ? `<a class="${cls}" href="${esc(href)}" rel="noreferrer noopener">${esc(text)}</a>` : '';
}

function time(d: Date | null): string {
  return d ? `<time datetime="${esc(d.toISOString())}">${esc(isoSeconds(d))}</time>` : '';
}

function usd(n: number): string {
  return `$${n.toFixed(2)}`;
}

function itemRow(i: ItemSummary): string {
  const budget = i.maxCostUsd !== null ? ` of ${usd(i.maxCostUsd)}` : '';
  const links = [
    link(i.links.issue, 'issue', 'issue-link'),
    link(i.links.pr, `PR #${i.prNumber ?? ''}`, 'pr-link'),
    link(i.links.run, 'review run', 'run-link'),
  ]
    .filter(Boolean)
    .join(' ');
  return `<tr class="item" data-item-id="${i.id}" data-state="${esc(i.state)}" data-wait="${esc(i.waiting.kind)}">
<td class="story"><span class="ref">${esc(i.repo)}#${i.issueNumber}</span> <span class="title">${esc(i.title)}</span></td>
<td class="waiting"><span class="why">${esc(i.waiting.text)}</span>${i.waiting.since && i.waiting.kind !== 'running' ? ` <span class="since">since ${time(i.waiting.since)}</span>` : ''}</td>
<td class="attempt">attempt ${i.attempts} of ${i.budgetCycles}</td>
<td class="cost">${usd(i.costUsd)}${i.unknownCostRuns > 0 ? ` <span class="unknown" title="${i.unknownCostRuns} run(s) reported no cost">+ unknown</span>` : ''}${budget}</td>
<td class="links">${links}</td>
</tr>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
h1{margin:0 0 .3rem}h2{margin:1.4rem 0 .4rem;font-size:1.1rem}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid #e3e3e3;padding:.35rem .5rem;text-align:left;vertical-align:top}
#counts{display:flex;gap:.6rem;flex-wrap:wrap;padding:0;list-style:none}#counts li{background:#fff;border:1px solid #ddd;border-radius:4px;padding:.2rem .6rem}
.ref{color:#666}.since,.muted{color:#777}.blocked .reason{color:#a40000}.empty{color:#777;font-style:italic}`;

/** The whole page as HTML (pure). */
export function renderDashboard(v: DashboardView): string {
  const counts = STATES.map((s) => `<li data-state="${s}" data-count="${v.counts[s]}">${s} <b>${v.counts[s]}</b></li>`).join('');
  const questions = v.openQuestions.length
    ? `<ol>${v.openQuestions
        .map(
          (q) =>
            `<li class="question" data-tag="${esc(q.tag)}" data-item-id="${q.itemId}"><b>${esc(q.tag)}</b> on ${link(q.issueUrl, `${q.repo}#${q.issueNumber}`, 'issue-link') || esc(`${q.repo}#${q.issueNumber}`)} <span class="since">since ${time(q.since)}</span><div class="text">${esc(q.question)}</div></li>`,
        )
        .join('')}</ol>`
    : '<p class="empty">No open questions.</p>';
  const blocked = v.blocked.length
    ? `<ul>${v.blocked
        .map(
          (b) =>
            `<li class="blocked" data-item-id="${b.itemId}">${link(b.issueUrl, `${b.repo}#${b.issueNumber}`, 'issue-link') || esc(`${b.repo}#${b.issueNumber}`)} ${esc(b.title)} <span class="since">since ${time(b.since)}</span><div class="reason">${esc(b.reason)}</div></li>`,
        )
        .join('')}</ul>`
    : '<p class="empty">Nothing is blocked.</p>';
  const groups = STATES.map((s) => {
    const items = v.items.filter((i) => i.state === s);
    if (items.length === 0) return '';
    const shown = items.length < v.counts[s] ? ` <span class="muted">(showing ${items.length} of ${v.counts[s]})</span>` : '';
    return `<section class="state-group" data-state="${s}"><h2>${s} <span class="muted">${v.counts[s]}</span>${shown}</h2>
<table><thead><tr><th>story</th><th>why it waits</th><th>attempt</th><th>cost</th><th>links</th></tr></thead><tbody>
${items.map(itemRow).join('\n')}
</tbody></table></section>`;
  }).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Damascus</title><style>${STYLE}</style></head>
<body><h1>Damascus</h1>
<p class="muted">As of ${time(v.generatedAt)}; this page refreshes every ${REFRESH_SECONDS} s. <a href="${ADMIN_QUEUES_BASE}">Queues</a> · <a href="/api/v1/items">JSON</a></p>
<p id="leases" data-live="${v.leases.live}" data-cap="${v.leases.cap}">Live leases: <b>${v.leases.live}</b> of ${v.leases.cap}</p>
<ul id="counts">${counts}</ul>
<section id="questions"><h2>Open questions <span class="muted">oldest first</span></h2>${questions}</section>
<section id="blocked"><h2>Blocked</h2>${blocked}</section>
<section id="stories"><h2>Stories by state</h2>${groups || '<p class="empty">No stories yet.</p>'}</section>
</body></html>`;
}

// ---------------------------------------------------------------- the routes

export interface DashboardDeps extends GuardOptions {
  sql: Sql;
  queues: Queues;
  /** The global concurrency cap (DAMASCUS_CONCURRENCY). */
  cap: number;
}

function pageRoute(deps: DashboardDeps): Route {
  return {
    method: 'GET',
    path: '/',
    handler: async (_req: IncomingMessage, res: ServerResponse) => {
      const html = renderDashboard(await loadDashboard(deps));
      res.setHeader('cache-control', 'no-store');
      res.setHeader(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
      sendText(res, 200, html, 'text/html; charset=utf-8');
    },
  };
}

/** GET /, GET /api/v1/items[/ID] and GET /admin/queues[/…], all behind the guard. */
export function dashboardRoutes(deps: DashboardDeps): Route[] {
  const routes = [pageRoute(deps), ...itemsApiRoutes(deps), adminQueuesRoute(deps.queues)];
  return routes.map((r) => ({ ...r, handler: guard(deps, r.handler) }));
}
