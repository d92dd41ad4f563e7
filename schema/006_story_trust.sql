-- 008_story_trust: what a writer vouched for stays what the LLM reads.
-- The issue body as it was when the trigger label was added (from the signed webhook payload, or the
-- reconcile sweep's read of the issue); work_items.title already holds the title of that moment. Later edits
-- of the issue do not reach the spec phase. NULL: not taken yet (items older than this migration); the
-- spec phase then takes it from the issue on its first run.
-- story_vouched_by: the writer whose label or answer vouched for the snapshot (NULL: not checked yet). A
-- trigger label added again takes a new snapshot and clears it, so the labeller is checked again.
ALTER TABLE work_items
  ADD COLUMN story_body        TEXT,
  ADD COLUMN story_vouched_by  TEXT;
