-- Task deadlines (docs/TIMEOUTS_AND_CANCELLATION.md): deadline_at is when an unfinished task
-- fails (request `deadline_ms` or the template's, from creation), NULL for none.
-- deadline_pending marks a deadline the workers' maintenance scan has not looked at yet; the
-- scan clears it, so the partial index holds only deadlines still to check and every task is
-- visited once. Neither column is written by ordinary task updates, which stay HOT (0004).
ALTER TABLE tasker_tasks ADD COLUMN deadline_at BIGINT;
ALTER TABLE tasker_tasks ADD COLUMN deadline_pending BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tasks_deadline_idx ON tasker_tasks (deadline_at) WHERE deadline_pending;
