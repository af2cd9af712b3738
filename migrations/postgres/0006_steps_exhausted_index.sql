-- list_tasks filtered on execution_status blocked_by_failures (and list_steps on the exhausted
-- condition) look for steps in error with no retry left. Without an index that was a scan of
-- every step: 1.2 s for a page at 1M tasks, 39 ms with it (docs/ABI.md, "Task filter and page").
-- It costs no HOT update: `state` and `ready_at` already sit in other step indexes, so a step
-- update that changes them was never HOT; and a partial index gains an entry only when a row
-- matches, i.e. when a step runs out of retries.
CREATE INDEX steps_exhausted_idx ON tasker_workflow_steps (task_id)
    WHERE state = 'error' AND ready_at IS NULL;
