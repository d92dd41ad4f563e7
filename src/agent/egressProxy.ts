import { chmod, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Logger } from '../shared/log.js';

/**
 * The sandboxed agent's only way out: an HTTP proxy on a Unix socket that Damascus binds into the sandbox.
 * It forwards CONNECT tunnels and plain-HTTP requests to the hosts the operator allowed (`host:port`, exact),
 * and refuses everything else, loopback services included. The agent's network namespace has no other route.
 */
export interface EgressProxy {
  socketPath: string;
  /** `host:port` targets refused so far (for the log and the tests). */
  refused: string[];
  close(): Promise<void>;
}

/** `host:port` in lower case, IPv6 hosts without brackets; null when it is not one. */
export function normalizeTarget(hostPort: string, defaultPort?: number): string | null {
  const m = /^\[?([A-Za-z0-9.\-:]+?)\]?(?::(\d{1,5}))?$/.exec(hostPort.trim());
  if (!m?.[1]) return null;
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (!port || port > 65_535) return null;
  return `${m[1].toLowerCase()}:${port}`;
}

/** The allow-list entries an operator writes (`api.anthropic.com:443`, `http://127.0.0.1:11434`, …) as targets. */
export function allowedTargets(entries: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    let target: string | null;
    if (/^[a-z]+:\/\//i.test(e)) {
      const u = new URL(e);
      target = normalizeTarget(u.host, u.protocol === 'https:' ? 443 : 80);
    } else target = normalizeTarget(e, 443);
    if (!target) throw new Error(`not a host:port or URL: ${JSON.stringify(e)}`);
    out.add(target);
  }
  return out;
}

function refuse(socket: Socket, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}

export async function startEgressProxy(o: { socketPath: string; allow: Set<string>; log: Logger }): Promise<EgressProxy> {
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const allowed = (target: string | null): target is string => {
    if (target && o.allow.has(target)) return true;
    refused.push(target ?? '(unreadable target)');
    o.log.warn({ target }, 'sandboxed agent: connection refused by the egress allow-list');
    return false;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // Plain HTTP through a proxy: the request line holds an absolute URL.
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end();
      return;
    }
    const target = url.protocol === 'http:' ? normalizeTarget(url.host, 80) : null;
    if (!allowed(target)) {
      res.writeHead(403).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const upstream = httpRequest(
      { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || 80, method: req.method, path: url.pathname + url.search, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const target = normalizeTarget(req.url ?? '');
    if (!allowed(target)) return refuse(client, '403 Forbidden');
    const i = target.lastIndexOf(':');
    const upstream = connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => (client.writable ? refuse(client, '502 Bad Gateway') : client.destroy()));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  await rm(o.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => resolve());
  });
  // The agent may run as another user: it must be able to connect (the socket is only reachable inside its sandbox).
  await chmod(o.socketPath, 0o666);
  return {
    socketPath: o.socketPath,
    refused,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(o.socketPath, { force: true });
    },
  };
}
