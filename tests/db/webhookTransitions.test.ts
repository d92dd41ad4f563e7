import { cancelItem } from '../../src/db/ops/cancelItem.js';
import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { markItemMerged } from '../../src/db/ops/markItemMerged.js';
import { parkOnClosedPr } from '../../src/db/ops/parkOnClosedPr.js';
import { reactivateItem } from '../../src/db/ops/reactivateItem.js';
import { readOutboxEvent } from '../../src/domain/events.js';
import { closedPrQuestion } from '../../src/domain/transitions.js';
import { createTestDb, seedItems, setState, type TestDb } from '../support/db.js';

/** The three transitions the webhook intake applies: reactivation, a merge, a PR closed unmerged. */
describe('the webhook-driven transitions', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    await ensureLeaseSlots(db.sql, 4);
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    await db.sql`UPDATE work_items SET state = 'cancelled', lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
  });

  const row = async (id: number) =>
    (await db.sql`SELECT state, resume_phase, run_after, lease_token, requested_by, title, story_body, story_vouched_by FROM work_items WHERE id = ${id}`)[0]!;
  const lastEvent = async (id: number) => {
    const [e] = await db.sql<{ type: string; payload: unknown }[]>`SELECT type, payload FROM events_outbox WHERE item_id = ${id} ORDER BY id DESC LIMIT 1`;
    return readOutboxEvent(e!);
  };
  const slotsOf = async (id: number) => (await db.sql`SELECT slot FROM lease_slots WHERE item_id = ${id}`).length;
  const leased = async () => {
    const [item] = await seedItems(db.sql, 1);
    const c = await claimNextItem(db.sql, 'w', { cap: 4, leaseMs: 60_000 });
    expect(c!.id).toBe(item!.id);
    return c!;
  };

  test('reactivateItem: a cancelled story resumes where it was cancelled, with a new snapshot to vouch for', async () => {
    const c = await leased();
    await setState(db.sql, c.id, 'build');
    await db.sql`UPDATE work_items SET story_vouched_by = 'alice', run_after = now() WHERE id = ${c.id}`;
    expect((await cancelItem(db.sql, c.id, 'alice')).ok).toBe(true);
    await db.sql.begin((tx) => reactivateItem(tx, c.id, { by: 'bob', title: 'Widgets, blue', body: 'Now blue.' }));
    expect(await row(c.id)).toEqual({
      state: 'build',
      resumePhase: null,
      runAfter: null,
      leaseToken: null,
      requestedBy: 'bob',
      title: 'Widgets, blue',
      storyBody: 'Now blue.',
      storyVouchedBy: null,
    });
    expect(await lastEvent(c.id)).toEqual({ type: 'work.reactivated', payload: { to: 'build', by: 'bob' } });
    // not cancelled (any more): left alone
    await db.sql.begin((tx) => reactivateItem(tx, c.id, { by: 'eve', title: 'x', body: 'y' }));
    expect(await row(c.id)).toMatchObject({ state: 'build', requestedBy: 'bob' });
  });

  test('markItemMerged: done whatever it was doing (a running lease is revoked), even after a cancel; done stays done', async () => {
    const c = await leased();
    expect(await slotsOf(c.id)).toBe(1);
    await db.sql.begin((tx) => markItemMerged(tx, c.id, { by: 'dave', mergeCommitSha: 'c0ffee' }));
    expect(await row(c.id)).toMatchObject({ state: 'done', resumePhase: null, runAfter: null, leaseToken: null });
    expect(await slotsOf(c.id)).toBe(0);
    expect(await lastEvent(c.id)).toEqual({ type: 'work.done', payload: { mergedBy: 'dave', mergeCommitSha: 'c0ffee' } });
    await db.sql.begin((tx) => markItemMerged(tx, c.id, { by: 'dave', mergeCommitSha: null }));
    expect((await db.sql`SELECT count(*)::int AS n FROM events_outbox WHERE item_id = ${c.id} AND type = 'work.done'`)[0]!.n).toBe(1);

    const [raced] = await seedItems(db.sql, 1);
    expect((await cancelItem(db.sql, raced!.id, 'alice')).ok).toBe(true);
    await db.sql.begin((tx) => markItemMerged(tx, raced!.id, { by: 'dave', mergeCommitSha: null }));
    expect(await row(raced!.id)).toMatchObject({ state: 'done', resumePhase: null });
  });

  test('parkOnClosedPr: awaiting_human on the closed-PR question, resuming the phase it was in (or its resume phase, else build)', async () => {
    const c = await leased();
    await setState(db.sql, c.id, 'review');
    await db.sql.begin((tx) => parkOnClosedPr(tx, { id: c.id, state: 'review', resumePhase: null }, 31));
    expect(await row(c.id)).toMatchObject({ state: 'awaiting_human', resumePhase: 'review', runAfter: null, leaseToken: null });
    expect(await slotsOf(c.id)).toBe(0);
    const [q] = await db.sql`SELECT id, tag, kind, question, resume_phase, status FROM human_issues WHERE item_id = ${c.id}`;
    expect(q).toMatchObject({ kind: 'question', question: closedPrQuestion(31), resumePhase: 'review', status: 'open' });
    expect(await lastEvent(c.id)).toEqual({
      type: 'human.question',
      payload: { humanIssueId: q!.id, tag: q!.tag, kind: 'question', question: closedPrQuestion(31) },
    });

    // already waiting on a human: its resume phase is kept; blocked without one: build
    await db.sql.begin((tx) => parkOnClosedPr(tx, { id: c.id, state: 'awaiting_human', resumePhase: 'review' }, 32));
    expect(await row(c.id)).toMatchObject({ state: 'awaiting_human', resumePhase: 'review' });
    const [blocked] = await seedItems(db.sql, 1);
    await setState(db.sql, blocked!.id, 'blocked');
    await db.sql.begin((tx) => parkOnClosedPr(tx, { id: blocked!.id, state: 'blocked', resumePhase: null }, 33));
    expect(await row(blocked!.id)).toMatchObject({ state: 'awaiting_human', resumePhase: 'build' });

    // done or cancelled: left alone
    await setState(db.sql, blocked!.id, 'done');
    await db.sql.begin((tx) => parkOnClosedPr(tx, { id: blocked!.id, state: 'done', resumePhase: null }, 34));
    expect(await row(blocked!.id)).toMatchObject({ state: 'done' });
  });
});
