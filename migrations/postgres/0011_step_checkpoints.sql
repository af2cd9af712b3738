-- Step checkpoints: the last checkpoint a running step recorded (cursor, items processed, a
-- bounded partial result), handed to its retry. One row per step, overwritten in place: only
-- the last checkpoint is kept, so the table never grows beyond the steps that checkpointed.
-- A side table rather than a column of tasker_workflow_steps: the step row is the hot row
-- (claim, completion), and a wide, often-rewritten document on it would make those rows
-- larger and its updates heavier; a step that never checkpoints costs nothing here.
CREATE TABLE tasker_step_checkpoints (
    workflow_step_id BIGINT PRIMARY KEY REFERENCES tasker_workflow_steps (workflow_step_id),
    checkpoint       JSONB  NOT NULL,
    updated_at       BIGINT NOT NULL
);
