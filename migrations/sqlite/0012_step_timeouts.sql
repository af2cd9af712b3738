-- Step timeouts: the per-attempt timeout of a step, NULL for none; the deadline is
-- last_attempted_at + timeout_ms (see the PostgreSQL migration of the same name).
ALTER TABLE tasker_workflow_steps ADD COLUMN timeout_ms INTEGER;
