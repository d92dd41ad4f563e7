/**
 * A reverse proxy on 127.0.0.1 that records every exchange it forwards: in front of Gitea (Damascus's GITEA_URL),
 * it counts what each story cost (requests carry X-Damascus-Item) and captures API answers and git traffic; in
 * front of `damascus serve` (DAMASCUS_PUBLIC_URL), it captures the webhook deliveries Gitea sends, headers and
 * body as they came. Bodies are kept for JSON only (git packs are counted, not kept).
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Exchange {
  method: string;
  /** Path without the query. */
  path: string;
  query: string;
  status: number | null;
  /** X-Damascus-Item, when Damascus sent it. */
  item: number | null;
  requestHeaders: IncomingHttpHeaders;
  responseHeaders: IncomingHttpHeaders;
  /** Parsed JSON bodies (undefined for non-JSON or empty ones). */
  requestJson?: unknown;
  responseJson?: unknown;
  startedAt: number;
  ms: number;
}

export interface RecordingProxy {
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

function json(buf: Buffer, type: string | undefined): unknown {
  if (buf.length === 0 || !/json/.test(type ?? '')) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const base = new URL(target);
  const exchanges: Exchange[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://proxy');
      const startedAt = Date.now();
      const headers = { ...req.headers, host: base.host };
      const item = Number(req.headers['x-damascus-item']);
      const ex: Exchange = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.search.slice(1),
        status: null,
        item: Number.isSafeInteger(item) && item > 0 ? item : null,
        requestHeaders: req.headers,
        responseHeaders: {},
        requestJson: json(body, req.headers['content-type']),
        startedAt,
        ms: 0,
      };
      exchanges.push(ex);
      const out = request({ host: base.hostname, port: base.port, method: req.method, path: req.url, headers }, (up) => {
        const back: Buffer[] = [];
        up.on('data', (c: Buffer) => back.push(c));
        up.on('end', () => {
          const payload = Buffer.concat(back);
          ex.status = up.statusCode ?? null;
          ex.responseHeaders = up.headers;
          ex.responseJson = json(payload, up.headers['content-type']);
          ex.ms = Date.now() - startedAt;
          res.writeHead(up.statusCode ?? 502, up.headers).end(payload);
        });
      });
      out.on('error', (err) => {
        ex.ms = Date.now() - startedAt;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${err.message}`);
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `METHOD route` of an exchange: the API path with its variable parts named, or `git <service>`. */
export function routeOf(ex: Exchange): string {
  const git = /\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/.exec(ex.path);
  if (git) {
    const service = git[3] === 'info/refs' ? (new URLSearchParams(ex.query).get('service') ?? 'info/refs') : git[3]!;
    return `git ${service === 'git-receive-pack' ? 'push' : 'fetch'} (${service})`;
  }
  const p = ex.path
    .replace(/^\/api\/v1/, '')
    .replace(/^\/repos\/[^/]+\/[^/]+/, '/repos/{o}/{r}')
    .replace(/^\/(orgs|users)\/[^/]+/, '/$1/{owner}')
    .replace(/\/issues\/comments\/\d+/, '/issues/comments/{id}')
    .replace(/\/(issues|pulls)\/\d+/, '/$1/{n}')
    .replace(/\/(labels|hooks)\/\d+/, '/$1/{id}')
    .replace(/\/(contents|raw)\/.+$/, '/$1/{path}')
    .replace(/\/branches\/.+$/, '/branches/{branch}')
    .replace(/\/compare\/.+$/, '/compare/{basehead}')
    .replace(/\/collaborators\/[^/]+\/permission$/, '/collaborators/{user}/permission')
    .replace(/\/workflows\/[^/]+\/dispatches$/, '/workflows/{file}/dispatches')
    .replace(/\/statuses\/[0-9a-f]+$/, '/statuses/{sha}');
  return `${ex.method} ${p}`;
}
