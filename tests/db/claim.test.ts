import { openDb } from '../../src/db/connection.js';
import { claimNextItem, UnfitClaimError } from '../../src/db/ops/claimNextItem.js';
import { countTickWork } from '../../src/db/ops/countTickWork.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { recordVerdict } from '../../src/db/ops/recordVerdict.js';
import { renewLease } from '../../src/db/ops/renewLease.js';
import { releaseLease } from '../../src/db/ops/releaseLease.js';
import { createLogger } from '../../src/shared/log.js';
import { runTick } from '../../src/tick/runTick.js';
import { createTestDb, seedItems, setState, type TestDb } from '../support/db.js';

const opts = { cap: 8, leaseMs: 60_000 };
const backoff = { baseMs: 1000, maxMs: 60_000 };

describe('claimNextItem', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    await ensureLeaseSlots(db.sql, 64);
  });
  afterAll(async () => {
    await db.drop();
  });
  beforeEach(async () => {
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    await db.sql`UPDATE work_items SET state = 'done', lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
  });

  test('order: review → build → spec, then priority, then age', async () => {
    const [s1, s2, b1, r1, b2, hp] = await seedItems(db.sql, 6);
    await setState(db.sql, b1!.id, 'build');
    await setState(db.sql, r1!.id, 'review');
    await setState(db.sql, b2!.id, 'build');
    await db.sql`UPDATE work_items SET priority = 9 WHERE id = ${hp!.id}`; // high-priority spec
    const order: number[] = [];
    for (let i = 0; i < 6; i++) order.push((await claimNextItem(db.sql, 'w', opts))!.id);
    expect(order).toEqual([r1!.id, b1!.id, b2!.id, hp!.id, s1!.id, s2!.id]);
    expect(await claimNextItem(db.sql, 'w', opts)).toBeNull();
  });

  test('skips leased, waiting, gated, parked and finished items', async () => {
    const [leased, waiting, gated, parked, done, ok, cancelled, blocked] = await seedItems(db.sql, 8);
    const first = await claimNextItem(db.sql, 'w1', opts);
    expect(first!.id).toBe(leased!.id);
    await db.sql`UPDATE work_items SET run_after = now() + interval '1 hour' WHERE id = ${waiting!.id}`;
    await db.sql`UPDATE work_items SET gate_count = 1 WHERE id = ${gated!.id}`;
    await setState(db.sql, parked!.id, 'awaiting_human');
    await setState(db.sql, done!.id, 'done');
    await setState(db.sql, cancelled!.id, 'cancelled');
    await setState(db.sql, blocked!.id, 'blocked');
    const second = await claimNextItem(db.sql, 'w2', opts);
    expect(second!.id).toBe(ok!.id);
    expect(await claimNextItem(db.sql, 'w3', opts)).toBeNull();
  });

  test('a waiting item becomes claimable when its time has come, and is ordered with the rest', async () => {
    const [spec, review] = await seedItems(db.sql, 2);
    await setState(db.sql, review!.id, 'review');
    await db.sql`UPDATE work_items SET run_after = now() - interval '1 second' WHERE id = ${review!.id}`;
    const c = await claimNextItem(db.sql, 'w', opts);
    expect(c!.id).toBe(review!.id);
    expect(c!.runAfter).toBeNull();
    expect((await claimNextItem(db.sql, 'w', opts))!.id).toBe(spec!.id);
  });

  test("the heartbeat's count and the claim agree on which items can be claimed", async () => {
    const wide = { cap: 32, leaseMs: 60_000 };
    // Three leases: one stays live, one runs out, one runs out on an item that has meanwhile been gated.
    const [, expired, expiredGated] = await seedItems(db.sql, 3); // the first keeps its live lease
    for (let i = 0; i < 3; i++) await claimNextItem(db.sql, 'w-old', wide);
    for (const id of [expired!.id, expiredGated!.id]) {
      await db.sql`UPDATE work_items SET lease_until = now() - interval '1 second' WHERE id = ${id}`;
      await db.sql`UPDATE lease_slots SET lease_until = now() - interval '1 second' WHERE item_id = ${id}`;
    }
    await db.sql`UPDATE work_items SET gate_count = 1 WHERE id = ${expiredGated!.id}`;
    const [readySpec, readyBuild, due, notYet, gated, gatedDue, parked, blocked, cancelled, done] = await seedItems(db.sql, 10);
    await setState(db.sql, readyBuild!.id, 'build');
    await setState(db.sql, due!.id, 'review');
    await db.sql`UPDATE work_items SET run_after = now() - interval '1 minute' WHERE id = ${due!.id}`;
    await db.sql`UPDATE work_items SET run_after = now() + interval '1 hour' WHERE id = ${notYet!.id}`;
    await db.sql`UPDATE work_items SET gate_count = 2 WHERE id = ${gated!.id}`;
    await db.sql`UPDATE work_items SET gate_count = 1, run_after = now() - interval '1 minute' WHERE id = ${gatedDue!.id}`;
    await setState(db.sql, parked!.id, 'awaiting_human');
    await setState(db.sql, blocked!.id, 'blocked');
    await setState(db.sql, cancelled!.id, 'cancelled');
    await setState(db.sql, done!.id, 'done');

    expect(await countTickWork(db.sql, wide.cap)).toEqual({ live: 1, free: 31, claimable: 4 });
    const claimed: number[] = [];
    for (let c = await claimNextItem(db.sql, 'w-new', wide); c; c = await claimNextItem(db.sql, 'w-new', wide)) claimed.push(c.id);
    expect(claimed.sort((a, b) => a - b)).toEqual([expired!.id, readySpec!.id, readyBuild!.id, due!.id].sort((a, b) => a - b));
    expect(await countTickWork(db.sql, wide.cap)).toEqual({ live: 5, free: 27, claimable: 0 });
  });

  test('the lease is set with a fresh token, holder and expiry', async () => {
    await seedItems(db.sql, 1);
    const c = await claimNextItem(db.sql, 'worker-a', { cap: 8, leaseMs: 30_000 });
    expect(c!.leaseOwner).toBe('worker-a');
    expect(c!.leaseToken).toMatch(/^[0-9a-f-]{36}$/);
    const ms = c!.leaseUntil.getTime() - Date.now();
    expect(ms).toBeGreaterThan(20_000);
    expect(ms).toBeLessThan(40_000);
  });

  test('lease expiry makes an item claimable again, and the old token can no longer write', async () => {
    const [item] = await seedItems(db.sql, 1);
    const first = await claimNextItem(db.sql, 'zombie', { cap: 8, leaseMs: 100 });
    expect(first!.id).toBe(item!.id);
    expect(await claimNextItem(db.sql, 'other', opts)).toBeNull();
    await new Promise((r) => setTimeout(r, 150));
    const again = await claimNextItem(db.sql, 'other', opts);
    expect(again!.id).toBe(item!.id);
    expect(again!.leaseToken).not.toBe(first!.leaseToken);
    // the zombie wakes up: its renewal and its verdict are both refused
    expect(await renewLease(db.sql, item!.id, first!.leaseToken, 60_000)).toBe(false);
    const late = await recordVerdict(db.sql, first!, { verdict: 'pass' }, { backoff });
    expect(late.recorded).toBe(false);
    if (!late.recorded) expect(late.reason).toMatch(/stale lease/);
    const [row] = await db.sql`SELECT state, lease_owner FROM work_items WHERE id = ${item!.id}`;
    expect(row).toEqual({ state: 'spec', leaseOwner: 'other' });
    expect((await db.sql`SELECT count(*)::int AS n FROM verdicts WHERE item_id = ${item!.id}`)[0]!.n).toBe(0);
    // the live holder still writes
    expect((await recordVerdict(db.sql, again!, { verdict: 'pass' }, { backoff })).recorded).toBe(true);
  });

  test('the global cap: no claim beyond cap live leases; a released slot is reused', async () => {
    await seedItems(db.sql, 5);
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await claimNextItem(db.sql, `w${i}`, { cap: 3, leaseMs: 60_000 }));
    expect(held.every((c) => c !== null)).toBe(true);
    expect(new Set(held.map((c) => c!.slot)).size).toBe(3);
    expect(await claimNextItem(db.sql, 'w9', { cap: 3, leaseMs: 60_000 })).toBeNull();
    expect(await releaseLease(db.sql, held[0]!.id, held[0]!.leaseToken)).toBe(true);
    const next = await claimNextItem(db.sql, 'w9', { cap: 3, leaseMs: 60_000 });
    expect(next).not.toBeNull();
    expect(next!.slot).toBe(held[0]!.slot);
  });

  test('renewLease extends a live lease', async () => {
    await seedItems(db.sql, 1);
    const c = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 1000 });
    expect(await renewLease(db.sql, c!.id, c!.leaseToken, 120_000)).toBe(true);
    const [row] = await db.sql`SELECT lease_until FROM work_items WHERE id = ${c!.id}`;
    expect((row!.leaseUntil as Date).getTime() - Date.now()).toBeGreaterThan(100_000);
    const [slot] = await db.sql`SELECT lease_until FROM lease_slots WHERE slot = ${c!.slot}`;
    expect((slot!.leaseUntil as Date).getTime()).toBe((row!.leaseUntil as Date).getTime());
  });

  test("the claim's relaxed commit applies to its own transaction only", async () => {
    await seedItems(db.sql, 2);
    const one = openDb(db.url, { max: 1 });
    try {
      // the claim turns synchronous_commit off inside its statement…
      expect(await claimNextItem(one, 'w', opts)).not.toBeNull();
      // …and the next statement on the same connection commits durably again
      const [row] = await one`SHOW synchronous_commit`;
      expect(row!.synchronousCommit).toBe('on');
    } finally {
      await one.end();
    }
  });

  test('a row whose phase state does not fit is claimed with the keys that fit, and the error names the key', async () => {
    const [it] = await seedItems(db.sql, 1);
    await db.sql`UPDATE work_items SET details = ${db.sql.json({ mergeWaits: 'many', prUrl: 'http://g/pulls/1' })} WHERE id = ${it!.id}`;
    const err = await claimNextItem(db.sql, 'w', opts).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnfitClaimError);
    const unfit = err as UnfitClaimError;
    expect(unfit.message).toMatch(new RegExp(`item ${it!.id}'s phase state .* mergeWaits is "many"`));
    expect(unfit.item).toMatchObject({ id: it!.id, leaseOwner: 'w', details: { prUrl: 'http://g/pulls/1' } });
    expect(unfit.item.details).not.toHaveProperty('mergeWaits');
    // the lease is held: the claim committed, and the holder can write its verdict
    const [row] = await db.sql`SELECT lease_token FROM work_items WHERE id = ${it!.id}`;
    expect(row!.leaseToken).toBe(unfit.item.leaseToken);
  });

  test('the tick records an infrastructure error on an unfit row instead of running its phase', async () => {
    const [it] = await seedItems(db.sql, 1);
    await db.sql`UPDATE work_items SET details = ${db.sql.json({ reviewDispatch: { sha: 7 } })} WHERE id = ${it!.id}`;
    let ran = 0;
    const phase = {
      run: async () => {
        ran++;
        return { verdict: 'pass' as const };
      },
    };
    const outcome = await runTick({
      sql: db.sql,
      phases: { spec: phase },
      workerId: 'w',
      cap: opts.cap,
      leaseMs: opts.leaseMs,
      backoff,
      log: createLogger('silent'),
    });
    expect(ran).toBe(0);
    expect(outcome).toMatchObject({ kind: 'ran', itemId: it!.id, verdict: 'error', recorded: true, to: 'spec' });
    expect(outcome.kind === 'ran' && outcome.reason).toMatch(/reviewDispatch is/);
    const [row] = await db.sql`SELECT state, error_count, lease_token, run_after IS NOT NULL AS waits FROM work_items WHERE id = ${it!.id}`;
    expect(row).toEqual({ state: 'spec', errorCount: 1, leaseToken: null, waits: true });
  });
});
