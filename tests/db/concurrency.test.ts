import { openDb, type Sql } from '../../src/db/connection.js';
import { claimNextItem } from '../../src/db/ops/claimNextItem.js';
import { ensureLeaseSlots } from '../../src/db/ops/ensureLeaseSlots.js';
import { recordVerdict } from '../../src/db/ops/recordVerdict.js';
import { createTestDb, type TestDb } from '../support/db.js';

const ITEMS = 2000;
const RACERS = 16;
const CAP = 8; // fewer slots than racers, so the cap is contested on every claim
// A round's verdict is an `error` with a long backoff, so an item is not claimable again within the
// round; between rounds the test lets the backoff pass. A final drain then passes every item to done.
const backoff = { baseMs: 600_000, maxMs: 600_000 };

describe('16 connections racing over 2,000 claimable items', () => {
  let db: TestDb;
  let conns: Sql[];
  beforeAll(async () => {
    db = await createTestDb();
    await ensureLeaseSlots(db.sql, CAP);
    await db.sql`INSERT INTO projects (owner, name) VALUES ('race', 'repo')`;
    await db.sql`INSERT INTO work_items (project_id, issue_number, title)
                 SELECT (SELECT id FROM projects WHERE name = 'repo'), g, 'story ' || g FROM generate_series(1, ${ITEMS}) g`;
    conns = Array.from({ length: RACERS }, () => openDb(db.url, { max: 1 }));
  });
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.end()));
    await db.drop();
  });

  async function race(verdict: 'error' | 'pass', target: number, check: (state: string) => void) {
    const holders = new Map<number, string>();
    const claimsPerItem = new Map<number, number>();
    let violations = 0;
    let maxHeldInMemory = 0;
    let maxLiveInDb = 0;
    let finished = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [r] = await db.sql`SELECT count(*)::int AS n FROM work_items WHERE lease_token IS NOT NULL AND lease_until > now()`;
        maxLiveInDb = Math.max(maxLiveInDb, r!.n as number);
        await new Promise((res) => setTimeout(res, 2));
      }
    })();
    await Promise.all(
      conns.map(async (sql, w) => {
        const me = `racer-${w}`;
        while (finished < target) {
          const item = await claimNextItem(sql, me, { cap: CAP, leaseMs: 60_000 });
          if (!item) {
            await new Promise((res) => setTimeout(res, 1));
            continue;
          }
          check(item.state);
          if (holders.has(item.id)) violations++;
          holders.set(item.id, me);
          claimsPerItem.set(item.id, (claimsPerItem.get(item.id) ?? 0) + 1);
          maxHeldInMemory = Math.max(maxHeldInMemory, holders.size);
          holders.delete(item.id); // released in memory before the verdict commits: never overcounts
          const r = await recordVerdict(sql, item, { verdict }, { backoff, worker: me });
          expect(r.recorded).toBe(true);
          finished++;
        }
      }),
    );
    finished = 0;
    sampling = false;
    await sampler;
    expect(violations).toBe(0);
    expect(maxHeldInMemory).toBeLessThanOrEqual(CAP);
    expect(maxLiveInDb).toBeLessThanOrEqual(CAP);
    expect(maxLiveInDb).toBeGreaterThan(1); // the racers really ran side by side
    const [left] = await db.sql`SELECT count(*)::int AS n FROM work_items WHERE lease_token IS NOT NULL`;
    expect(left!.n).toBe(0);
    return claimsPerItem;
  }

  test.each([1, 2, 3])('round %i: every item claimed exactly once, one holder at a time, cap never exceeded', async (round) => {
    const claims = await race('error', ITEMS, (state) => expect(state).toBe('spec'));
    expect(claims.size).toBe(ITEMS);
    expect([...claims.values()].every((n) => n === 1)).toBe(true);
    const [v] = await db.sql`SELECT count(*)::int AS items, min(c)::int AS lo, max(c)::int AS hi
                             FROM (SELECT item_id, count(*) AS c FROM verdicts GROUP BY item_id) per`;
    expect(v).toMatchObject({ items: ITEMS, lo: round, hi: round });
    await db.sql`UPDATE work_items SET run_after = now() - interval '1 millisecond'`; // the backoff has passed
  });

  test('drain: racing through spec → build → review → done, each item runs each phase once', async () => {
    const claims = await race('pass', ITEMS * 3, () => {});
    expect([...claims.values()].every((n) => n === 3)).toBe(true);
    const rows = await db.sql`SELECT state, count(*)::int AS n FROM work_items GROUP BY state`;
    expect(rows).toEqual([{ state: 'done', n: ITEMS }]);
    const dup = await db.sql`SELECT item_id, phase FROM verdicts WHERE verdict = 'pass' GROUP BY item_id, phase HAVING count(*) > 1`;
    expect(dup).toHaveLength(0);
  });
});
