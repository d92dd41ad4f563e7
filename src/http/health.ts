import type { SandboxStatus } from '../agent/sandbox.js';
import type { Sql } from '../db/connection.js';
import type { Metrics } from '../shared/metrics.js';
import { sendJson, sendText, type Route } from './server.js';

export interface ReadinessCheck {
  name: string;
  /** Resolves with null when ready, a sentence saying what is missing, or a warning that does not stop readiness. */
  check(): Promise<string | null | { warning: string }>;
}

/** The coding agent's sandbox: not ready where none can be made (no build would run); a warning when turned off. */
export function sandboxCheck(probe: () => Promise<SandboxStatus>): ReadinessCheck {
  return {
    name: 'sandbox',
    async check() {
      const status = await probe();
      if (status.mode === 'off') return { warning: status.detail };
      return status.ok ? null : status.detail;
    },
  };
}

export function postgresCheck(sql: Sql, timeoutMs = 2000): ReadinessCheck {
  return {
    name: 'postgres',
    async check() {
      try {
        await withTimeout(sql`SELECT 1`.execute(), timeoutMs);
        return null;
      } catch (err) {
        return `PostgreSQL is not reachable: ${(err as Error).message}`;
      }
    },
  };
}

export function redisCheck(ping: () => Promise<unknown>, timeoutMs = 2000): ReadinessCheck {
  return {
    name: 'redis',
    async check() {
      try {
        await withTimeout(ping(), timeoutMs);
        return null;
      } catch (err) {
        return `Redis is not reachable: ${(err as Error).message}`;
      }
    },
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** GET /healthz (the process answers), GET /readyz (its dependencies answer), GET /metrics. */
export function healthRoutes(checks: ReadinessCheck[], metrics: Metrics): Route[] {
  return [
    { method: 'GET', path: '/healthz', handler: (_req, res) => sendJson(res, 200, { status: 'ok' }) },
    {
      method: 'GET',
      path: '/readyz',
      handler: async (_req, res) => {
        const results = await Promise.all(checks.map(async (c) => ({ name: c.name, problem: await c.check() })));
        const missing = results.filter((r) => typeof r.problem === 'string');
        const said = (p: string | null | { warning: string }): string => (p === null ? 'ok' : typeof p === 'string' ? p : `warning: ${p.warning}`);
        sendJson(res, missing.length ? 503 : 200, {
          ready: missing.length === 0,
          checks: Object.fromEntries(results.map((r) => [r.name, said(r.problem)])),
        });
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: async (_req, res) => {
        try {
          sendText(res, 200, await metrics.registry.metrics(), metrics.registry.contentType);
        } catch (err) {
          sendText(res, 503, `# metrics unavailable: ${(err as Error).message}\n`);
        }
      },
    },
  ];
}
