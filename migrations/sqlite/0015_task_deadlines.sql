-- Task deadlines: deadline_at (NULL for none) and the flag of a deadline not yet checked by the
-- maintenance scan (see the PostgreSQL migration of the same name).
ALTER TABLE tasker_tasks ADD COLUMN deadline_at INTEGER;
ALTER TABLE tasker_tasks ADD COLUMN deadline_pending BOOLEAN NOT NULL DEFAULT 0;
CREATE INDEX tasks_deadline_idx ON tasker_tasks (deadline_at) WHERE deadline_pending;
