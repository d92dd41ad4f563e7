/**
 * Chaos: a bad-input corpus against every HTTP entry point of a real `damascus serve` process.
 * Each input gets its pinned status code, and afterwards every table's content is byte-for-byte what it was
 * (an md5 over each table's rows). A valid delivery and a valid review result at the end prove that the
 * snapshot would have seen a write.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { REPOSITORY_HEADER, SIGNATURE_HEADER, deriveProjectSecret, deriveWebhookSecret, signBody } from '../src/shared/signing.js';
import { createTestDb, seedItems, type TestDb } from '../tests/support/db.js';
import { freePort, spawnDamascus, startPrivateRedis, stopAll, tempDir, waitFor, type DamascusProcess, type PrivateRedis } from '../tests/support/processes.js';
import { giteaBody, giteaHeaders, issuePayload } from '../tests/support/webhookFixtures.js';

const WEBHOOK_SECRET = 'chaos-webhook-secret';
const CALLBACK_SECRET = 'chaos-callback-secret';
const NONCE = 'chaos-dispatch-nonce';
const SHA = 'c'.repeat(40);

let db: TestDb;
let redis: PrivateRedis;
let dir: { path: string; remove(): Promise<void> };
let serve: DamascusProcess;
let base = '';
let reviewItemId = 0;

beforeAll(async () => {
  [db, redis, dir] = await Promise.all([createTestDb('dmchaos'), startPrivateRedis(), tempDir('damascus-chaos-bad-')]);
  const port = await freePort();
  serve = spawnDamascus(['serve'], {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    DAMASCUS_QUEUE_PREFIX: 'chaos-bad',
    DAMASCUS_PORT: String(port),
    DAMASCUS_DATA_DIR: dir.path,
    DAMASCUS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    DAMASCUS_CALLBACK_SECRET: CALLBACK_SECRET,
    DAMASCUS_BOT_LOGIN: 'damascus-bot',
    // loopback only: the item API answers without a dashboard token (off loopback it refuses: tests/http/dashboard.test.ts)
    DAMASCUS_BIND: '127.0.0.1',
  });
  base = `http://127.0.0.1:${port}`;
  await waitFor('damascus serve to listen', async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok ?? false, 30_000, 100);
  // one story in review at SHA, from acme/widgets: the target of the review-result inputs
  const [item] = await seedItems(db.sql, 1);
  reviewItemId = item!.id;
  // What the review phase writes when it dispatches: the head and the nonce the run must answer with.
  const dispatch = { sha: SHA, at: Date.now(), count: 1, nonce: NONCE };
  await db.sql`UPDATE work_items SET state = 'review', head_sha = ${SHA}, run_after = now() + interval '30 minutes',
    details = details || ${db.sql.json({ reviewDispatch: dispatch } as never)} WHERE id = ${reviewItemId}`;
});

afterAll(async () => {
  if (process.env.CHAOS_VERBOSE) console.log(serve.output());
  await stopAll([serve]);
  await Promise.all([db.drop(), redis.stop(), dir.remove()]);
});

/** md5 of every public table's rows: equal snapshots mean nothing was written. */
async function snapshot(): Promise<Record<string, string>> {
  const tables = await db.sql<{ tablename: string }[]>`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`;
  const out: Record<string, string> = {};
  for (const { tablename } of tables) {
    const [r] = await db.sql.unsafe(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS h FROM "${tablename}" t`);
    out[tablename] = `${r!.n}:${r!.h}`;
  }
  return out;
}

/**
 * A raw HTTP request over a socket (fetch cannot send invalid UTF-8 text or lie about content-length). The status
 * is taken from the first line of the answer as soon as it arrives: a server that refuses a huge body answers and
 * closes before the body is sent, so writing may fail (EPIPE, reset) after the answer came, and that is no error.
 * The socket is not half-closed after the body: Node's server drops a connection whose client ended before it answered.
 */
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer | string, opts: { chunked?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const buf = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const h: Record<string, string> = { host: '127.0.0.1', connection: 'close', ...headers };
    if (buf && !opts.chunked) h['content-length'] = String(buf.length);
    if (buf && opts.chunked) h['transfer-encoding'] = 'chunked';
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    let answer = '';
    let settled = false;
    const settle = (status: number | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (status instanceof Error) reject(status);
      else resolve(status);
    };
    const timer = setTimeout(() => settle(new Error(`${method} ${path}: no answer in 30 s`)), 30_000);
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(answer);
      if (m) settle(Number(m[1]));
    });
    socket.on('error', (e) => {
      if (!answer) settle(e);
    });
    socket.on('close', () => settle(new Error(`${method} ${path}: connection closed without an answer (${JSON.stringify(answer.slice(0, 80))})`)));
    const head = `${method} ${path} HTTP/1.1\r\n${Object.entries(h)
      .map(([k, v]) => `${k}: ${v}`)
      .join('\r\n')}\r\n\r\n`;
    socket.write(head, 'latin1');
    if (!buf) return;
    // The body goes in parts, each after the last one drained, and only after a short pause for an answer to the
    // head alone (a server refuses a declared content-length over its limit at once): the answer is read between
    // writes, before a write can fail on the connection the server closed.
    const parts: Buffer[] = [];
    for (let off = 0; off < buf.length; off += 64 * 1024) {
      const part = buf.subarray(off, off + 64 * 1024);
      parts.push(opts.chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part);
    }
    if (opts.chunked) parts.push(Buffer.from('0\r\n\r\n'));
    const pump = async () => {
      await new Promise((r) => setTimeout(r, 100));
      for (const part of parts) {
        if (settled || socket.destroyed) return;
        if (!socket.write(part)) await new Promise((r) => socket.once('drain', r));
        else await new Promise((r) => setTimeout(r, 1));
      }
    };
    void pump();
  });
}

const hmac = (secret: string, body: Buffer | string) => createHmac('sha256', secret).update(body).digest('hex');
const WH = '/api/gitea/webhooks';
const RR = '/api/v1/review-results';
const labelled = (n: number) => giteaBody(issuePayload({ action: 'label_updated', number: n, labels: ['damascus'] }));
/** What setup installs on acme/widgets' hook: its own secret, derived from WEBHOOK_SECRET. */
const HOOK_SECRET = deriveWebhookSecret(WEBHOOK_SECRET, 'acme/widgets');
const whHeaders = (body: Buffer | string, over: Record<string, string> = {}) => ({
  ...giteaHeaders(body.toString(), HOOK_SECRET, 'issues', 'issue_label'),
  'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, body)}`,
  ...over,
});
const without = (h: Record<string, string>, ...keys: string[]) => Object.fromEntries(Object.entries(h).filter(([k]) => !keys.includes(k)));

const result = (over: Record<string, unknown> = {}) => ({
  version: 1,
  workItem: reviewItemId,
  repository: 'acme/widgets',
  headSha: SHA,
  runId: randomUUID(),
  runUrl: null,
  dispatch: NONCE,
  passed: true,
  exitCode: 0,
  timedOut: false,
  durationMs: 10,
  outputTail: 'ok',
  outputTruncated: false,
  tests: { total: 1, failed: 0, skipped: 0, failing: [], skippedNames: [] },
  ...over,
});
const rrSign = (body: Buffer | string, repo = 'acme/widgets') => signBody(deriveProjectSecret(CALLBACK_SECRET, repo), body);
const rrHeaders = (body: Buffer | string, over: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  [REPOSITORY_HEADER]: 'acme/widgets',
  [SIGNATURE_HEADER]: rrSign(body),
  ...over,
});

interface Case {
  name: string;
  status: number;
  run: () => Promise<number>;
}

const webhookCases = (): Case[] => {
  const body = labelled(9001);
  const huge = Buffer.alloc(2 * 1024 * 1024 + 17, 0x20);
  const badUtf8 = Buffer.concat([Buffer.from(body.slice(0, 40)), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(body.slice(40))]);
  const truncated = body.slice(0, Math.floor(body.length / 2));
  const unknownAction = giteaBody({ ...issuePayload({ action: 'label_updated', number: 9002, labels: ['damascus'] }), action: 'frobnicated' });
  const noIssue = giteaBody({ ...issuePayload({ action: 'label_updated', number: 9003, labels: ['damascus'] }), issue: undefined });
  const own = giteaBody(issuePayload({ action: 'label_updated', number: 9004, labels: ['damascus'], sender: 'damascus-bot' }));
  const actions = giteaBody(issuePayload({ action: 'label_updated', number: 9005, labels: ['damascus'], sender: 'gitea-actions' }));
  return [
    { name: 'no signature', status: 401, run: () => send('POST', WH, without(whHeaders(body), 'x-hub-signature-256'), body) },
    {
      name: 'signature with the wrong secret',
      status: 401,
      run: () => send('POST', WH, whHeaders(body, { 'x-hub-signature-256': `sha256=${hmac('not-the-secret', body)}` }), body),
    },
    { name: 'signature of another body', status: 401, run: () => send('POST', WH, whHeaders(labelled(9999)), body) },
    { name: 'malformed signature header', status: 401, run: () => send('POST', WH, whHeaders(body, { 'x-hub-signature-256': 'sha256=zz' }), body) },
    { name: 'only the sha1 / Gitea signatures', status: 401, run: () => send('POST', WH, without(whHeaders(body), 'x-hub-signature-256'), body) },
    {
      name: 'upper-case hex signature',
      status: 401,
      run: () => send('POST', WH, whHeaders(body, { 'x-hub-signature-256': `sha256=${hmac(HOOK_SECRET, body).toUpperCase()}` }), body),
    },
    // per-repo keys: a body that is not JSON names no repository, so it is refused as such before any key is chosen
    { name: 'body truncated after signing', status: 400, run: () => send('POST', WH, whHeaders(body), truncated) },
    { name: 'truncated body, signed as sent (not JSON)', status: 400, run: () => send('POST', WH, whHeaders(truncated), truncated) },
    { name: '2 MiB body with content-length', status: 413, run: () => send('POST', WH, whHeaders(huge), huge) },
    { name: '2 MiB body, chunked', status: 413, run: () => send('POST', WH, whHeaders(huge), huge, { chunked: true }) },
    { name: 'invalid UTF-8, signed over the raw bytes', status: 401, run: () => send('POST', WH, whHeaders(badUtf8), badUtf8) },
    {
      name: 'form content type, signed',
      status: 415,
      run: () => send('POST', WH, whHeaders(body, { 'content-type': 'application/x-www-form-urlencoded' }), body),
    },
    { name: 'text/plain content type, signed', status: 415, run: () => send('POST', WH, whHeaders(body, { 'content-type': 'text/plain' }), body) },
    { name: 'no content type, signed', status: 415, run: () => send('POST', WH, without(whHeaders(body), 'content-type'), body) },
    { name: 'no X-Gitea-Delivery', status: 400, run: () => send('POST', WH, without(whHeaders(body), 'x-gitea-delivery'), body) },
    { name: 'no X-Gitea-Event', status: 400, run: () => send('POST', WH, without(whHeaders(body), 'x-gitea-event'), body) },
    {
      name: 'unknown event (wiki)',
      status: 202,
      run: () => send('POST', WH, whHeaders(body, { 'x-gitea-event': 'wiki', 'x-gitea-event-type': 'wiki' }), body),
    },
    { name: 'unknown event type for issues', status: 202, run: () => send('POST', WH, whHeaders(body, { 'x-gitea-event-type': 'issue_frobnicated' }), body) },
    { name: 'unknown action', status: 202, run: () => send('POST', WH, whHeaders(unknownAction), unknownAction) },
    // JSON that names no repository has no key to verify it with
    { name: 'JSON array body', status: 401, run: () => send('POST', WH, whHeaders('[1,2]'), '[1,2]') },
    { name: 'JSON null body', status: 401, run: () => send('POST', WH, whHeaders('null'), 'null') },
    { name: 'issues payload without issue', status: 400, run: () => send('POST', WH, whHeaders(noIssue), noIssue) },
    { name: "the bot's own event", status: 202, run: () => send('POST', WH, whHeaders(own), own) },
    { name: 'an event from gitea-actions', status: 202, run: () => send('POST', WH, whHeaders(actions), actions) },
    { name: 'GET on the webhook path', status: 405, run: () => send('GET', WH, {}) },
    { name: 'PUT on the webhook path', status: 405, run: () => send('PUT', WH, whHeaders(body), body) },
  ];
};

const reviewCases = (): Case[] => {
  const good = JSON.stringify(result());
  const huge = Buffer.alloc(2 * 1024 * 1024, 0x20);
  const withUtf8 = (s: string) => {
    const i = s.indexOf('"ok"') + 2;
    return Buffer.concat([Buffer.from(s.slice(0, i)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(s.slice(i))]);
  };
  const bad8 = withUtf8(JSON.stringify(result()));
  const j = (over: Record<string, unknown>) => JSON.stringify(result(over));
  return [
    { name: 'no signature', status: 401, run: () => send('POST', RR, without(rrHeaders(good), SIGNATURE_HEADER), good) },
    { name: 'signed with the wrong secret', status: 401, run: () => send('POST', RR, rrHeaders(good, { [SIGNATURE_HEADER]: signBody('wrong', good) }), good) },
    {
      name: "signed with another project's secret",
      status: 401,
      run: () => send('POST', RR, rrHeaders(good, { [SIGNATURE_HEADER]: rrSign(good, 'acme/other') }), good),
    },
    { name: 'body altered after signing', status: 401, run: () => send('POST', RR, rrHeaders(good), good.replace('"ok"', '"OK"')) },
    { name: 'malformed signature', status: 401, run: () => send('POST', RR, rrHeaders(good, { [SIGNATURE_HEADER]: 'sha1=abc' }), good) },
    {
      name: 'truncated body',
      status: 400,
      run: () => {
        const t = good.slice(0, 50);
        return send('POST', RR, rrHeaders(t), t);
      },
    },
    { name: 'empty body', status: 400, run: () => send('POST', RR, rrHeaders(''), '') },
    { name: '2 MiB body', status: 413, run: () => send('POST', RR, rrHeaders(huge), huge) },
    { name: '2 MiB body, chunked', status: 413, run: () => send('POST', RR, rrHeaders(huge), huge, { chunked: true }) },
    { name: 'invalid UTF-8 without a valid signature', status: 401, run: () => send('POST', RR, rrHeaders(good), bad8) },
    {
      name: 'wrong SHA (a stale head), signed',
      status: 409,
      run: () => {
        const b = j({ headSha: 'd'.repeat(40) });
        return send('POST', RR, rrHeaders(b), b);
      },
    },
    {
      name: 'SHA of the wrong shape, signed',
      status: 400,
      run: () => {
        const b = j({ headSha: 'c'.repeat(39) });
        return send('POST', RR, rrHeaders(b), b);
      },
    },
    {
      name: 'unknown work item, signed',
      status: 409,
      run: () => {
        const b = j({ workItem: 987654321 });
        return send('POST', RR, rrHeaders(b), b);
      },
    },
    {
      name: 'unknown field, signed',
      status: 400,
      run: () => {
        const b = j({ extra: 1 });
        return send('POST', RR, rrHeaders(b), b);
      },
    },
    {
      name: 'version 2, signed',
      status: 400,
      run: () => {
        const b = j({ version: 2 });
        return send('POST', RR, rrHeaders(b), b);
      },
    },
    // the key is the repository header's; signed with it, a body without `repository` is simply invalid
    {
      name: 'repository missing',
      status: 400,
      run: () => {
        const b = j({ repository: undefined });
        return send('POST', RR, rrHeaders(b), b);
      },
    },
    { name: 'GET on the review-results path', status: 405, run: () => send('GET', RR, {}) },
  ];
};

/**
 * Inputs that the server mishandled when this corpus was written (docs/RELIABILITY.md, "Findings"): kept apart so
 * that the groups above stay meaningful, and asserted strictly so that this group turns green once they are fixed.
 */
const findingCases = (): Case[] => {
  const rr = () => JSON.stringify(result());
  const withBadUtf8 = (s: string) => {
    const i = s.indexOf('"ok"') + 2;
    return Buffer.concat([Buffer.from(s.slice(0, i)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(s.slice(i))]);
  };
  return [
    { name: 'webhook: empty body, signed', status: 400, run: () => send('POST', WH, whHeaders(''), '') },
    {
      name: 'review result: invalid UTF-8, signed over the raw bytes',
      status: 400,
      run: () => {
        const b = withBadUtf8(rr());
        return send('POST', RR, rrHeaders(b), b);
      },
    },
    {
      name: 'review result: text/plain content type, signed',
      status: 415,
      run: () => {
        const b = rr();
        return send('POST', RR, rrHeaders(b, { 'content-type': 'text/plain' }), b);
      },
    },
    {
      name: 'review result: form content type, signed',
      status: 415,
      run: () => {
        const b = rr();
        return send('POST', RR, rrHeaders(b, { 'content-type': 'application/x-www-form-urlencoded' }), b);
      },
    },
  ];
};

const otherCases = (): Case[] => [
  { name: 'unknown path', status: 404, run: () => send('POST', '/api/v1/nothing-here', { 'content-type': 'application/json' }, '{}') },
  { name: 'POST /healthz', status: 405, run: () => send('POST', '/healthz', { 'content-type': 'application/json' }, '{}') },
  { name: 'POST /metrics', status: 405, run: () => send('POST', '/metrics', {}, 'x') },
  { name: 'GET /api/v1/items/not-a-number', status: 400, run: () => send('GET', '/api/v1/items/not-a-number', {}) },
  { name: 'GET /api/v1/items/987654321', status: 404, run: () => send('GET', '/api/v1/items/987654321', {}) },
  { name: 'DELETE /api/v1/items', status: 405, run: () => send('DELETE', '/api/v1/items', {}) },
];

describe('bad-input corpus against `damascus serve`: each input gets its status and writes nothing', () => {
  const all: [string, () => Case[]][] = [
    ['webhooks', webhookCases],
    ['review results', reviewCases],
    ['other endpoints', otherCases],
    ['findings: inputs mishandled when the corpus was written', findingCases],
  ];
  for (const [group, cases] of all) {
    test(`${group}`, async () => {
      const before = await snapshot();
      const got: Record<string, number | string> = {};
      const want: Record<string, number | string> = {};
      for (const c of cases()) {
        // A request that got no answer is a finding of its own, named with the rest.
        got[c.name] = await c.run().catch((e: Error) => `no status: ${e.message}`);
        want[c.name] = c.status;
      }
      expect(got).toEqual(want);
      expect(await snapshot()).toEqual(before);
      expect(serve.proc.exitCode).toBeNull();
    });
  }

  test('control: a valid delivery, its duplicate, and a valid review result do write (so the snapshot sees writes)', async () => {
    const before = await snapshot();
    const body = labelled(9100);
    const headers = whHeaders(body);
    expect(await send('POST', WH, headers, body)).toBe(200);
    const afterOne = await snapshot();
    expect(afterOne.work_items).not.toBe(before.work_items);
    expect(afterOne.webhook_deliveries).not.toBe(before.webhook_deliveries);
    expect(await send('POST', WH, headers, body)).toBe(200); // same delivery id: a duplicate
    expect(await snapshot()).toEqual(afterOne);
    const rr = JSON.stringify(result());
    expect(await send('POST', RR, rrHeaders(rr), rr)).toBe(202);
    expect((await snapshot()).ci_results).not.toBe(afterOne.ci_results);
    expect(await send('POST', RR, rrHeaders(rr), rr)).toBe(200); // same run id: a duplicate
  });
});
