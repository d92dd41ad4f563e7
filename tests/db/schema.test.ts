import { openDb, withDatabase } from '../../src/db/connection.js';
import { initDatabase, loadMigrations, migrate } from '../../src/db/migrate.js';
import { SERVER_URL, createTestDb, seedItems, type TestDb } from '../support/db.js';
import { randomBytes } from 'node:crypto';

/** Everything in the public schema that a migration could change, as comparable text. */
async function catalog(db: TestDb): Promise<string> {
  const rows = await db.sql.unsafe(`
    SELECT 'col' AS k, table_name || '.' || column_name || ':' || data_type || ':' || is_nullable || ':' || coalesce(column_default, '') AS v
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL SELECT 'idx', indexname || ':' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT 'con', conrelid::regclass || ':' || conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT 'trg', tgrelid::regclass || ':' || tgname FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL SELECT 'enum', t.typname || ':' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname
    UNION ALL SELECT 'mig', version || ':' || name FROM schema_migrations
    ORDER BY 1, 2`);
  return rows.map((r) => `${r.k} ${r.v}`).join('\n');
}

/** The package's migrations: every test below holds for however many there are. */
const MIGRATIONS = loadMigrations();
const LATEST = MIGRATIONS.length;

describe('schema', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => {
    await db.drop();
  });

  test('applied twice → identical catalog, and the second run changes nothing', async () => {
    const before = await catalog(db);
    const second = await initDatabase(db.url);
    expect(second).toEqual({ databaseCreated: false, applied: [], version: LATEST });
    expect(await catalog(db)).toBe(before);
    // the catalog really holds the design's tables, enums and the trigger
    for (const t of [
      'projects',
      'work_items',
      'verdicts',
      'coordination_gates',
      'human_issues',
      'cost_ledger',
      'events_outbox',
      'webhook_deliveries',
      'ci_results',
      'schema_migrations',
    ]) {
      expect(before).toContain(`col ${t}.`);
    }
    expect(before).toContain('enum work_state:spec,build,review,awaiting_human,blocked,done,cancelled');
    expect(before).toContain('enum verdict:pass,fail,spec_wrong,needs_human,error');
    expect(before).toContain('trg work_items:work_items_updated_at');
  });

  test('concurrent inits apply each migration once', async () => {
    const name = `dmtest_${randomBytes(5).toString('hex')}`;
    const url = withDatabase(SERVER_URL, name);
    try {
      const reports = await Promise.all([initDatabase(url), initDatabase(url), initDatabase(url)]);
      expect(reports.filter((r) => r.applied.length > 0)).toHaveLength(1);
      expect(reports.filter((r) => r.databaseCreated).length).toBeLessThanOrEqual(1);
      const sql = openDb(url, { max: 1 });
      const rows = await sql`SELECT count(*)::int AS n FROM schema_migrations`;
      await sql.end();
      expect(rows[0]!.n).toBe(LATEST); // each migration once
    } finally {
      const admin = openDb(SERVER_URL, { max: 1 });
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });

  test('a failing migration leaves the schema as it was', async () => {
    await expect(
      migrate(db.sql, [
        ...MIGRATIONS.map((m) => ({ ...m, sql: '' })),
        { version: LATEST + 1, name: `${String(LATEST + 1).padStart(3, '0')}_broken`, sql: 'CREATE TABLE half_done (id int); SELECT no_such_function();' },
      ]),
    ).rejects.toThrow(/no_such_function/);
    const [row] = await db.sql`SELECT to_regclass('half_done') AS t, (SELECT max(version) FROM schema_migrations) AS v`;
    expect(row!.t).toBeNull();
    expect(row!.v).toBe(LATEST);
  });

  test('008 moves a stored details.prHead into head_sha (the newer of the two), and leaves other rows alone', async () => {
    const name = `dmtest_${randomBytes(5).toString('hex')}`;
    const url = withDatabase(SERVER_URL, name);
    const admin = openDb(SERVER_URL, { max: 1 });
    await admin.unsafe(`CREATE DATABASE "${name}"`);
    const sql = openDb(url, { max: 1 });
    try {
      const v008 = MIGRATIONS.findIndex((m) => m.name === '008_one_pr_head');
      await migrate(sql, MIGRATIONS.slice(0, v008));
      const [p] = await sql`INSERT INTO projects (owner, name) VALUES ('acme', 'widgets') RETURNING id`;
      const rows = await sql`
        INSERT INTO work_items (project_id, issue_number, head_sha, details) VALUES
          (${p!.id}, 1, 'old', '{"prHead": "new", "mergeWaits": 2}'),
          (${p!.id}, 2, NULL, '{"prHead": "only"}'),
          (${p!.id}, 3, 'kept', '{"mergeWaits": 1}')
        RETURNING id`;
      await migrate(sql, MIGRATIONS.slice(0, v008 + 1));
      const after = await sql`SELECT head_sha, details FROM work_items WHERE id IN ${sql(rows.map((r) => r.id as number))} ORDER BY issue_number`;
      expect(after).toEqual([
        { headSha: 'new', details: { mergeWaits: 2 } },
        { headSha: 'only', details: {} },
        { headSha: 'kept', details: { mergeWaits: 1 } },
      ]);
    } finally {
      await sql.end();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    }
  });

  test('updated_at is kept by the trigger', async () => {
    const [item] = await seedItems(db.sql, 1);
    const [before] = await db.sql`SELECT updated_at, created_at FROM work_items WHERE id = ${item!.id}`;
    await new Promise((r) => setTimeout(r, 20));
    await db.sql`UPDATE work_items SET priority = 5 WHERE id = ${item!.id}`;
    const [after] = await db.sql`SELECT updated_at, created_at FROM work_items WHERE id = ${item!.id}`;
    expect((after!.updatedAt as Date).getTime()).toBeGreaterThan((before!.updatedAt as Date).getTime());
    expect((after!.createdAt as Date).getTime()).toBe((before!.createdAt as Date).getTime());
  });
});
