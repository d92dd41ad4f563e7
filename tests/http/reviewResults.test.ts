import type { Server } from 'node:http';
import { createHttpServer, listen } from '../../src/http/server.js';
import { reviewResultsRoute } from '../../src/http/reviewResults.js';
import { createLogger } from '../../src/log.js';
import { SIGNATURE_HEADER, deriveProjectSecret, signBody } from '../../src/signing.js';
import { createTestDb, seedItems, type TestDb } from '../support/db.js';

const CALLBACK = 'callback-secret-for-tests';
const SHA = 'a'.repeat(40);

describe('POST /api/v1/review-results', () => {
  let db: TestDb;
  let server: Server;
  let base: string;
  const woken: number[] = [];
  beforeAll(async () => {
    db = await createTestDb();
    server = createHttpServer([reviewResultsRoute({ sql: db.sql, callbackSecret: CALLBACK, log: createLogger('silent'), afterCommit: async (id) => { woken.push(id); } })], createLogger('silent'));
    base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await db.drop();
  });

  const result = (workItem: number, over: Record<string, unknown> = {}) => ({
    version: 1, workItem, repository: 'acme/widgets', headSha: SHA, runId: '17', runUrl: 'http://gitea/acme/widgets/actions/runs/17',
    passed: false, exitCode: 1, timedOut: false, durationMs: 1234, outputTail: 'FAIL tests/a.test.ts', outputTruncated: false,
    tests: { total: 3, failed: 1, skipped: 0, failing: ['a > adds'], skippedNames: [] }, ...over,
  });
  async function post(body: unknown, secretFor = 'acme/widgets', raw?: string) {
    const text = raw ?? JSON.stringify(body);
    const res = await fetch(`${base}/api/v1/review-results`, {
      method: 'POST', body: text,
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(deriveProjectSecret(CALLBACK, secretFor), text) },
    });
    return { status: res.status, json: await res.json() as Record<string, unknown> };
  }
  const rows = async () => (await db.sql`SELECT count(*)::int AS n FROM ci_results`)[0]!.n as number;
  async function reviewItem() {
    const [item] = await seedItems(db.sql, 1);
    await db.sql`UPDATE work_items SET state = 'review', head_sha = ${SHA}, run_after = now() + interval '30 minutes' WHERE id = ${item!.id}`;
    return item!.id;
  }

  test('a signed result for the current head is stored once and wakes the item', async () => {
    const id = await reviewItem();
    const r = await post(result(id));
    expect(r).toEqual({ status: 202, json: { stored: true, item: id } });
    const [ci] = await db.sql`SELECT passed, exit_code, head_sha, run_id, failing_tests, output_tail FROM ci_results WHERE item_id = ${id}`;
    expect(ci).toEqual({ passed: false, exitCode: 1, headSha: SHA, runId: '17', failingTests: ['a > adds'], outputTail: 'FAIL tests/a.test.ts' });
    expect((await db.sql`SELECT run_after FROM work_items WHERE id = ${id}`)[0]!.runAfter).toBeNull();
    expect(woken).toContain(id);
    const dup = await post(result(id));
    expect(dup.status).toBe(200);
    expect(dup.json.duplicate).toBe(true);
    expect(await rows()).toBe(1);
  });

  test('wrong signature, another project\'s secret, unknown item, stale SHA, wrong state, bad body: refused, nothing written', async () => {
    const id = await reviewItem();
    const before = await rows();
    const text = JSON.stringify(result(id, { runId: 'x1' }));
    const unsigned = await fetch(`${base}/api/v1/review-results`, { method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
    expect(unsigned.status).toBe(401);
    expect((await post(result(id, { runId: 'x2' }), 'acme/other')).status).toBe(401);
    const altered = await fetch(`${base}/api/v1/review-results`, {
      method: 'POST', body: text.replace('"x1"', '"x9"'),
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signBody(deriveProjectSecret(CALLBACK, 'acme/widgets'), text) },
    });
    expect(altered.status).toBe(401); // body altered after signing
    const unknown = await post(result(987654, { runId: 'x4' }));
    expect(unknown).toEqual({ status: 409, json: { error: 'unknown work item 987654' } });
    const stale = await post(result(id, { runId: 'x5', headSha: 'b'.repeat(40) }));
    expect(stale.status).toBe(409);
    expect(stale.json.error).toMatch(/stale head/);
    const [other] = await seedItems(db.sql, 1);
    const wrongState = await post(result(other!.id, { runId: 'x6' }));
    expect(wrongState.status).toBe(409);
    expect(wrongState.json.error).toMatch(/not review/);
    expect((await post({ ...result(id, { runId: 'x7' }), passed: 'yes' })).status).toBe(400);
    expect((await post(null, 'acme/widgets', '{not json')).status).toBe(400);
    expect(await rows()).toBe(before);
  });

  test('a pushed head moves the target: the result for the new head is accepted, the old one refused', async () => {
    const id = await reviewItem();
    const newHead = 'c'.repeat(40);
    await db.sql`UPDATE work_items SET details = details || jsonb_build_object('prHead', ${newHead}::text) WHERE id = ${id}`;
    expect((await post(result(id, { runId: 'y1' }))).status).toBe(409);
    expect((await post(result(id, { runId: 'y2', headSha: newHead }))).status).toBe(202);
  });
});
