/**
 * GET /: the page a maintainer keeps open (server-rendered, read-only, refreshes itself), and the
 * token that guards it, the items API and the queues view when DAMASCUS_DASHBOARD_TOKEN is set.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Sql } from '../db/connection.js';
import { STATES } from '../domain/states.js';
import type { Queues } from '../queue/queues.js';
import { ADMIN_QUEUES_BASE, adminQueuesRoute } from './adminQueues.js';
import { isoSeconds, itemsApiRoutes, loadDashboard, type DashboardView, type ItemSummary } from './itemsApi.js';
import { sendJson, sendText, type Handler, type Route } from './server.js';

export const DASHBOARD_COOKIE = 'damascus_dashboard';
export const REFRESH_SECONDS = 15;

// ---------------------------------------------------------------- the token

/** The cookie holds a value derived from the token, so the token itself is never stored in a browser. */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('damascus-dashboard-session').digest('base64url');
}

/** Constant-time equality of two strings of any lengths (both are hashed first). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
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

/** Paths a browser opens: a valid ?token= there is swapped for the cookie and dropped from the address. */
function isPage(path: string): boolean {
  return path === '/' || path === ADMIN_QUEUES_BASE || path.startsWith(`${ADMIN_QUEUES_BASE}/`);
}

/**
 * Wrap a handler so it answers only with the token (Authorization: Bearer, the session cookie, or
 * ?token=, which also sets the cookie). Without a configured token the handler is open.
 */
export function requireToken(token: string | undefined, handler: Handler): Handler {
  if (!token) return handler;
  const session = sessionValue(token);
  return (req, res, url) => {
    const header = bearer(req);
    const cookie = cookieValue(req, DASHBOARD_COOKIE);
    const query = url.searchParams.get('token');
    if ((header !== null && sameSecret(header, token)) || (cookie !== null && sameSecret(cookie, session))) return handler(req, res, url);
    if (query !== null && sameSecret(query, token)) {
      const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
      res.setHeader('set-cookie', `${DASHBOARD_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict${secure}`);
      if (isPage(url.pathname)) {
        const rest = new URLSearchParams(url.searchParams);
        rest.delete('token');
        const search = rest.toString();
        res.writeHead(303, { location: url.pathname + (search ? `?${search}` : ''), 'content-length': 0 });
        res.end();
        return;
      }
      return handler(req, res, url);
    }
    res.setHeader('www-authenticate', 'Bearer realm="damascus"');
    sendJson(res, 401, { error: 'this dashboard needs DAMASCUS_DASHBOARD_TOKEN: send Authorization: Bearer <token>, or open /?token=<token> once' });
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
  const links = [link(i.links.issue, 'issue', 'issue-link'), link(i.links.pr, `PR #${i.prNumber ?? ''}`, 'pr-link'), link(i.links.run, 'review run', 'run-link')]
    .filter(Boolean)
    .join(' ');
  return `<tr class="item" data-item-id="${i.id}" data-state="${esc(i.state)}" data-wait="${esc(i.waiting.kind)}">
<td class="story"><span class="ref">${esc(i.repo)}#${i.issueNumber}</span> <span class="title">${esc(i.title)}</span></td>
<td class="waiting"><span class="why">${esc(i.waiting.text)}</span>${i.waiting.since && i.waiting.kind !== 'running' ? ` <span class="since">since ${time(i.waiting.since)}</span>` : ''}</td>
<td class="attempt">attempt ${i.attempts} of ${i.budgetCycles}</td>
<td class="cost">${usd(i.costUsd)}${budget}</td>
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
        .map((q) => `<li class="question" data-tag="${esc(q.tag)}" data-item-id="${q.itemId}"><b>${esc(q.tag)}</b> on ${link(q.issueUrl, `${q.repo}#${q.issueNumber}`, 'issue-link') || esc(`${q.repo}#${q.issueNumber}`)} <span class="since">since ${time(q.since)}</span><div class="text">${esc(q.question)}</div></li>`)
        .join('')}</ol>`
    : '<p class="empty">No open questions.</p>';
  const blocked = v.blocked.length
    ? `<ul>${v.blocked
        .map((b) => `<li class="blocked" data-item-id="${b.itemId}">${link(b.issueUrl, `${b.repo}#${b.issueNumber}`, 'issue-link') || esc(`${b.repo}#${b.issueNumber}`)} ${esc(b.title)} <span class="since">since ${time(b.since)}</span><div class="reason">${esc(b.reason)}</div></li>`)
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

export interface DashboardDeps {
  sql: Sql;
  queues: Queues;
  /** The global concurrency cap (DAMASCUS_CONCURRENCY). */
  cap: number;
  /** DAMASCUS_DASHBOARD_TOKEN; when unset, everything here is open. */
  token: string | undefined;
}

function pageRoute(deps: DashboardDeps): Route {
  return {
    method: 'GET',
    path: '/',
    handler: async (_req: IncomingMessage, res: ServerResponse) => {
      const html = renderDashboard(await loadDashboard(deps));
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
      sendText(res, 200, html, 'text/html; charset=utf-8');
    },
  };
}

/** GET /, GET /api/v1/items[/ID] and GET /admin/queues[/…], all behind the dashboard token. */
export function dashboardRoutes(deps: DashboardDeps): Route[] {
  const routes = [pageRoute(deps), ...itemsApiRoutes(deps), adminQueuesRoute(deps.queues)];
  return routes.map((r) => ({ ...r, handler: requireToken(deps.token, r.handler) }));
}
