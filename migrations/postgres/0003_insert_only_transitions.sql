-- Transitions are insert-only. The current row of a step or task is the one with the highest
-- sort_key (unique per entity, so the (entity, sort_key) index finds it). The most_recent flag
-- cost an UPDATE of the previous row on every state change: a second row write, a dead tuple and
-- index maintenance, about a third of the rows a one-step task wrote. Rows are never updated, so
-- updated_at said nothing created_at does not. The surrogate id was referenced by nothing; the
-- (entity, sort_key) key becomes the primary key, one index per insert instead of two.
DROP INDEX IF EXISTS step_transitions_most_recent;
DROP INDEX IF EXISTS task_transitions_most_recent;
ALTER TABLE tasker_workflow_step_transitions DROP COLUMN most_recent, DROP COLUMN updated_at, DROP COLUMN id;
ALTER TABLE tasker_workflow_step_transitions DROP CONSTRAINT step_transitions_sort_key_unique,
    ADD CONSTRAINT step_transitions_pkey PRIMARY KEY (workflow_step_id, sort_key);
ALTER TABLE tasker_task_transitions DROP COLUMN most_recent, DROP COLUMN updated_at, DROP COLUMN id;
ALTER TABLE tasker_task_transitions DROP CONSTRAINT task_transitions_sort_key_unique,
    ADD CONSTRAINT task_transitions_pkey PRIMARY KEY (task_id, sort_key);
