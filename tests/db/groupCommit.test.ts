import { createGroupCommitter, keysConflict, PartialGroupWrite } from '../../src/db/groupCommit.js';
import type { Queryable, Sql } from '../../src/db/connection.js';
import { createTestDb, type TestDb } from '../support/db.js';

/** Each job inserts its value and reports the transaction it ran in (one statement: all or nothing). */
async function writeValues(tx: Queryable, values: number[]): Promise<{ value: number; txid: string }[]> {
  const rows = await tx<{ v: number; txid: string }[]>`
    INSERT INTO gc_rows (v) SELECT unnest(${values}::int[]) RETURNING v, txid_current()::text AS txid`;
  return values.map((value) => ({ value, txid: rows.find((r) => r.v === value)!.txid }));
}

describe('group commit', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    // a CHECK that fails one value: the bad job of a group
    await db.sql`CREATE TABLE gc_rows (v int PRIMARY KEY CHECK (v <> 13))`;
  });
  afterAll(async () => db.drop());
  beforeEach(async () => db.sql`TRUNCATE gc_rows`);

  test('keys conflict when equal or when one is the scope of the other', () => {
    expect(keysConflict(['a/b#1'], ['a/b#1'])).toBe(true);
    expect(keysConflict(['a/b'], ['a/b#7'])).toBe(true);
    expect(keysConflict(['a/b#7'], ['a/b'])).toBe(true);
    expect(keysConflict(['a/b#1'], ['a/b#2'])).toBe(false);
    expect(keysConflict(['a/b#1'], ['a/bc#1'])).toBe(false);
    expect(keysConflict(['a/bc'], ['a/b#1', 'x'])).toBe(false);
  });

  test('concurrent jobs share transactions, and each resolves only once its rows are committed', async () => {
    const committer = createGroupCommitter(db.sql, writeValues);
    const seen: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        committer.run(i + 100).then(async (r) => {
          // read on another connection: committed, not just written
          const [row] = await db.sql`SELECT count(*)::int AS n FROM gc_rows WHERE v = ${r.value}`;
          seen.push(row!.n);
          return r;
        }),
      ),
    );
    expect(results.map((r) => r.value)).toEqual(Array.from({ length: 40 }, (_, i) => i + 100));
    expect(seen.every((n) => n === 1)).toBe(true);
    // far fewer transactions than jobs: the first job runs alone, the rest queue behind it
    expect(new Set(results.map((r) => r.txid)).size).toBeLessThan(10);
  });

  test("one job's database error fails only that job; the others of its group commit", async () => {
    const committer = createGroupCommitter(db.sql, writeValues);
    const outcomes = await Promise.allSettled([10, 11, 12, 13, 14, 15].map((v) => committer.run(v)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((outcomes[3] as PromiseRejectedResult).reason.message).toMatch(/check constraint/);
    const rows = await db.sql<{ v: number }[]>`SELECT v FROM gc_rows ORDER BY v`;
    expect(rows.map((r) => r.v)).toEqual([10, 11, 12, 14, 15]);
  });

  test('jobs with conflicting keys never share a transaction and commit in arrival order', async () => {
    const order: number[] = [];
    const committer = createGroupCommitter(
      db.sql,
      async (sql: Sql, values: number[]) => {
        const out = await writeValues(sql, values);
        order.push(...values);
        return out;
      },
      { parallel: 3 },
    );
    const jobs = [1, 2, 3, 4, 5, 6].map((v) => committer.run(v, [v % 2 === 0 ? 'acme/widgets' : `acme/widgets#${v}`]));
    const results = await Promise.all(jobs);
    // every job conflicts with the even ones (repo-wide), so each even job is alone and in order
    for (const even of [2, 4, 6]) {
      const txid = results[even - 1]!.txid;
      expect(results.filter((r) => r.txid === txid)).toHaveLength(1);
    }
    expect(order).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('a writer that committed part of its group: that part is settled once, the rest is written again alone', async () => {
    const calls: number[][] = [];
    // commits the first value of a group on its own, then fails on the value 13 with the rest
    const committer = createGroupCommitter(db.sql, async (sql: Sql, values: number[]) => {
      calls.push(values);
      if (values.length === 1) return writeValues(sql, values);
      const [first] = await writeValues(sql, values.slice(0, 1));
      try {
        return [first!, ...(await writeValues(sql, values.slice(1)))];
      } catch (err) {
        throw new PartialGroupWrite(new Map([[0, first!]]), err);
      }
    });
    const outcomes = await Promise.allSettled([20, 21, 22, 13, 23].map((v) => committer.run(v)));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const rows = await db.sql<{ v: number }[]>`SELECT v FROM gc_rows ORDER BY v`;
    expect(rows.map((r) => r.v)).toEqual([20, 21, 22, 23]);
    // 21 was committed by the group's first part and never written again
    expect(calls.filter((c) => c.includes(21))).toHaveLength(1);
  });
});
