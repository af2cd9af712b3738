-- wait_task in other processes wakes on NOTIFY tasker_task_finished when a task reaches a final
-- or blocked state. A trigger on the insert-only transitions table covers every writer (the
-- transactional paths and the one-statement CTEs alike) without touching them. Its WHEN clause
-- is evaluated without calling the function, so the other transitions pay only that check; the
-- payload is empty so that the finishes of one transaction coalesce into one notification.
CREATE FUNCTION tasker_notify_task_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tasker_task_finished', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER task_finished_notify AFTER INSERT ON tasker_task_transitions
    FOR EACH ROW WHEN (NEW.to_state IN ('complete', 'error', 'cancelled', 'resolved_manually'))
    EXECUTE FUNCTION tasker_notify_task_finished();
