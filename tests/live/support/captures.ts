/**
 * What the live loop saw, written as fixtures: one file per kind of webhook delivery (its headers and exact payload)
 * and one per API route and status (its query, paging headers and body). For an API route the fullest answer is
 * kept (a list with elements shows their shape; an empty one shows nothing). tests/gitea/captures.test.ts holds the
 * simulator's output against them. Signatures are replaced (they were made with this run's random secret) and very
 * long strings (a published bundle echoed back) are cut to their length; nothing else secret is in a delivery or an
 * API answer Damascus gets.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { routeOf, type Exchange } from './recordingProxy.js';

const SIGNATURES = ['x-gitea-signature', 'x-gogs-signature', 'x-hub-signature', 'x-hub-signature-256'];
const LONGEST_STRING = 2000;

const fileName = (s: string) =>
  s
    .replace(/[{}]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^_+|_+$/g, '');

/** The value with every string longer than LONGEST_STRING replaced by `<N characters>` (its type is what matters). */
function elide(v: unknown): unknown {
  if (typeof v === 'string') return v.length > LONGEST_STRING ? `<${v.length} characters>` : v;
  if (Array.isArray(v)) return v.map(elide);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, elide(x)]));
  return v;
}

export function writeCaptures(dir: string, o: { gitea: string; api: Exchange[]; deliveries: Exchange[] }): number {
  mkdirSync(join(dir, 'webhooks'), { recursive: true });
  mkdirSync(join(dir, 'api'), { recursive: true });
  const files = new Map<string, string>();
  for (const d of o.deliveries) {
    if (d.path !== '/api/gitea/webhooks' || d.requestJson === undefined) continue;
    const h = d.requestHeaders;
    const action = (d.requestJson as { action?: unknown }).action;
    const file = join('webhooks', `${fileName(`${h['x-gitea-event']}.${h['x-gitea-event-type']}${typeof action === 'string' ? `.${action}` : ''}`)}.json`);
    if (files.has(file)) continue;
    const headers = Object.fromEntries(
      Object.entries(h)
        .filter(([k]) => k !== 'host' && k !== 'connection')
        .map(([k, v]) => [k, SIGNATURES.includes(k) ? '<signature>' : v]),
    );
    files.set(file, `${JSON.stringify({ gitea: o.gitea, headers, payload: elide(d.requestJson) }, null, 2)}\n`);
  }
  for (const x of o.api) {
    if (x.status === null || x.responseJson === undefined || !x.path.startsWith('/api/v1/')) continue;
    const route = routeOf(x);
    const file = join('api', `${fileName(`${route} ${x.status}`)}.json`);
    const headers = { 'x-total-count': x.responseHeaders['x-total-count'] ?? null, link: x.responseHeaders.link ?? null };
    const text = `${JSON.stringify({ gitea: o.gitea, route, status: x.status, query: x.query, headers, body: elide(x.responseJson) }, null, 2)}\n`;
    if ((files.get(file)?.length ?? -1) < text.length) files.set(file, text);
  }
  for (const [file, text] of files) writeFileSync(join(dir, file), text);
  return files.size;
}
