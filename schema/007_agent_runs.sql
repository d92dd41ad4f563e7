-- 007_agent_runs: what a coding agent's run cost, even when nobody knows; and what it is doing now.
-- usd NULL: the run's cost is unknown (the CLI reported no money, and its model is not in the price table).
-- Such a run is shown as unknown, never as free; the sum of the known ones is still the item's cost_usd.
ALTER TABLE cost_ledger ALTER COLUMN usd DROP NOT NULL;
ALTER TABLE cost_ledger ALTER COLUMN usd DROP DEFAULT;
-- The running agent's progress as its CLI streams it (turns, cost so far, what it is doing), written at a
-- bounded rate under the lease; the status comment shows it while the build runs.
ALTER TABLE work_items ADD COLUMN agent_progress JSONB;
