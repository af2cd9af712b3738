-- Step timeouts: the per-attempt timeout of a step (template `timeout_ms`, or the task request's
-- `step_timeouts` override), NULL for none. The attempt's deadline is last_attempted_at (set by
-- the claim) + timeout_ms, so no second column is written on the hot claim path.
ALTER TABLE tasker_workflow_steps ADD COLUMN timeout_ms BIGINT;
