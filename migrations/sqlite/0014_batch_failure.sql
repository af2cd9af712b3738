-- Batch failure strategies: the fan-out's `failure` on each batch instance, NULL otherwise
-- (see the PostgreSQL migration of the same name).
ALTER TABLE tasker_workflow_steps ADD COLUMN batch_failure TEXT;
