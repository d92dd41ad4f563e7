import { openDb } from '../../src/db/connection.js';
import { claimOutboxEvents } from '../../src/db/ops/claimOutboxEvents.js';
import { createTestDb, seedItems, type TestDb } from '../support/db.js';

describe('claimOutboxEvents: relays in several processes', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => {
    await db.drop();
  });

  test("two relays claiming at the same moment never split one item's events between them", async () => {
    const items = await seedItems(db.sql, 20);
    const a = openDb(db.url, { max: 1 });
    const b = openDb(db.url, { max: 1 });
    try {
      for (let round = 0; round < 30; round++) {
        await db.sql`UPDATE events_outbox SET delivered_at = now() WHERE delivered_at IS NULL`;
        // five pending events per item
        await db.sql`INSERT INTO events_outbox (item_id, type) SELECT w.id, 'status.refresh' FROM work_items w, generate_series(1, 5)`;
        const [ca, cb] = await Promise.all([claimOutboxEvents(a, { batch: 7, claimMs: 60_000 }), claimOutboxEvents(b, { batch: 7, claimMs: 60_000 })]);
        const itemsA = new Set(ca.map((e) => e.itemId));
        const itemsB = new Set(cb.map((e) => e.itemId));
        expect([...itemsA].filter((i) => itemsB.has(i))).toEqual([]);
        // and a claimed item's later events wait while its earlier ones are in flight
        const again = await claimOutboxEvents(db.sql, { batch: 1000, claimMs: 60_000 });
        expect(again.filter((e) => itemsA.has(e.itemId) || itemsB.has(e.itemId))).toEqual([]);
        expect(ca.length + cb.length).toBeGreaterThan(0);
      }
      expect(items.length).toBe(20);
    } finally {
      await a.end();
      await b.end();
    }
  });
});
