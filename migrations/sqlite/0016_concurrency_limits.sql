-- Concurrency limits (docs/FLOW_CONTROL.md). A limited step carries its key and limit from its
-- creation on, so the claim never reads a template. Unlimited steps (key NULL) keep their own
-- ready indexes, now partial on the NULL key: the claim of unlimited steps scans exactly what it
-- scanned before. Limited steps are claimed per key from steps_keyed_ready_idx, and the running
-- count of a key comes from steps_key_running_idx (only in-progress limited steps): completions,
-- failures, the lease reaper and crashes release a slot by leaving in_progress, with no counter.
ALTER TABLE tasker_workflow_steps ADD COLUMN concurrency_key TEXT;
ALTER TABLE tasker_workflow_steps ADD COLUMN concurrency_limit INTEGER;
DROP INDEX IF EXISTS steps_ready_idx;
CREATE INDEX steps_ready_idx ON tasker_workflow_steps ((ready_at - priority * 1000))
    WHERE ready_at IS NOT NULL AND pending_parents = 0 AND concurrency_key IS NULL;
DROP INDEX IF EXISTS steps_task_ready_idx;
CREATE INDEX steps_task_ready_idx ON tasker_workflow_steps (task_id, (ready_at - priority * 1000))
    WHERE ready_at IS NOT NULL AND pending_parents = 0 AND concurrency_key IS NULL;
CREATE INDEX steps_keyed_ready_idx ON tasker_workflow_steps (concurrency_key, (ready_at - priority * 1000))
    WHERE ready_at IS NOT NULL AND pending_parents = 0 AND concurrency_key IS NOT NULL;
CREATE INDEX steps_key_running_idx ON tasker_workflow_steps (concurrency_key)
    WHERE state = 'in_progress' AND concurrency_key IS NOT NULL;
