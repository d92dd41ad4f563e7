-- 008_one_pr_head: the pull request's head is kept in one place, work_items.head_sha. Until now the phase
-- state held it too (details.prHead, also written by a pull_request synchronize webhook), and the review
-- result was matched against details.prHead, else head_sha: the newer of the two moves into the column.
UPDATE work_items SET head_sha = COALESCE(details ->> 'prHead', head_sha), details = details - 'prHead'
WHERE details ? 'prHead';
