-- Step checkpoints: the last checkpoint a running step recorded (cursor, items processed, a
-- bounded partial result), handed to its retry. One row per step, overwritten in place: only
-- the last checkpoint is kept. A side table keeps the hot step row narrow (see the PostgreSQL
-- migration of the same name).
CREATE TABLE tasker_step_checkpoints (
    workflow_step_id INTEGER PRIMARY KEY REFERENCES tasker_workflow_steps (workflow_step_id),
    checkpoint       TEXT    NOT NULL,
    updated_at       INTEGER NOT NULL
);
