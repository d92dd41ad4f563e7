-- 002_intake: webhook deliveries that need work after the request (comments need a permission
-- check through the Gitea API, which the webhook request must not make), and who asked for an item.

ALTER TABLE webhook_deliveries
  ADD COLUMN payload       JSONB,
  ADD COLUMN processed_at  TIMESTAMPTZ,
  ADD COLUMN error         TEXT;

-- the inbox: deliveries recorded but not processed yet, oldest first
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE processed_at IS NULL;

ALTER TABLE work_items
  ADD COLUMN requested_by  TEXT,
  ADD COLUMN issue_url     TEXT,
  ADD COLUMN status_comment_id BIGINT;

-- the PR's item, for pull_request webhooks
CREATE INDEX work_items_pr ON work_items (project_id, pr_number) WHERE pr_number IS NOT NULL;
