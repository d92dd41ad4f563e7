import { randomBytes } from 'node:crypto';
import { openDb, withDatabase, type Sql } from '../../src/db/connection.js';
import { initDatabase } from '../../src/db/migrate.js';
import { upsertProject } from '../../src/db/ops/upsertProject.js';
import { createWorkItem, type NewWorkItem } from '../../src/db/ops/createWorkItem.js';
import type { WorkItem } from '../../src/db/types.js';

export const SERVER_URL = process.env.TEST_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  url: string;
  sql: Sql;
  drop(): Promise<void>;
}

/** A fresh database with the whole schema, private to one test file (real PostgreSQL). */
export async function createTestDb(prefix = 'dmtest'): Promise<TestDb> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const url = withDatabase(SERVER_URL, name);
  await initDatabase(url);
  const sql = openDb(url, { max: 20 });
  return {
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 5 });
      const admin = openDb(SERVER_URL, { max: 1 });
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
}

let issueCounter = 0;

/** Create n items in one project (issue numbers unique within this process). */
export async function seedItems(sql: Sql, n: number, over: Partial<NewWorkItem> = {}, repo = 'acme/widgets'): Promise<WorkItem[]> {
  const [owner, name] = repo.split('/') as [string, string];
  const project = await upsertProject(sql, { owner, name });
  const items: WorkItem[] = [];
  for (let i = 0; i < n; i++) {
    const { item } = await createWorkItem(sql, { projectId: project.id, issueNumber: ++issueCounter, title: `story ${issueCounter}`, ...over });
    items.push(item);
  }
  return items;
}

/** Put an item straight into a state (test setup only). */
export async function setState(sql: Sql, id: number, state: string, extra: Record<string, unknown> = {}): Promise<void> {
  await sql`UPDATE work_items SET state = ${state}::work_state WHERE id = ${id}`;
  for (const [col, val] of Object.entries(extra)) {
    await sql`UPDATE work_items SET ${sql(col)} = ${val as never} WHERE id = ${id}`;
  }
}

/** A database that refuses to insert a work item with this title (a trigger), for the tests of write failures. */
export async function refuseTitle(sql: Sql, title: string): Promise<{ remove: () => Promise<void> }> {
  await sql.unsafe(`
    CREATE FUNCTION test_refuse_title() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.title = '${title.replaceAll("'", "''")}' THEN RAISE EXCEPTION 'refused for the test'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER test_refuse_title BEFORE INSERT ON work_items FOR EACH ROW EXECUTE FUNCTION test_refuse_title();`);
  return { remove: async () => void (await sql.unsafe('DROP TRIGGER test_refuse_title ON work_items; DROP FUNCTION test_refuse_title()')) };
}
