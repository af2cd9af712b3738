-- NOTIFY tasker_task_finished (0005) only for a task someone waits on. PostgreSQL serialises the
-- commits of notifying transactions cluster-wide (a lock taken before the commit and held until
-- it is flushed, so the queue stays in commit order): with four workers completing batches of
-- one-step tasks, half of the active backends waited on it (wait event Lock:object), and every
-- finish woke every worker's listener. `wait_task` now sets finish_watched before it looks at
-- the task; the trigger notifies only for a watched task.
-- No wakeup is lost: every writer of a task transition holds the task's row lock (the sort keys
-- of 0003 rely on it). A waiter's flag update that commits before that lock is taken is read
-- by the finisher's trigger (a fresh snapshot, after the lock); one that comes later waits for
-- the finisher's commit, and the waiter then reads the finished task.
ALTER TABLE tasker_tasks ADD COLUMN finish_watched BOOLEAN NOT NULL DEFAULT FALSE;
CREATE OR REPLACE FUNCTION tasker_notify_task_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tasker_tasks WHERE task_id = NEW.task_id AND finish_watched) THEN
        PERFORM pg_notify('tasker_task_finished', '');
    END IF;
    RETURN NULL;
END;
$$;
