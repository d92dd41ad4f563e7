/**
 * npm run bench:webhooks — signed `issues` label deliveries at 50 concurrent keep-alive connections
 * against the real intake (verify, dedupe, write, answer after commit), and in the same run a bare
 * node:http server that only checks the HMAC. Prints deliveries/s, p50/p99 and the ratio.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { Agent, createServer, request, type Server } from 'node:http';
import { argv, hrtime } from 'node:process';
import { pathToFileURL } from 'node:url';
import { createHttpServer, listen } from '../src/http/server.js';
import { webhookRoute } from '../src/http/webhooks.js';
import { createLogger } from '../src/shared/log.js';
import { deriveWebhookSecret } from '../src/shared/signing.js';
import { benchDb, fmt, median, percentile, printTable } from './util.js';

const SECRET = 'bench-webhook-secret';
/** acme/widgets' hook secret, as `damascus setup` derives it from SECRET. */
const HOOK_SECRET = deriveWebhookSecret(SECRET, 'acme/widgets');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const nowMs = () => Number(hrtime.bigint()) / 1e6;

function payload(n: number): string {
  const user = { id: 2, login: 'alice', username: 'alice', full_name: '', email: 'alice@example.com' };
  return JSON.stringify(
    {
      action: 'label_updated',
      number: n,
      issue: {
        id: n,
        url: '',
        html_url: `http://gitea/acme/widgets/issues/${n}`,
        number: n,
        user,
        title: `story ${n}`,
        body: 'body',
        ref: '',
        labels: [{ id: 1, name: 'damascus', color: 'ee0701', description: '', url: '', exclusive: false, is_archived: false }],
        milestone: null,
        assignee: null,
        assignees: null,
        state: 'open',
        is_locked: false,
        comments: 0,
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
        closed_at: null,
        due_date: null,
        pull_request: null,
        repository: { id: 1, name: 'widgets', owner: 'acme', full_name: 'acme/widgets' },
      },
      repository: {
        id: 1,
        owner: { ...user, login: 'acme', username: 'acme' },
        name: 'widgets',
        full_name: 'acme/widgets',
        html_url: 'http://gitea/acme/widgets',
        clone_url: 'http://gitea/acme/widgets.git',
        default_branch: 'main',
        private: false,
      },
      sender: user,
    },
    null,
    2,
  );
}

// node:http with keep-alive: fetch (undici) costs several times more CPU per request than the servers
// under test, and on 2 cores the load generator's cost would hide the difference being measured.
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });

function post(url: string, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * `issues` numbered from `first` up, one per request: a fresh range starts a story per delivery;
 * a range already delivered labels issues that have a story (the intake's general path).
 */
async function drive(
  url: string,
  first = Math.floor(Math.random() * 1e9),
  upTo = Infinity,
): Promise<{ perSec: number; p50: number; p99: number; errors: number; last: number }> {
  const lat: number[] = [];
  let errors = 0;
  let n = first;
  const until = nowMs() + SECONDS * 1000;
  const start = nowMs();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (nowMs() < until) {
        if (++n > upTo) n = first + 1;
        const body = payload(n);
        const sig = createHmac('sha256', HOOK_SECRET).update(body).digest('hex');
        const t0 = nowMs();
        const status = await post(url, body, {
          'content-type': 'application/json',
          'x-gitea-delivery': randomUUID(),
          'x-gitea-event': 'issues',
          'x-gitea-event-type': 'issue_label',
          'x-hub-signature-256': `sha256=${sig}`,
          'x-gitea-signature': sig,
        });
        if (status !== 200) errors++;
        else lat.push(nowMs() - t0);
      }
    }),
  );
  const elapsed = (nowMs() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { perSec: lat.length / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99), errors, last: Math.min(n, upTo) };
}

/** The baseline: a bare node:http endpoint that only checks the HMAC (constant time) and answers. */
function bareServer(): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const want = Buffer.from(`sha256=${createHmac('sha256', HOOK_SECRET).update(body).digest('hex')}`);
      const got = Buffer.from(String(req.headers['x-hub-signature-256'] ?? ''));
      const ok = got.length === want.length && timingSafeEqual(got, want);
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(ok ? '{"ok":true}' : '{}');
    });
  });
}

export interface WebhookFigures {
  intake: { perSec: number; p50: number; p99: number };
  /** Deliveries for issues that already have a story (not the one-statement path): no target, for comparison. */
  known: { perSec: number; p50: number; p99: number };
  bare: { perSec: number; p50: number; p99: number };
  ratio: number;
  errors: number;
}

/** Intake vs bare HMAC server, medians of ROUNDS rounds. */
export async function webhookIntake(print = true): Promise<WebhookFigures> {
  const db = await benchDb('damascus_bench_webhooks');
  const log = createLogger('silent');
  const intake = createHttpServer(
    [webhookRoute({ sql: db.sql, secret: SECRET, triggerLabel: 'damascus', botLogin: () => 'damascus-bot', log, afterCommit: async () => {} })],
    log,
  );
  const bare = bareServer();
  try {
    const intakeUrl = `http://127.0.0.1:${await listen(intake, 0, '127.0.0.1')}/api/gitea/webhooks`;
    const bareUrl = `http://127.0.0.1:${await listen(bare, 0, '127.0.0.1')}/`;
    const ours = [];
    const known = [];
    const base = [];
    for (let r = 0; r < ROUNDS; r++) {
      const first = r * 1e8;
      const run = await drive(intakeUrl, first);
      ours.push(run);
      // the same issues again: each now has its story, so every delivery takes the general path
      known.push(await drive(intakeUrl, first, run.last));
      base.push(await drive(bareUrl));
    }
    const med = (xs: { perSec: number; p50: number; p99: number }[]) => ({
      perSec: median(xs.map((x) => x.perSec)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
    });
    const o = med(ours);
    const k = med(known);
    const b = med(base);
    const [stored] = await db.sql`SELECT count(*)::int AS n FROM webhook_deliveries`;
    if (print) {
      console.log(
        `\nsigned issues label deliveries, ${CONNECTIONS} concurrent connections, median of ${ROUNDS} rounds of ${SECONDS}s (${stored!.n} deliveries stored, ${ours.reduce((s, x) => s + x.errors, 0)} errors)`,
      );
      printTable(
        ['server', 'deliveries/s', 'p50 ms', 'p99 ms', 'ratio', 'target'],
        [
          ['damascus intake (durable before 2xx)', fmt(o.perSec, 0), fmt(o.p50), fmt(o.p99), fmt(o.perSec / b.perSec), 'ratio >= 0.5, p99 < 50 ms'],
          ['  same issues again (general path)', fmt(k.perSec, 0), fmt(k.p50), fmt(k.p99), fmt(k.perSec / b.perSec), ''],
          ['bare node:http HMAC check', fmt(b.perSec, 0), fmt(b.p50), fmt(b.p99), '1.00', ''],
        ],
      );
    }
    return { intake: o, known: k, bare: b, ratio: o.perSec / b.perSec, errors: ours.reduce((s, x) => s + x.errors, 0) };
  } finally {
    await new Promise((r) => intake.close(r));
    intake.closeAllConnections();
    await new Promise((r) => bare.close(r));
    bare.closeAllConnections();
    await db.drop();
  }
}

// Run as a script (npm run bench:webhooks); imported by bench/all.ts it only exports.
if (argv[1] && import.meta.url === pathToFileURL(argv[1]).href) await webhookIntake();
