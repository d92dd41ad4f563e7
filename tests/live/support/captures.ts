/**
 * What the live loop saw, written as fixtures: one file per kind of webhook delivery (its headers and exact payload)
 * and one per API route and status (its paging headers and body), the first of each. tests/gitea/captures.test.ts
 * holds the simulator's output against them. Signatures are replaced (they were made with this run's random secret);
 * nothing else secret is in a delivery or an API answer Damascus gets.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { routeOf, type Exchange } from './recordingProxy.js';

const SIGNATURES = ['x-gitea-signature', 'x-gogs-signature', 'x-hub-signature', 'x-hub-signature-256'];

const fileName = (s: string) => s.replace(/[{}]/g, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '');

export function writeCaptures(dir: string, o: { gitea: string; api: Exchange[]; deliveries: Exchange[] }): number {
  let written = 0;
  mkdirSync(join(dir, 'webhooks'), { recursive: true });
  mkdirSync(join(dir, 'api'), { recursive: true });
  const seen = new Set<string>();
  for (const d of o.deliveries) {
    if (d.path !== '/api/gitea/webhooks' || d.requestJson === undefined) continue;
    const h = d.requestHeaders;
    const action = (d.requestJson as { action?: unknown }).action;
    const key = `${h['x-gitea-event']}.${h['x-gitea-event-type']}${typeof action === 'string' ? `.${action}` : ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const headers = Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'host' && k !== 'connection').map(([k, v]) => [k, SIGNATURES.includes(k) ? '<signature>' : v]));
    writeFileSync(join(dir, 'webhooks', `${fileName(key)}.json`), `${JSON.stringify({ gitea: o.gitea, headers, payload: d.requestJson }, null, 2)}\n`);
    written++;
  }
  for (const x of o.api) {
    if (x.status === null || x.responseJson === undefined || !x.path.startsWith('/api/v1/')) continue;
    const route = routeOf(x);
    const key = `${route} ${x.status}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const headers = { 'x-total-count': x.responseHeaders['x-total-count'] ?? null, link: x.responseHeaders.link ?? null };
    writeFileSync(join(dir, 'api', `${fileName(key)}.json`), `${JSON.stringify({ gitea: o.gitea, route, status: x.status, headers, body: x.responseJson }, null, 2)}\n`);
    written++;
  }
  return written;
}
