import type { Server } from 'node:http';
import { connect } from 'node:net';
import { createHttpServer, listen } from '../../src/http/server.js';
import { MAX_REVIEW_RESULT_BYTES, reviewResultsRoute } from '../../src/http/reviewResults.js';
import { createLogger } from '../../src/shared/log.js';
import { REPOSITORY_HEADER, SIGNATURE_HEADER, deriveProjectSecret, signBody } from '../../src/shared/signing.js';
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
    server = createHttpServer(
      [
        reviewResultsRoute({
          sql: db.sql,
          callbackSecret: CALLBACK,
          log: createLogger('silent'),
          afterCommit: async (id) => {
            woken.push(id);
          },
        }),
      ],
      createLogger('silent'),
    );
    base = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await db.drop();
  });

  const nonceOf = (workItem: number) => `nonce-${workItem}`;
  const result = (workItem: number, over: Record<string, unknown> = {}) => ({
    version: 1,
    workItem,
    repository: 'acme/widgets',
    headSha: SHA,
    runId: '17',
    runUrl: 'http://gitea/acme/widgets/actions/runs/17',
    dispatch: nonceOf(workItem),
    passed: false,
    exitCode: 1,
    timedOut: false,
    durationMs: 1234,
    outputTail: 'FAIL tests/a.test.ts',
    outputTruncated: false,
    tests: { total: 3, failed: 1, skipped: 0, failing: ['a > adds'], skippedNames: [] },
    ...over,
  });
  async function post(body: unknown, secretFor = 'acme/widgets', raw?: string, repositoryHeader = secretFor) {
    const text = raw ?? JSON.stringify(body);
    const res = await fetch(`${base}/api/v1/review-results`, {
      method: 'POST',
      body: text,
      headers: {
        'content-type': 'application/json',
        [REPOSITORY_HEADER]: repositoryHeader,
        [SIGNATURE_HEADER]: signBody(deriveProjectSecret(CALLBACK, secretFor), text),
      },
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }
  const rows = async () => (await db.sql`SELECT count(*)::int AS n FROM ci_results`)[0]!.n as number;
  async function reviewItem() {
    const [item] = await seedItems(db.sql, 1);
    // What the review phase writes when it dispatches: the head and the nonce the run must answer with.
    const dispatch = { sha: SHA, at: Date.now(), count: 1, nonce: nonceOf(item!.id) };
    await db.sql`UPDATE work_items SET state = 'review', head_sha = ${SHA}, run_after = now() + interval '30 minutes',
      details = details || ${db.sql.json({ reviewDispatch: dispatch } as never)} WHERE id = ${item!.id}`;
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

  test("wrong signature, another project's secret, unknown item, stale SHA, wrong state, bad body: refused, nothing written", async () => {
    const id = await reviewItem();
    const before = await rows();
    const text = JSON.stringify(result(id, { runId: 'x1' }));
    const unsigned = await fetch(`${base}/api/v1/review-results`, {
      method: 'POST',
      body: text,
      headers: { 'content-type': 'application/json', [REPOSITORY_HEADER]: 'acme/widgets' },
    });
    expect(unsigned.status).toBe(401);
    // Signed with this repository's secret, but the header names another one: the other one's secret is checked.
    expect((await post(result(id, { runId: 'x3' }), 'acme/widgets', undefined, 'acme/other')).status).toBe(401);
    // Another project's secret, named honestly in the header: the body claims acme/widgets, so it is refused.
    expect((await post(result(id, { runId: 'x2' }), 'acme/other')).status).toBe(400);
    const altered = await fetch(`${base}/api/v1/review-results`, {
      method: 'POST',
      body: text.replace('"x1"', '"x9"'),
      headers: {
        'content-type': 'application/json',
        [REPOSITORY_HEADER]: 'acme/widgets',
        [SIGNATURE_HEADER]: signBody(deriveProjectSecret(CALLBACK, 'acme/widgets'), text),
      },
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
    await db.sql`UPDATE work_items SET head_sha = ${newHead} WHERE id = ${id}`;
    expect((await post(result(id, { runId: 'y1' }))).status).toBe(409);
    // The dispatch was for the old head: a result for the new head needs the new dispatch's nonce.
    expect((await post(result(id, { runId: 'y2', headSha: newHead }))).status).toBe(409);
    await db.sql`UPDATE work_items SET details = details || ${db.sql.json({ reviewDispatch: { sha: newHead, at: Date.now(), count: 1, nonce: 'nonce-new-head' } } as never)} WHERE id = ${id}`;
    expect((await post(result(id, { runId: 'y3', headSha: newHead, dispatch: 'nonce-new-head' }))).status).toBe(202);
  });

  test("ATTACK: a wrong nonce, no nonce, another item's nonce and a replayed nonce are all refused; nothing is written", async () => {
    const id = await reviewItem();
    const other = await reviewItem();
    const before = await rows();
    const wrong = await post(result(id, { runId: 'n1', passed: true, exitCode: 0, dispatch: 'guessed-nonce' }));
    expect(wrong.status).toBe(409);
    expect(wrong.json.error).toBe(`dispatch guessed-nonce is not work item ${id}'s current review dispatch for ${SHA}`);
    const none = await post(result(id, { runId: 'n2', passed: true, exitCode: 0, dispatch: null }));
    expect(none).toEqual({ status: 409, json: { error: 'the result names no dispatch nonce: only a run Damascus dispatched can report' } });
    // Item `other`'s own dispatch nonce, on a pass for item `id`.
    const crossed = await post(result(id, { runId: 'n3', passed: true, exitCode: 0, dispatch: nonceOf(other) }));
    expect(crossed.status).toBe(409);
    expect(crossed.json.error).toMatch(/is not work item \d+'s current review dispatch/);
    expect(await rows()).toBe(before);

    // The real answer is stored; the same delivery again is a duplicate; the nonce replayed by another run is refused.
    expect((await post(result(id, { runId: 'n4' }))).status).toBe(202);
    expect((await post(result(id, { runId: 'n4' }))).status).toBe(200);
    const replay = await post(result(id, { runId: 'n5', passed: true, exitCode: 0 }));
    expect(replay).toEqual({ status: 409, json: { error: `dispatch ${nonceOf(id)} was already answered by run n4; a result is accepted once per dispatch` } });
    const stored = await db.sql`SELECT run_id, passed, dispatch_nonce FROM ci_results WHERE item_id = ${id}`;
    expect(stored).toEqual([{ runId: 'n4', passed: false, dispatchNonce: nonceOf(id) }]);
    expect(await db.sql`SELECT 1 FROM ci_results WHERE item_id = ${other}`).toHaveLength(0);
  });

  test('a Gitea re-run of a run that never reported is the first answer to its dispatch: accepted; a second re-run is not', async () => {
    const id = await reviewItem();
    // The original run (task 901) died before posting; the re-run (same run id and inputs, task 902) reports.
    expect((await post(result(id, { runId: '77-task-902' }))).status).toBe(202);
    expect((await post(result(id, { runId: '77-task-903', passed: true, exitCode: 0 }))).status).toBe(409);
  });

  test('NUL bytes in the output tail and the failing test names are stripped, and the result is stored', async () => {
    const id = await reviewItem();
    const r = await post(
      result(id, { outputTail: 'bin\u0000ary\u0000 output', tests: { total: 1, failed: 1, skipped: 0, failing: ['a\u0000b'], skippedNames: ['s\u0000'] } }),
    );
    expect(r.status).toBe(202);
    const [ci] = await db.sql`SELECT output_tail, failing_tests, details -> 'tests' -> 'skippedNames' AS skipped FROM ci_results WHERE item_id = ${id}`;
    expect(ci).toEqual({ outputTail: 'binary output', failingTests: ['ab'], skipped: ['s'] });
  });

  test("the signature is checked on the raw bytes before any parse: an unsigned body is never parsed; the body must name the header's repository", async () => {
    const id = await reviewItem();
    // Not JSON, but unsigned: 401 (a parse would have said 400).
    const junk = await fetch(`${base}/api/v1/review-results`, {
      method: 'POST',
      body: '{"a":'.repeat(1000),
      headers: { 'content-type': 'application/json', [REPOSITORY_HEADER]: 'acme/widgets' },
    });
    expect(junk.status).toBe(401);
    const noHeader = await fetch(`${base}/api/v1/review-results`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(noHeader.status).toBe(401);
    expect(((await noHeader.json()) as { error: string }).error).toMatch(/x-damascus-repository/);
    // acme/other's key signs a body that claims acme/widgets.
    const claimed = await post(result(id, { runId: 'h1' }), 'acme/other');
    expect(claimed).toEqual({ status: 400, json: { error: "the body's repository acme/widgets is not the x-damascus-repository acme/other" } });
  });

  test('ATTACK: an upload many times the size limit is cut off: 413, and the connection is closed long before the client has sent it all', async () => {
    const total = MAX_REVIEW_RESULT_BYTES * 64; // 32 MiB, with no Content-Length (chunked), so only counting can stop it
    const { status, sent } = await new Promise<{ status: string; sent: number }>((resolve) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1');
      let sent = 0;
      let answer = '';
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const finish = () => resolve({ status: /^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 'none', sent });
      socket.on('data', (d) => {
        answer += d.toString('latin1');
      });
      socket.on('error', () => {});
      socket.on('close', finish);
      socket.write(
        `POST /api/v1/review-results HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${REPOSITORY_HEADER}: acme/widgets\r\ntransfer-encoding: chunked\r\n\r\n`,
      );
      const pump = () => {
        while (sent < total && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`)) return void socket.once('drain', pump);
        }
        if (!socket.destroyed) socket.end('0\r\n\r\n');
      };
      pump();
    });
    expect(status).toBe('413');
    expect(sent).toBeLessThan(total / 4);
  });
});
