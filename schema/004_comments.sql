-- 004_comments: a comment is processed once whether its webhook arrived or the reconcile sweep found it.
-- Gitea delivers each webhook once and never retries, so the sweep reads the comments of stories that wait
-- for a human; both paths record the comment's id, and the second to arrive writes nothing.

ALTER TABLE webhook_deliveries ADD COLUMN comment_id BIGINT;
CREATE UNIQUE INDEX webhook_deliveries_comment ON webhook_deliveries (comment_id) WHERE comment_id IS NOT NULL;
