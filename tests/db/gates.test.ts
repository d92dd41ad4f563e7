import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { recordVerdict } from '../../src/db/ops/recordVerdict.js';
import { applyWebhookEvent } from '../../src/db/ops/applyWebhookEvent.js';
import { approveSpecGate } from '../../src/db/ops/approveSpecGate.js';
import { routeWebhook } from '../../src/gitea/events.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { issuePayload } from '../support/webhookFixtures.js';

const backoff = { baseMs: 1000, maxMs: 1000 };

describe('coordination gates', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    await ensureLeaseSlots(db.sql, 8);
  });
  afterAll(async () => {
    await db.drop();
  });

  /** Deliver a trigger-label event through the intake's own write. */
  async function label(number: number, body: string, repo = 'acme/widgets') {
    const ev = routeWebhook({
      event: 'issues',
      eventType: 'issue_label',
      payload: issuePayload({ action: 'label_updated', number, labels: ['damascus'], body, repo, repoId: repo === 'acme/widgets' ? 1 : 2 }),
    });
    if (ev.kind === 'ignored' || ev.kind === 'invalid') throw new Error(ev.reason);
    const out = await db.sql.begin((tx) =>
      applyWebhookEvent(
        tx,
        { deliveryId: `d-${repo}-${number}-${Math.random()}`, event: 'issues', eventType: 'issue_label', action: 'label_updated' },
        ev,
        'damascus',
      ),
    );
    if (out.status !== 'recorded' || out.itemId === null) throw new Error('not recorded');
    return out;
  }
  const gateCount = async (id: number) => (await db.sql`SELECT gate_count FROM work_items WHERE id = ${id}`)[0]!.gateCount as number;
  async function finish(id: number) {
    await db.sql`UPDATE work_items SET state = 'review' WHERE id = ${id}`;
    const c = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 });
    expect(c!.id).toBe(id);
    expect((await recordVerdict(db.sql, c!, { verdict: 'pass' }, { backoff })).recorded).toBe(true);
  }

  test('"Depends on #N" and "depends on owner/repo#N" hold the item until both are done, whichever order they are tracked in', async () => {
    const a = await label(1, 'first');
    const b = await label(2, 'Depends on #1\n\nand depends on acme/gadgets#7');
    expect(b.effect).toBe('created: waiting on 2 dependencies');
    expect(b.wake).toBe(false);
    expect(await gateCount(b.itemId!)).toBe(2);
    // a is claimable, b is not
    const c = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 });
    expect(c!.id).toBe(a.itemId);
    await db.sql`UPDATE work_items SET lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE id = ${a.itemId}`;
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    await finish(a.itemId!);
    expect(await gateCount(b.itemId!)).toBe(1);
    // the other dependency becomes a story later (it was not tracked when b was created), then done
    const g = await label(7, 'gadget', 'acme/gadgets');
    await finish(g.itemId!);
    expect(await gateCount(b.itemId!)).toBe(0);
    const c2 = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 });
    expect(c2!.id).toBe(b.itemId);
    const events = await db.sql`SELECT type FROM events_outbox WHERE item_id = ${b.itemId!} AND type = 'gate.resolved'`;
    expect(events).toHaveLength(2);
  });

  test('a dependency that is already done opens no gate', async () => {
    const d = await label(30, 'done first');
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    await db.sql`UPDATE work_items SET state = 'done', lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE id <> ${d.itemId}`;
    await finish(d.itemId!);
    const e = await label(31, 'Depends on #30');
    expect(e.effect).toBe('created');
    expect(await gateCount(e.itemId!)).toBe(0);
  });

  test('require_spec_approval: a passing spec waits behind a gate until a writer approves', async () => {
    await db.sql`UPDATE work_items SET state = 'done', lease_owner = NULL, lease_token = NULL, lease_until = NULL WHERE state IN ('spec', 'build', 'review')`;
    await db.sql`UPDATE lease_slots SET item_id = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL`;
    const s = await label(40, 'needs approval');
    const c = await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 });
    expect(c!.id).toBe(s.itemId);
    const r = await recordVerdict(db.sql, c!, { verdict: 'pass', openGate: { kind: 'spec_approval', reason: 'require_spec_approval' } }, { backoff });
    expect(r.recorded).toBe(true);
    expect(await gateCount(s.itemId!)).toBe(1);
    expect(await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 })).toBeNull();
    expect(await approveSpecGate(db.sql, s.itemId!, 'alice')).toMatchObject({ closed: 1, gateCount: 0, state: 'build' });
    expect((await claimNextItem(db.sql, 'w', { cap: 8, leaseMs: 60_000 }))!.id).toBe(s.itemId);
  });
});
