-- Inline runs and host-queue deliveries claim within one task, in (ready_at, workflow_step_id)
-- order. Without this index SQLite chose the (task_id, name) index and sorted every step of the
-- task on each claim (about 3 ms per claim in a 10,000-step task, make bench). SQLite appends the
-- rowid (workflow_step_id) to every index, so the scan is already in claim order. The claim over
-- all tasks is served by steps_ready_idx (ready_at, rowid) as before.
CREATE INDEX steps_task_ready_idx ON tasker_workflow_steps (task_id, ready_at)
    WHERE ready_at IS NOT NULL AND pending_parents = 0;
