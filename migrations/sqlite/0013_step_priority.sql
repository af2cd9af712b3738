-- Priorities with aging (docs/SCHEDULING.md). A step's priority is folded into its claim order:
-- claims take the smallest ready_at - priority * 1000 first (AGING_STEP_MS = 1000 in
-- src/models), so a priority p step counts as ready p seconds earlier. One index order, no sort
-- (SQLite appends the rowid, workflow_step_id, to every index); ready_at alone still decides when
-- a step is claimable. Priority 0 (the default) keeps the old order exactly.
ALTER TABLE tasker_workflow_steps ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
DROP INDEX IF EXISTS steps_ready_idx;
CREATE INDEX steps_ready_idx ON tasker_workflow_steps ((ready_at - priority * 1000))
    WHERE ready_at IS NOT NULL AND pending_parents = 0;
DROP INDEX IF EXISTS steps_task_ready_idx;
CREATE INDEX steps_task_ready_idx ON tasker_workflow_steps (task_id, (ready_at - priority * 1000))
    WHERE ready_at IS NOT NULL AND pending_parents = 0;
