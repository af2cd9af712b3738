-- Transitions are insert-only. The current row of a step or task is the one with the highest
-- sort_key (unique per entity). The most_recent flag cost an UPDATE of the previous row on every
-- state change; rows are never updated, so updated_at said nothing created_at does not.
-- (SQLite cannot change a primary key in place; the rowid id stays.)
DROP INDEX IF EXISTS step_transitions_most_recent;
DROP INDEX IF EXISTS task_transitions_most_recent;
ALTER TABLE tasker_workflow_step_transitions DROP COLUMN most_recent;
ALTER TABLE tasker_workflow_step_transitions DROP COLUMN updated_at;
ALTER TABLE tasker_task_transitions DROP COLUMN most_recent;
ALTER TABLE tasker_task_transitions DROP COLUMN updated_at;
