import type postgres from 'postgres';
import type { Queryable } from '../connection.js';
import type { NewStory } from '../../domain/intake.js';

/** A story as insertStories reads it from its source (with a column n, the order to create them in). */
export interface StoryRow {
  project_id: number;
  issue_number: number;
  title: string;
  /** Null for an item made without an issue's labelling (tests, benchmarks): so are the next two. */
  requested_by: string | null;
  issue_url: string | null;
  /** The issue's body as labelled, which the spec phase reads instead of the issue's current body. */
  story_body: string | null;
}

/** A story as the intake has it, as insertStories reads it. */
export const storyRow = (s: Omit<NewStory, 'repo'> & { projectId: number }): StoryRow => ({
  project_id: s.projectId,
  issue_number: s.issueNumber,
  title: s.title,
  requested_by: s.by,
  issue_url: s.issueUrl,
  story_body: s.body,
});

/**
 * The CTEs that start stories, for every statement that does: `ins` creates an item in spec for each
 * row of `source` (a StoryRow and n; an issue that already has an item is skipped) and `ev` writes its work.created event.
 */
export function insertStories(sql: Queryable, source: string): postgres.PendingQuery<postgres.Row[]> {
  return sql`ins AS (
      INSERT INTO work_items (project_id, issue_number, title, requested_by, issue_url, story_body)
      SELECT project_id, issue_number, title, requested_by, issue_url, story_body FROM ${sql(source)} ORDER BY n
      ON CONFLICT (project_id, issue_number) DO NOTHING
      RETURNING id, project_id, issue_number, title, requested_by
    ), ev AS (
      INSERT INTO events_outbox (item_id, type, payload)
      SELECT id, 'work.created', jsonb_build_object('issueNumber', issue_number, 'title', title, 'by', requested_by) FROM ins
    )`;
}
