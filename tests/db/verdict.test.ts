import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { cancelItem } from '../../src/db/ops/cancelItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { recordVerdict } from '../../src/db/ops/recordVerdict.js';
import { retryItem } from '../../src/db/ops/retryItem.js';
import { createTestDb, seedItems, type TestDb } from '../support/db.js';

const opts = { cap: 16, leaseMs: 60_000 };
const backoff = { baseMs: 60_000, maxMs: 600_000 };

describe('recordVerdict and operator commands', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    await ensureLeaseSlots(db.sql, 16);
  });
  afterAll(async () => {
    await db.drop();
  });
  // each test works on its own fresh items: park what earlier tests left behind
  beforeEach(async () => {
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    await db.sql`UPDATE work_items SET state = 'done', lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
  });

  async function claim(id: number) {
    const c = await claimNextItem(db.sql, 'w', opts);
    expect(c!.id).toBe(id);
    return c!;
  }
  const item = async (id: number) => (await db.sql`SELECT * FROM work_items WHERE id = ${id}`)[0]!;
  const events = async (id: number) => (await db.sql`SELECT type, payload FROM events_outbox WHERE item_id = ${id} ORDER BY id`).map((r) => r.type as string);

  test('pass moves the item on, frees the lease and its slot, and writes verdict + event', async () => {
    const [it] = await seedItems(db.sql, 1);
    const c = await claim(it!.id);
    const r = await recordVerdict(db.sql, c, { verdict: 'pass', reason: 'spec complete', details: { x: 1 }, patch: { spec: '# Spec' } }, { backoff });
    expect(r.recorded).toBe(true);
    const row = await item(it!.id);
    expect(row).toMatchObject({ state: 'build', leaseToken: null, leaseOwner: null, spec: '# Spec', specVersion: 1, claimRank: 1 });
    const [v] = await db.sql`SELECT * FROM verdicts WHERE item_id = ${it!.id}`;
    expect(v).toMatchObject({ phase: 'spec', verdict: 'pass', fromState: 'spec', toState: 'build', reason: 'spec complete', details: { x: 1 } });
    expect(await events(it!.id)).toEqual(['work.created', 'work.verdict']);
    expect((await db.sql`SELECT count(*)::int AS n FROM lease_slots WHERE lease_token = ${c.leaseToken}`)[0]!.n).toBe(0);
  });

  test('a failure injected inside recordVerdict leaves no verdict, no event and no state change', async () => {
    const [it] = await seedItems(db.sql, 1);
    const c = await claim(it!.id);
    const before = await item(it!.id);
    await db.sql.unsafe(`
      CREATE FUNCTION fail_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected outbox failure'; END $$;
      CREATE TRIGGER fail_outbox BEFORE INSERT ON events_outbox FOR EACH ROW EXECUTE FUNCTION fail_outbox();`);
    try {
      await expect(recordVerdict(db.sql, c, { verdict: 'fail', reason: 'tests failed' }, { backoff })).rejects.toThrow(/injected outbox failure/);
    } finally {
      await db.sql.unsafe('DROP TRIGGER fail_outbox ON events_outbox; DROP FUNCTION fail_outbox();');
    }
    expect(await item(it!.id)).toEqual(before);
    expect((await db.sql`SELECT count(*)::int AS n FROM verdicts WHERE item_id = ${it!.id}`)[0]!.n).toBe(0);
    expect(await events(it!.id)).toEqual(['work.created']);
    // the lease is intact, so the same worker can still record its verdict
    expect((await recordVerdict(db.sql, c, { verdict: 'fail' }, { backoff })).recorded).toBe(true);
  });

  test('loop-breaker: the last budget cycle blocks the item with a human issue and work.blocked, in one write', async () => {
    const [it] = await seedItems(db.sql, 1, { budgetCycles: 2 });
    let c = await claim(it!.id);
    expect((await recordVerdict(db.sql, c, { verdict: 'fail', reason: 'no' }, { backoff })).recorded).toBe(true);
    expect(await item(it!.id)).toMatchObject({ state: 'spec', attempts: 1 });
    c = await claim(it!.id);
    const r = await recordVerdict(db.sql, c, { verdict: 'spec_wrong', reason: 'missing Test Command' }, { backoff });
    expect(r.recorded && r.transition.to).toBe('blocked');
    expect(await item(it!.id)).toMatchObject({ state: 'blocked', attempts: 2, resumePhase: 'spec', leaseToken: null });
    const his = await db.sql`SELECT tag, kind, status, resume_phase, question FROM human_issues WHERE item_id = ${it!.id}`;
    expect(his).toHaveLength(1);
    expect(his[0]).toMatchObject({ kind: 'blocked', status: 'open', resumePhase: 'spec' });
    expect(his[0]!.tag).toMatch(/^Q-\d+$/);
    expect(his[0]!.question).toContain('missing Test Command');
    expect(await events(it!.id)).toEqual(['work.created', 'work.verdict', 'work.verdict', 'work.blocked', 'human.question']);
    expect(await claimNextItem(db.sql, 'w', opts)).toBeNull();

    // retry resumes the phase with a fresh budget and closes the blocking question
    const rr = await retryItem(db.sql, it!.id, 'cli:alice');
    expect(rr).toEqual({ ok: true, itemId: it!.id, from: 'blocked', to: 'spec' });
    expect(await item(it!.id)).toMatchObject({ state: 'spec', attempts: 0, errorCount: 0, resumePhase: null });
    expect((await db.sql`SELECT status, answered_by FROM human_issues WHERE item_id = ${it!.id}`)[0]).toEqual({ status: 'answered', answeredBy: 'cli:alice' });
    expect((await events(it!.id)).at(-1)).toBe('work.retried');
    expect(await retryItem(db.sql, it!.id, 'x')).toMatchObject({ ok: false, error: expect.stringMatching(/blocked or cancelled/) });
  });

  test('needs_human parks the item with tagged questions and the phase to resume', async () => {
    const [it] = await seedItems(db.sql, 1);
    const c = await claim(it!.id);
    const r = await recordVerdict(db.sql, c, { verdict: 'needs_human', questions: ['Which port?', 'Which DB?'] }, { backoff });
    expect(r.recorded && r.humanIssueIds).toHaveLength(2);
    expect(await item(it!.id)).toMatchObject({ state: 'awaiting_human', resumePhase: 'spec', attempts: 0 });
    const qs = await db.sql`SELECT question, kind FROM human_issues WHERE item_id = ${it!.id} ORDER BY id`;
    expect(qs.map((q) => q.question)).toEqual(['Which port?', 'Which DB?']);
    expect(await events(it!.id)).toEqual(['work.created', 'work.verdict', 'human.question', 'human.question']);
  });

  test('error: backoff via run_after, no attempt consumed; max_errors blocks', async () => {
    const [it] = await seedItems(db.sql, 1, { maxErrors: 2 });
    const c = await claim(it!.id);
    expect((await recordVerdict(db.sql, c, { verdict: 'error', reason: 'LLM 503' }, { backoff })).recorded).toBe(true);
    const row = await item(it!.id);
    expect(row).toMatchObject({ state: 'spec', attempts: 0, errorCount: 1, leaseToken: null });
    const wait = (row.runAfter as Date).getTime() - Date.now();
    expect(wait).toBeGreaterThan(50_000);
    expect(wait).toBeLessThan(70_000);
    expect(await claimNextItem(db.sql, 'w', opts)).toBeNull();
    await db.sql`UPDATE work_items SET run_after = now() - interval '1 second' WHERE id = ${it!.id}`;
    const c2 = await claim(it!.id);
    const r = await recordVerdict(db.sql, c2, { verdict: 'error', reason: 'LLM 503 again' }, { backoff });
    expect(r.recorded && r.transition.to).toBe('blocked');
    expect(await item(it!.id)).toMatchObject({ state: 'blocked', errorCount: 2, attempts: 0, resumePhase: 'spec' });
  });

  test('cancel during a running phase revokes the lease: the late verdict is refused', async () => {
    const [it] = await seedItems(db.sql, 1);
    const c = await claim(it!.id);
    const q = await cancelItem(db.sql, it!.id, 'cli:bob');
    expect(q).toEqual({ ok: true, itemId: it!.id, from: 'spec', to: 'cancelled' });
    expect((await recordVerdict(db.sql, c, { verdict: 'pass' }, { backoff })).recorded).toBe(false);
    expect(await item(it!.id)).toMatchObject({ state: 'cancelled', resumePhase: 'spec', leaseToken: null });
    expect((await db.sql`SELECT count(*)::int AS n FROM lease_slots WHERE lease_token = ${c.leaseToken}`)[0]!.n).toBe(0);
    expect(await cancelItem(db.sql, it!.id, 'x')).toMatchObject({ ok: false, error: expect.stringMatching(/already cancelled/) });
    expect(await cancelItem(db.sql, 999999, 'x')).toMatchObject({ ok: false, error: 'no work item 999999' });
    // a cancelled item can be retried at the phase it left
    expect(await retryItem(db.sql, it!.id, 'x')).toMatchObject({ ok: true, to: 'spec' });
  });

  test('cancel closes open questions', async () => {
    const [it] = await seedItems(db.sql, 1);
    const c = await claim(it!.id);
    await recordVerdict(db.sql, c, { verdict: 'needs_human', questions: ['?'] }, { backoff });
    await cancelItem(db.sql, it!.id, 'x');
    expect((await db.sql`SELECT status FROM human_issues WHERE item_id = ${it!.id}`).map((r) => r.status)).toEqual(['cancelled']);
    expect((await events(it!.id)).at(-1)).toBe('work.cancelled');
  });
});
