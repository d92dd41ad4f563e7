import type { Queryable } from '../connection.js';
import { insertStories, type StoryRow } from './insertStories.js';

/** Start one story in its own statement (one with dependencies, whose gates are opened next); null if the issue has an item. */
export async function createStory(sql: Queryable, story: StoryRow): Promise<number | null> {
  const [created] = await sql<{ id: number }[]>`
    WITH story AS (
      SELECT * FROM jsonb_to_recordset(${sql.json([{ n: 0, ...story }] as never)}::jsonb)
        AS s(n int, project_id bigint, issue_number int, title text, requested_by text, issue_url text, story_body text)
    ), ${insertStories(sql, 'story')}
    SELECT id FROM ins`;
  return created?.id ?? null;
}
