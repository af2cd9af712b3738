-- list_tasks filtered on execution_status blocked_by_failures (and list_steps on the exhausted
-- condition) look for steps in error with no retry left: served by this partial index instead
-- of a scan of every step. A row enters it only when its step runs out of retries.
CREATE INDEX steps_exhausted_idx ON tasker_workflow_steps (task_id)
    WHERE state = 'error' AND ready_at IS NULL;
